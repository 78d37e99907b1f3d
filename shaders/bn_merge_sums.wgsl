// BN backward, stage 2: one workgroup per (group, channel) adds the stage-1 partial sums of its
// chunks × HW positions (strided per thread, then a tree). sums = [Σdy (groups·c) | Σdy·(x−mean) (groups·c)].
struct Params { groups: u32, c: u32, hw: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part_dy: array<f32>;  // [groups, chunks, c, hw]
@group(0) @binding(2) var<storage, read> part_dyx: array<f32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>; // [2, groups, c]

var<workgroup> wg_dy: array<f32, WG>;
var<workgroup> wg_dyx: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gc = flat_workgroup(wid, nwg);
  let planes = params.groups * params.c;
  if (gc >= planes) { return; }
  let g = gc / params.c;
  let ch = gc % params.c;
  let width = params.c * params.hw;
  let items = params.chunks * params.hw;
  var s_dy = 0.0;
  var s_dyx = 0.0;
  for (var t = lid; t < items; t += WG) {
    let at = (g * params.chunks + t / params.hw) * width + ch * params.hw + t % params.hw;
    s_dy += part_dy[at];
    s_dyx += part_dyx[at];
  }
  wg_dy[lid] = s_dy;
  wg_dyx[lid] = s_dyx;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      wg_dy[lid] += wg_dy[lid + stride];
      wg_dyx[lid] += wg_dyx[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    sums[gc] = wg_dy[0];
    sums[planes + gc] = wg_dyx[0];
  }
}
