// out[j] = Σ_i a[i, j] for a [rows, cols] (bias gradient): threads over columns, rows read contiguously.
struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = flat_index(wid, nwg, lid);
  if (j >= params.cols) { return; }
  var s = 0.0;
  for (var i = 0u; i < params.rows; i++) { s += a[i * params.cols + j]; }
  out[j] = s;
}
