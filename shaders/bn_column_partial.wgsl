// BN statistics, stage 1. x is viewed as [groups, n, width] with width = C·HW (column j = c·HW + p).
// One thread per (group, row chunk, column): threads of a workgroup take adjacent columns, so each row
// is read contiguously, and each thread loops over `chunk` rows. Sums are of d = x·s − pilot[g,c]
// (bn_pilot: s scales the channel below overflow, pilot is a value near its scaled mean), so
// Σd² − (Σd)²/k does not cancel the way E[x²] − E[x]² would. Output, in units of s: per (group,
// chunk, column) mean of d and M2 = Σ(x·s − mean)², merged exactly by stage 2 (Chan).
struct Params { groups: u32, n: u32, width: u32, chunk: u32, chunks: u32, blocks: u32, c: u32, hw: u32 }
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
  var sum = 0.0;
  for (var r = 0u; r < rows; r++) { sum += x[first + r * params.width] * s * t - shift_t; }
  let mean = sum / f32(rows);
  var m2 = 0.0;
  for (var r = 0u; r < rows; r++) {
    let d = x[first + r * params.width] * s * t - shift_t - mean;
    m2 += d * d;
  }
  return vec2<f32>(mean / t, m2 / t / t);
}

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
  let first = (g * params.n + r0) * w + j;
  var at = first;
  let gc = g * params.c + j / params.hw;
  let shift = pilot[gc];
  let s = pilot[params.groups * params.c + gc];
  var s1 = 0.0;
  var s2 = 0.0;
  if (s == 1.0) {
    // Ordinary magnitudes (bn_pilot): the loop without the multiply.
    for (var r = r0; r < r1; r++) {
      let d = x[at] - shift;
      s1 += d;
      s2 += d * d;
      at += w;
    }
  } else {
    for (var r = r0; r < r1; r++) {
      let d = x[at] * s - shift;
      s1 += d;
      s2 += d * d;
      at += w;
    }
  }
  let count = f32(r1 - r0);
  let square_of_sum = s1 * s1 / count;
  let out = (g * params.chunks + k) * w + j;
  if (is_finite(s2) && is_finite(square_of_sum)) {
    part_mean[out] = s1 / count;
    part_m2[out] = max(s2 - square_of_sum, 0.0);
  } else {
    let exact = chunk_exact(first, r1 - r0, s, shift);
    part_mean[out] = exact.x;
    part_m2[out] = exact.y;
  }
}
