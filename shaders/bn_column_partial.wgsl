// BN statistics, stage 1. x is viewed as [groups, n, width] with width = C·HW (column j = c·HW + p).
// One thread per (group, row chunk, column), numbered with the column fastest: threads of a workgroup
// take adjacent columns, so each row is read contiguously, and a narrow tensor (few columns, many
// rows) still fills every workgroup. A thread loops over its chunk's rows in blocks of BLOCK_ROWS,
// summed in f32 and merged exactly (Chan), so no f32 running sum is longer than a block however many
// rows the chunk has. Sums are of d = x·s − pilot[g,c] (bn_pilot: s scales the channel below overflow,
// pilot is a value near its scaled mean), so Σd² − (Σd)²/k does not cancel the way E[x²] − E[x]² would.
// Output, in units of s: per (group, chunk, column) mean of d and M2 = Σ(x·s − mean)², merged exactly
// by stage 2 (Chan).
override BLOCK_ROWS: u32 = 64u;
struct Params { groups: u32, n: u32, width: u32, chunk: u32, chunks: u32, c: u32, hw: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> pilot: array<f32>;           // [2, groups, c]: pilot·s, then s
@group(0) @binding(3) var<storage, read_write> part_mean: array<f32>; // [groups, chunks, width], shifted by pilot
@group(0) @binding(4) var<storage, read_write> part_m2: array<f32>;   // [groups, chunks, width]

// The chunk again when its fast sums were not finite: NaN for non-finite input; else the values are
// rescaled by a second power of two so that the mean is exact and M2 overflows only if it must.
fn chunk_exact(first: u32, rows: u32, s: f32, shift: f32) -> vec2<f32> {
  var top = 0u;
  var finite = true;
  for (var r = 0u; r < rows; r++) {
    let v = x[first + r * params.width];
    finite = finite && is_finite(v);
    top = max(top, bitcast<u32>(v * s) & F32_ABS_MASK);
  }
  if (!finite) { return vec2<f32>(f32_nan()); }
  // Still relative to the shift (exact products, so a constant column stays exactly 0).
  let t = pow2_scale(top, 0);
  let shift_t = shift * t;
  // Sums of block sums: no f32 running sum longer than BLOCK_ROWS (or the number of blocks).
  var sum = 0.0;
  for (var b0 = 0u; b0 < rows; b0 += BLOCK_ROWS) {
    var block = 0.0;
    for (var r = b0; r < min(b0 + BLOCK_ROWS, rows); r++) { block += x[first + r * params.width] * s * t - shift_t; }
    sum += block;
  }
  let mean = sum / f32(rows);
  var m2 = 0.0;
  for (var b0 = 0u; b0 < rows; b0 += BLOCK_ROWS) {
    var block = 0.0;
    for (var r = b0; r < min(b0 + BLOCK_ROWS, rows); r++) {
      let d = x[first + r * params.width] * s * t - shift_t - mean;
      block += d * d;
    }
    m2 += block;
  }
  return vec2<f32>(mean / t, m2 / t / t);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  let w = params.width;
  let j = i % w;
  let k = (i / w) % params.chunks;
  let g = i / w / params.chunks;
  if (g >= params.groups) { return; }
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.n);
  let first = (g * params.n + r0) * w + j;
  var at = first;
  let gc = g * params.c + j / params.hw;
  let shift = pilot[gc];
  let s = pilot[params.groups * params.c + gc];
  var count = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  var finite = true;
  for (var b0 = r0; b0 < r1; b0 += BLOCK_ROWS) {
    let b1 = min(b0 + BLOCK_ROWS, r1);
    var s1 = 0.0;
    var s2 = 0.0;
    if (s == 1.0) {
      // Ordinary magnitudes (bn_pilot): the loop without the multiply.
      for (var r = b0; r < b1; r++) {
        let d = x[at] - shift;
        s1 += d;
        s2 += d * d;
        at += w;
      }
    } else {
      for (var r = b0; r < b1; r++) {
        let d = x[at] * s - shift;
        s1 += d;
        s2 += d * d;
        at += w;
      }
    }
    let rows = f32(b1 - b0);
    let square_of_sum = s1 * s1 / rows;
    finite = finite && is_finite(s2) && is_finite(square_of_sum);
    // Chan: the block (rows, s1 / rows, s2 − s1²/rows) joins the running (count, mean, m2).
    let total = count + rows;
    let delta = s1 / rows - mean;
    m2 += max(s2 - square_of_sum, 0.0) + delta * delta * (count * rows / total);
    mean += delta * (rows / total);
    count = total;
  }
  let out = (g * params.chunks + k) * w + j;
  if (finite && is_finite(mean) && is_finite(m2)) {
    part_mean[out] = mean;
    part_m2[out] = m2;
  } else {
    let exact = chunk_exact(first, r1 - r0, s, shift);
    part_mean[out] = exact.x;
    part_m2[out] = exact.y;
  }
}
