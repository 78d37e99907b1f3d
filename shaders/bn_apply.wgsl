// y = (x − mean[g,c]) / sqrt(var[g,c] + eps) · gamma[c] + beta[c] over x [groups, n, c, hw].
// Centring before scaling keeps precision on offset data (x ≈ 1000, var ≈ 1).
struct Params { total: u32, c: u32, hw: u32, group_size: u32, affine: u32, eps: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;     // [groups, c]
@group(0) @binding(3) var<storage, read> variance: array<f32>; // [groups, c]
@group(0) @binding(4) var<storage, read> gamma: array<f32>;    // [c], unused when affine = 0
@group(0) @binding(5) var<storage, read> beta: array<f32>;     // [c], unused when affine = 0
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.total) { return; }
  let ch = (i / params.hw) % params.c;
  let gc = (i / params.group_size) * params.c + ch;
  var v = (x[i] - mean[gc]) / sqrt(variance[gc] + params.eps);
  if (params.affine != 0u) { v = v * gamma[ch] + beta[ch]; }
  y[i] = v;
}
