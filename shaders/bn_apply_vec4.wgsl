// bn_apply with four elements per thread, for layouts where each aligned vec4 of x holds either four
// positions of one channel (hw % 4 = 0) or, with FOUR_CHANNELS, four adjacent channels (hw = 1,
// c % 4 = 0). Same formula: y = (x − mean[g,c]) / sqrt(var[g,c] + eps) · gamma[c] + beta[c].
override FOUR_CHANNELS: bool = false;
struct Params { total4: u32, c: u32, hw: u32, group_size: u32, affine: u32, eps: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;     // [groups, c]
@group(0) @binding(3) var<storage, read> variance: array<f32>; // [groups, c]
@group(0) @binding(4) var<storage, read> gamma: array<f32>;    // [c], unused when affine = 0
@group(0) @binding(5) var<storage, read> beta: array<f32>;     // [c], unused when affine = 0
@group(0) @binding(6) var<storage, read_write> y: array<vec4<f32>>;

fn four(buf_index: u32, which: u32) -> vec4<f32> {
  switch (which) {
    case 0u: { return vec4<f32>(mean[buf_index], mean[buf_index + 1u], mean[buf_index + 2u], mean[buf_index + 3u]); }
    case 1u: { return vec4<f32>(variance[buf_index], variance[buf_index + 1u], variance[buf_index + 2u], variance[buf_index + 3u]); }
    case 2u: { return vec4<f32>(gamma[buf_index], gamma[buf_index + 1u], gamma[buf_index + 2u], gamma[buf_index + 3u]); }
    default: { return vec4<f32>(beta[buf_index], beta[buf_index + 1u], beta[buf_index + 2u], beta[buf_index + 3u]); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.total4) { return; }
  let e = i * 4u;
  let ch = (e / params.hw) % params.c;
  let gc = (e / params.group_size) * params.c + ch;
  var v: vec4<f32>;
  if (FOUR_CHANNELS) {
    v = (x[i] - four(gc, 0u)) / sqrt(four(gc, 1u) + params.eps);
    if (params.affine != 0u) { v = v * four(ch, 2u) + four(ch, 3u); }
  } else {
    v = (x[i] - mean[gc]) / sqrt(variance[gc] + params.eps);
    if (params.affine != 0u) { v = v * gamma[ch] + beta[ch]; }
  }
  y[i] = v;
}
