// Row-wise y = x / max(‖x‖₂, 1e-12) for x [rows, d]: one workgroup per row, tree sum of squares.
const NORM_EPS = 1e-12;
struct Params { rows: u32, d: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = flat_workgroup(wid, nwg);
  if (row >= params.rows) { return; }
  let base = row * params.d;
  var ss = 0.0;
  for (var j = lid; j < params.d; j += WG) { let v = x[base + j]; ss += v * v; }
  partial[lid] = ss;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let norm = max(sqrt(partial[0]), NORM_EPS);
  for (var j = lid; j < params.d; j += WG) { y[base + j] = x[base + j] / norm; }
}
