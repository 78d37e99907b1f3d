// BN statistics, stage 1 for [N, C, H, W] with hw divisible by 4: one thread per (group, channel,
// chunk of rows) streams each row's contiguous hw values as vec4, shifted by pilot[g,c]. Each row's
// sums (≤ hw/4 terms per lane) become (count, mean, M2) and are merged into the thread's total with
// Chan's formula, so f32 sums stay short. Output per (group, chunk, channel): shifted mean and M2.
struct Params { groups: u32, n: u32, c: u32, hw4: u32, chunk: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;  // [groups, n, c, hw / 4]
@group(0) @binding(2) var<storage, read> pilot: array<f32>;    // [groups, c]
@group(0) @binding(3) var<storage, read_write> part_mean: array<f32>; // [groups, chunks, c], shifted
@group(0) @binding(4) var<storage, read_write> part_m2: array<f32>;   // [groups, chunks, c]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  // Adjacent threads take adjacent channels of the same chunk.
  let ch = i % params.c;
  let rest = i / params.c;
  let k = rest % params.chunks;
  let g = rest / params.chunks;
  if (g >= params.groups) { return; }
  let shift = pilot[g * params.c + ch];
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.n);
  let row_count = f32(params.hw4 * 4u);
  var count = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var r = r0; r < r1; r++) {
    let base = ((g * params.n + r) * params.c + ch) * params.hw4;
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    for (var p = 0u; p < params.hw4; p++) {
      let d = x[base + p] - shift;
      s1 += d;
      s2 += d * d;
    }
    let row_sum = (s1.x + s1.y) + (s1.z + s1.w);
    let row_mean = row_sum / row_count;
    let row_m2 = max(((s2.x + s2.y) + (s2.z + s2.w)) - row_sum * row_mean, 0.0);
    let total = count + row_count;
    let delta = row_mean - mean;
    m2 += row_m2 + delta * delta * count * row_count / total;
    mean += delta * row_count / total;
    count = total;
  }
  let out = (g * params.chunks + k) * params.c + ch;
  part_mean[out] = mean;
  part_m2[out] = m2;
}
