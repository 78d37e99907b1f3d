// BN backward, stage 2: one thread per (group, channel) adds the stage-1 partial sums of its
// chunks × hw positions, in blocks of MERGE_BLOCK (no workgroup barriers; short f32 running sums).
// sums = [Σdy (groups·c) | Σdy·(x − mean) (groups·c)].
const MERGE_BLOCK = 32u;
struct Params { groups: u32, c: u32, hw: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part_dy: array<f32>;  // [groups, chunks, c, hw]
@group(0) @binding(2) var<storage, read> part_dyx: array<f32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>; // [2, groups, c]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gc = flat_index(wid, nwg, lid);
  let planes = params.groups * params.c;
  if (gc >= planes) { return; }
  let g = gc / params.c;
  let ch = gc % params.c;
  let width = params.c * params.hw;
  let items = params.chunks * params.hw;
  var s_dy = 0.0;
  var s_dyx = 0.0;
  for (var b0 = 0u; b0 < items; b0 += MERGE_BLOCK) {
    var b_dy = 0.0;
    var b_dyx = 0.0;
    for (var t = b0; t < min(b0 + MERGE_BLOCK, items); t++) {
      let at = (g * params.chunks + t / params.hw) * width + ch * params.hw + t % params.hw;
      b_dy += part_dy[at];
      b_dyx += part_dyx[at];
    }
    s_dy += b_dy;
    s_dyx += b_dyx;
  }
  sums[gc] = s_dy;
  sums[planes + gc] = s_dyx;
}
