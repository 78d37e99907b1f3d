// BN backward, per channel: dγ[c] = Σ_g Σdy·x̂, dβ[c] = Σ_g Σdy (summed over groups), and for borrowed
// statistics dmean[g,c] = −γ·invstd·Σdy, dvar[g,c] = −½·γ·invstd³·Σdy·(x − mean).
struct Params { groups: u32, c: u32, affine: u32, borrowed: u32, eps: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> sums: array<f32>;     // [2, groups, c] from bn_merge_sums
@group(0) @binding(2) var<storage, read> variance: array<f32>; // [groups, c]
@group(0) @binding(3) var<storage, read> gamma: array<f32>;    // [c], unused when affine = 0
@group(0) @binding(4) var<storage, read_write> dgamma: array<f32>; // [c], written when affine = 1
@group(0) @binding(5) var<storage, read_write> dbeta: array<f32>;  // [c], written when affine = 1
@group(0) @binding(6) var<storage, read_write> dmean: array<f32>;  // [groups, c], written when borrowed = 1
@group(0) @binding(7) var<storage, read_write> dvar: array<f32>;   // [groups, c], written when borrowed = 1

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ch = flat_index(wid, nwg, lid);
  if (ch >= params.c) { return; }
  let planes = params.groups * params.c;
  var g_scale = 1.0;
  if (params.affine != 0u) { g_scale = gamma[ch]; }
  var acc_dgamma = 0.0;
  var acc_dbeta = 0.0;
  for (var g = 0u; g < params.groups; g++) {
    let gc = g * params.c + ch;
    let invstd = 1.0 / sqrt(variance[gc] + params.eps);
    let s_dy = sums[gc];
    let s_dyx = sums[planes + gc];
    acc_dgamma += s_dyx * invstd;
    acc_dbeta += s_dy;
    if (params.borrowed != 0u) {
      dmean[gc] = -g_scale * invstd * s_dy;
      // invstd³ alone leaves float32 for var ≳ 1e25 (1e20-scale channels); applied one factor at a
      // time to the sum, the product stays representable whenever dvar is.
      dvar[gc] = -0.5 * g_scale * (invstd * (invstd * (invstd * s_dyx)));
    }
  }
  if (params.affine != 0u) {
    dgamma[ch] = acc_dgamma;
    dbeta[ch] = acc_dbeta;
  }
}
