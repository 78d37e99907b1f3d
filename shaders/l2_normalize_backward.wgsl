// Gradient of y = x / max(‖x‖, 1e-12), row-wise: with n = ‖x‖ > 1e-12, dx = dy/n − x·(x·dy)/n³;
// below the clamp the norm is a constant, so dx = dy / 1e-12. One workgroup per row.
const NORM_EPS = 1e-12;
struct Params { rows: u32, d: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

var<workgroup> wg_ss: array<f32, WG>;
var<workgroup> wg_dot: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = flat_workgroup(wid, nwg);
  if (row >= params.rows) { return; }
  let base = row * params.d;
  var ss = 0.0;
  var dot = 0.0;
  for (var j = lid; j < params.d; j += WG) { let v = x[base + j]; ss += v * v; dot += v * dy[base + j]; }
  wg_ss[lid] = ss;
  wg_dot[lid] = dot;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      wg_ss[lid] += wg_ss[lid + stride];
      wg_dot[lid] += wg_dot[lid + stride];
    }
    workgroupBarrier();
  }
  let norm = sqrt(wg_ss[0]);
  if (norm > NORM_EPS) {
    let coef = wg_dot[0] / (norm * norm * norm);
    for (var j = lid; j < params.d; j += WG) { dx[base + j] = dy[base + j] / norm - x[base + j] * coef; }
  } else {
    for (var j = lid; j < params.d; j += WG) { dx[base + j] = dy[base + j] / NORM_EPS; }
  }
}
