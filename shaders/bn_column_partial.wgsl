// BN statistics, stage 1. x is viewed as [groups, n, width] with width = C·HW (column j = c·HW + p).
// One thread per (group, row chunk, column): threads of a workgroup take adjacent columns, so each row
// is read contiguously, and each thread loops over `chunk` rows. Sums are of d = x − pilot[g,c]
// (bn_pilot: a value near the channel mean), so Σd² − (Σd)²/k does not cancel the way
// E[x²] − E[x]² would. Output: per (group, chunk, column) mean of d and M2 = Σ(x − mean)², merged
// exactly by stage 2 (Chan).
struct Params { groups: u32, n: u32, width: u32, chunk: u32, chunks: u32, blocks: u32, c: u32, hw: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> pilot: array<f32>;             // [groups, c]
@group(0) @binding(3) var<storage, read_write> part_mean: array<f32>; // [groups, chunks, width], shifted by pilot
@group(0) @binding(4) var<storage, read_write> part_m2: array<f32>;   // [groups, chunks, width]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let cell = column_cell(wid, nwg, lid, params.blocks, params.chunks);
  let g = cell.g;
  let k = cell.chunk;
  let j = cell.col;
  if (g >= params.groups || j >= params.width) { return; }
  let w = params.width;
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.n);
  var at = (g * params.n + r0) * w + j;
  let shift = pilot[g * params.c + j / params.hw];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var r = r0; r < r1; r++) {
    let d = x[at] - shift;
    s1 += d;
    s2 += d * d;
    at += w;
  }
  let count = f32(r1 - r0);
  let out = (g * params.chunks + k) * w + j;
  part_mean[out] = s1 / count;
  part_m2[out] = max(s2 - s1 * s1 / count, 0.0);
}
