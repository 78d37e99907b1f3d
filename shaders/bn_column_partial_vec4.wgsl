// BN statistics, stage 1, for width = C·HW divisible by 4: bn_column_partial with each thread owning
// four adjacent columns as a vec4 (16-byte loads and 4-wide math, which CPU-backed adapters such as
// SwiftShader execute as SIMD). Same outputs, layout and units (scaled by s) as the scalar kernel.
// Threads are numbered (group, chunk, column) with the column fastest, so a narrow tensor (few
// columns, many rows: [65536, 64]) still fills every workgroup. A chunk may span many rows: the
// thread sums them in blocks of BLOCK_ROWS in f32 and merges the blocks exactly (Chan), so no f32
// running sum is longer than that and the partials stage 2 merges stay few.
override BLOCK_ROWS: u32 = 64u;
struct Params { groups: u32, n: u32, width4: u32, chunk: u32, chunks: u32, c: u32, hw: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;         // [groups, n, width / 4]
@group(0) @binding(2) var<storage, read> pilot: array<f32>;           // [2, groups, c]: pilot·s, then s
@group(0) @binding(3) var<storage, read_write> part_mean: array<vec4<f32>>; // [groups, chunks, width / 4], shifted
@group(0) @binding(4) var<storage, read_write> part_m2: array<vec4<f32>>;   // [groups, chunks, width / 4]

struct Partial { mean: vec4<f32>, m2: vec4<f32> }

// The chunk again when a lane's fast sums were not finite (as in bn_column_partial, per lane): NaN for
// non-finite input; else rescaled by a second power of two so M2 overflows only if it must.
fn chunk_exact(first: u32, rows: u32, s: vec4<f32>, shift: vec4<f32>) -> Partial {
  var top = vec4<u32>(0u);
  var finite = vec4<bool>(true);
  for (var r = 0u; r < rows; r++) {
    let v = x[first + r * params.width4];
    finite = finite & is_finite4(v);
    top = max(top, bitcast<vec4<u32>>(v * s) & vec4<u32>(F32_ABS_MASK));
  }
  // Still relative to the shift (exact products, so a constant lane stays exactly 0).
  let t = pow2_scale4(top, 0);
  let shift_t = shift * t;
  // Sums of block sums: no f32 running sum longer than BLOCK_ROWS (or the number of blocks).
  var sum = vec4<f32>(0.0);
  for (var b0 = 0u; b0 < rows; b0 += BLOCK_ROWS) {
    var block = vec4<f32>(0.0);
    for (var r = b0; r < min(b0 + BLOCK_ROWS, rows); r++) { block += x[first + r * params.width4] * s * t - shift_t; }
    sum += block;
  }
  let mean = sum / f32(rows);
  var m2 = vec4<f32>(0.0);
  for (var b0 = 0u; b0 < rows; b0 += BLOCK_ROWS) {
    var block = vec4<f32>(0.0);
    for (var r = b0; r < min(b0 + BLOCK_ROWS, rows); r++) {
      let d = x[first + r * params.width4] * s * t - shift_t - mean;
      block += d * d;
    }
    m2 += block;
  }
  let nan = vec4<f32>(f32_nan());
  return Partial(select(nan, mean / t, finite), select(nan, m2 / t / t, finite));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  let w4 = params.width4;
  let j4 = i % w4;
  let k = (i / w4) % params.chunks;
  let g = i / w4 / params.chunks;
  if (g >= params.groups) { return; }
  let col = j4 * 4u;
  let pc = g * params.c;
  let ch0 = col / params.hw;
  let ch1 = (col + 1u) / params.hw;
  let ch2 = (col + 2u) / params.hw;
  let ch3 = (col + 3u) / params.hw;
  let sc = params.groups * params.c + pc;
  let shift = vec4<f32>(pilot[pc + ch0], pilot[pc + ch1], pilot[pc + ch2], pilot[pc + ch3]);
  let s = vec4<f32>(pilot[sc + ch0], pilot[sc + ch1], pilot[sc + ch2], pilot[sc + ch3]);
  let ordinary = all(s == vec4<f32>(1.0));
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.n);
  let first = (g * params.n + r0) * w4 + j4;
  var at = first;
  var count = 0.0;
  var mean = vec4<f32>(0.0);
  var m2 = vec4<f32>(0.0);
  var finite = true;
  for (var b0 = r0; b0 < r1; b0 += BLOCK_ROWS) {
    let b1 = min(b0 + BLOCK_ROWS, r1);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    if (ordinary) {
      // Ordinary magnitudes (bn_pilot): the loop without the multiply, two rows per iteration (half
      // the loop steps per load, which a CPU-backed adapter pays for; four rows measured no faster).
      var r = b0;
      var t1 = vec4<f32>(0.0);
      var t2 = vec4<f32>(0.0);
      for (; r + 1u < b1; r += 2u) {
        let d = x[at] - shift;
        let e = x[at + w4] - shift;
        s1 += d;
        s2 += d * d;
        t1 += e;
        t2 += e * e;
        at += 2u * w4;
      }
      if (r < b1) {
        let d = x[at] - shift;
        s1 += d;
        s2 += d * d;
        at += w4;
      }
      s1 += t1;
      s2 += t2;
    } else {
      for (var r = b0; r < b1; r++) {
        let d = x[at] * s - shift;
        s1 += d;
        s2 += d * d;
        at += w4;
      }
    }
    let rows = f32(b1 - b0);
    let square_of_sum = s1 * s1 / rows;
    finite = finite && all(is_finite4(s2) & is_finite4(square_of_sum));
    // Chan: the block (rows, s1 / rows, s2 − s1²/rows) joins the running (count, mean, m2).
    let block_mean = s1 / rows;
    let total = count + rows;
    let delta = block_mean - mean;
    m2 += max(s2 - square_of_sum, vec4<f32>(0.0)) + delta * delta * (count * rows / total);
    mean += delta * (rows / total);
    count = total;
  }
  let out = (g * params.chunks + k) * w4 + j4;
  if (finite && all(is_finite4(mean) & is_finite4(m2))) {
    part_mean[out] = mean;
    part_m2[out] = m2;
  } else {
    let exact = chunk_exact(first, r1 - r0, s, shift);
    part_mean[out] = exact.mean;
    part_m2[out] = exact.m2;
  }
}
