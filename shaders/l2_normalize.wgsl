// Row-wise y = x / max(‖x‖₂, 1e-12) for x [rows, d]: one workgroup per row, tree sum of squares.
// When that sum is not finite (a NaN/Inf in the row, or |x| ≳ 1.8e19 overflowing the squares) the
// row is done again: NaN if it holds a non-finite value, else scaled by the power of two that brings
// its largest |x| below 4 (exact), so y is right for any float32 magnitude.
const NORM_EPS = 1e-12;
struct Params { rows: u32, d: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> partial: array<f32, WG>;
var<workgroup> top_bits: array<u32, WG>;

fn tree_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  return workgroupUniformLoad(&partial[0]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = flat_workgroup(wid, nwg);
  if (row >= params.rows) { return; }
  let base = row * params.d;
  var ss = 0.0;
  for (var j = lid; j < params.d; j += WG) { let v = x[base + j]; ss += v * v; }
  let total = tree_sum(lid, ss);
  if (is_finite(total)) {
    let norm = max(sqrt(total), NORM_EPS);
    for (var j = lid; j < params.d; j += WG) { y[base + j] = x[base + j] / norm; }
    return;
  }
  var top = 0u;
  for (var j = lid; j < params.d; j += WG) { top = max(top, bitcast<u32>(x[base + j]) & F32_ABS_MASK); }
  top_bits[lid] = top;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { top_bits[lid] = max(top_bits[lid], top_bits[lid + stride]); }
    workgroupBarrier();
  }
  let row_top = workgroupUniformLoad(&top_bits[0]);
  if (row_top >= F32_EXP_MASK) {
    for (var j = lid; j < params.d; j += WG) { y[base + j] = f32_nan(); }
    return;
  }
  // The row overflowed, so its norm is far above NORM_EPS: no clamp.
  let s = pow2_scale(row_top, 0);
  var ss_scaled = 0.0;
  for (var j = lid; j < params.d; j += WG) { let v = x[base + j] * s; ss_scaled += v * v; }
  let norm_scaled = sqrt(tree_sum(lid, ss_scaled));
  for (var j = lid; j < params.d; j += WG) { y[base + j] = x[base + j] * s / norm_scaled; }
}
