// Gradient of y = x / max(‖x‖, 1e-12), row-wise: with n = ‖x‖ > 1e-12, dx = (dy − y·(y·dy)) / n;
// below the clamp the norm is a constant, so dx = dy / 1e-12. One workgroup per row. Written with
// 1/n three times rather than n³, which overflows for n ≳ 7e12. When the sums are not finite the row
// is done again scaled by a power of two (as l2_normalize), or NaN if it holds a non-finite value.
const NORM_EPS = 1e-12;
struct Params { rows: u32, d: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
var<workgroup> wg_ss: array<f32, WG>;
var<workgroup> wg_dot: array<f32, WG>;
var<workgroup> top_bits: array<u32, WG>;

// Row sums of (x·s)² and (x·s)·dy, uniform across the workgroup.
fn row_sums(lid: u32, base: u32, s: f32) -> vec2<f32> {
  var ss = 0.0;
  var dot = 0.0;
  for (var j = lid; j < params.d; j += WG) { let v = x[base + j] * s; ss += v * v; dot += v * dy[base + j]; }
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
  let total = vec2<f32>(workgroupUniformLoad(&wg_ss[0]), workgroupUniformLoad(&wg_dot[0]));
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = flat_workgroup(wid, nwg);
  if (row >= params.rows) { return; }
  let base = row * params.d;
  var s = 1.0;
  var sums = row_sums(lid, base, s);
  if (!(is_finite(sums.x) && is_finite(sums.y))) {
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
      for (var j = lid; j < params.d; j += WG) { dx[base + j] = f32_nan(); }
      return;
    }
    s = pow2_scale(row_top, 0);
    sums = row_sums(lid, base, s);
  }
  // In units of s: norm_s = s·‖x‖, y = x·s / norm_s, y·dy = dot_s / norm_s, 1/‖x‖ = s / norm_s.
  let norm_scaled = sqrt(sums.x);
  if (norm_scaled > NORM_EPS * s) {
    let inv_norm = 1.0 / norm_scaled;
    let y_dot_dy = sums.y * inv_norm;
    let inv_true_norm = s * inv_norm;
    for (var j = lid; j < params.d; j += WG) {
      dx[base + j] = (dy[base + j] - x[base + j] * s * inv_norm * y_dot_dy) * inv_true_norm;
    }
  } else {
    for (var j = lid; j < params.d; j += WG) { dx[base + j] = dy[base + j] / NORM_EPS; }
  }
}
