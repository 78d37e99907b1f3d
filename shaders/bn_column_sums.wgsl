// BN backward, stage 1 (same grid as bn_column_partial): per (group, chunk, column j = c·HW + p)
// Σ dy and Σ dy·(x − mean[g,c]) over the chunk's rows. x and dy are [groups, n, width].
struct Params { groups: u32, n: u32, width: u32, chunk: u32, chunks: u32, blocks: u32, c: u32, hw: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;          // [groups, c]
@group(0) @binding(4) var<storage, read_write> part_dy: array<f32>;  // [groups, chunks, width]
@group(0) @binding(5) var<storage, read_write> part_dyx: array<f32>; // [groups, chunks, width]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let cell = column_cell(wid, nwg, lid, params.blocks, params.chunks);
  let g = cell.g;
  let k = cell.chunk;
  let j = cell.col;
  if (g >= params.groups || j >= params.width) { return; }
  let w = params.width;
  let m = mean[g * params.c + j / params.hw];
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.n);
  var at = (g * params.n + r0) * w + j;
  var s_dy = 0.0;
  var s_dyx = 0.0;
  for (var r = r0; r < r1; r++) {
    let d = dy[at];
    s_dy += d;
    s_dyx += d * (x[at] - m);
    at += w;
  }
  let out = (g * params.chunks + k) * w + j;
  part_dy[out] = s_dy;
  part_dyx[out] = s_dyx;
}
