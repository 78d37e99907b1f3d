// BN backward when mean/var were borrowed (constants w.r.t. x): dx = dy · γ[c] / sqrt(var[g,c] + eps).
struct Params { total: u32, c: u32, hw: u32, group_size: u32, affine: u32, eps: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> variance: array<f32>; // [groups, c]
@group(0) @binding(3) var<storage, read> gamma: array<f32>;    // [c], unused when affine = 0
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.total) { return; }
  let ch = (i / params.hw) % params.c;
  let gc = (i / params.group_size) * params.c + ch;
  var g_scale = 1.0;
  if (params.affine != 0u) { g_scale = gamma[ch]; }
  dx[i] = dy[i] * g_scale / sqrt(variance[gc] + params.eps);
}
