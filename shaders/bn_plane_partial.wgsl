// BN statistics, stage 1 for [N, C, H, W] with hw divisible by 4: one thread per (group, channel,
// chunk of rows) streams each row's contiguous hw values as vec4, as d = x·s − pilot[g,c] (bn_pilot).
// Each row's sums (≤ hw/4 terms per lane) become (count, mean, M2) and are merged into the thread's
// total with Chan's formula, so f32 sums stay short. Output per (group, chunk, channel), in units of
// s: shifted mean and M2.
struct Params { groups: u32, n: u32, c: u32, hw4: u32, chunk: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;  // [groups, n, c, hw / 4]
@group(0) @binding(2) var<storage, read> pilot: array<f32>;    // [2, groups, c]: pilot·s, then s
@group(0) @binding(3) var<storage, read_write> part_mean: array<f32>; // [groups, chunks, c], shifted
@group(0) @binding(4) var<storage, read_write> part_m2: array<f32>;   // [groups, chunks, c]

fn row_base(g: u32, r: u32, ch: u32) -> u32 {
  return ((g * params.n + r) * params.c + ch) * params.hw4;
}

// The chunk again when its fast sums were not finite: NaN for non-finite input; else the values are
// rescaled by a second power of two so that the mean is exact and M2 overflows only if it must.
fn chunk_exact(g: u32, ch: u32, r0: u32, r1: u32, s: f32, shift: f32) -> vec2<f32> {
  var top = vec4<u32>(0u);
  var finite = vec4<bool>(true);
  for (var r = r0; r < r1; r++) {
    for (var p = 0u; p < params.hw4; p++) {
      let v = x[row_base(g, r, ch) + p];
      finite = finite & is_finite4(v);
      top = max(top, bitcast<vec4<u32>>(v * s) & vec4<u32>(F32_ABS_MASK));
    }
  }
  if (!all(finite)) { return vec2<f32>(f32_nan()); }
  // Still relative to the shift (exact products, so a constant channel stays exactly 0).
  let t = pow2_scale(max(max(top.x, top.y), max(top.z, top.w)), 0);
  let shift_t = shift * t;
  let count = f32((r1 - r0) * params.hw4 * 4u);
  var sum = vec4<f32>(0.0);
  for (var r = r0; r < r1; r++) {
    for (var p = 0u; p < params.hw4; p++) { sum += x[row_base(g, r, ch) + p] * s * t - shift_t; }
  }
  let mean = ((sum.x + sum.y) + (sum.z + sum.w)) / count;
  var m2 = vec4<f32>(0.0);
  for (var r = r0; r < r1; r++) {
    for (var p = 0u; p < params.hw4; p++) {
      let d = x[row_base(g, r, ch) + p] * s * t - shift_t - mean;
      m2 += d * d;
    }
  }
  return vec2<f32>(mean / t, ((m2.x + m2.y) + (m2.z + m2.w)) / t / t);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  // Adjacent threads take adjacent channels of the same chunk.
  let ch = i % params.c;
  let rest = i / params.c;
  let k = rest % params.chunks;
  let g = rest / params.chunks;
  if (g >= params.groups) { return; }
  let gc = g * params.c + ch;
  let shift = pilot[gc];
  let s = pilot[params.groups * params.c + gc];
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.n);
  let row_count = f32(params.hw4 * 4u);
  var count = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var r = r0; r < r1; r++) {
    let base = row_base(g, r, ch);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    if (s == 1.0) {
      // Ordinary magnitudes (bn_pilot): the loop without the multiply, two vec4s per iteration (half
      // the loop steps per load, which a CPU-backed adapter pays for), each into its own sums.
      var p = 0u;
      var t1 = vec4<f32>(0.0);
      var t2 = vec4<f32>(0.0);
      for (; p + 1u < params.hw4; p += 2u) {
        let d = x[base + p] - shift;
        let e = x[base + p + 1u] - shift;
        s1 += d;
        s2 += d * d;
        t1 += e;
        t2 += e * e;
      }
      if (p < params.hw4) {
        let d = x[base + p] - shift;
        s1 += d;
        s2 += d * d;
      }
      s1 += t1;
      s2 += t2;
    } else {
      for (var p = 0u; p < params.hw4; p++) {
        let d = x[base + p] * s - shift;
        s1 += d;
        s2 += d * d;
      }
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
  // max() may drop a NaN from row_m2, but the row's sum carries it into mean: any non-finite input or
  // overflowing sum leaves mean or m2 non-finite.
  if (is_finite(mean) && is_finite(m2)) {
    part_mean[out] = mean;
    part_m2[out] = m2;
  } else {
    let exact = chunk_exact(g, ch, r0, r1, s, shift);
    part_mean[out] = exact.x;
    part_m2[out] = exact.y;
  }
}
