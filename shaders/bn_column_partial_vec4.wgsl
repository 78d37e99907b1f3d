// BN statistics, stage 1, for width = C·HW divisible by 4: bn_column_partial with each thread owning
// four adjacent columns as a vec4 (16-byte loads and 4-wide math, which CPU-backed adapters such as
// SwiftShader execute as SIMD). Same outputs, layout and units (scaled by s) as the scalar kernel.
struct Params { groups: u32, n: u32, width4: u32, chunk: u32, chunks: u32, blocks: u32, c: u32, hw: u32 }
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
  var sum = vec4<f32>(0.0);
  for (var r = 0u; r < rows; r++) { sum += x[first + r * params.width4] * s * t - shift_t; }
  let mean = sum / f32(rows);
  var m2 = vec4<f32>(0.0);
  for (var r = 0u; r < rows; r++) {
    let d = x[first + r * params.width4] * s * t - shift_t - mean;
    m2 += d * d;
  }
  let nan = vec4<f32>(f32_nan());
  return Partial(select(nan, mean / t, finite), select(nan, m2 / t / t, finite));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let cell = column_cell(wid, nwg, lid, params.blocks, params.chunks);
  let g = cell.g;
  let k = cell.chunk;
  let j4 = cell.col;
  if (g >= params.groups || j4 >= params.width4) { return; }
  let w4 = params.width4;
  let col = j4 * 4u;
  let pc = g * params.c;
  let ch0 = col / params.hw;
  let ch1 = (col + 1u) / params.hw;
  let ch2 = (col + 2u) / params.hw;
  let ch3 = (col + 3u) / params.hw;
  let sc = params.groups * params.c + pc;
  let shift = vec4<f32>(pilot[pc + ch0], pilot[pc + ch1], pilot[pc + ch2], pilot[pc + ch3]);
  let s = vec4<f32>(pilot[sc + ch0], pilot[sc + ch1], pilot[sc + ch2], pilot[sc + ch3]);
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.n);
  let first = (g * params.n + r0) * w4 + j4;
  var at = first;
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  if (all(s == vec4<f32>(1.0))) {
    // Ordinary magnitudes (bn_pilot): the loop without the multiply.
    for (var r = r0; r < r1; r++) {
      let d = x[at] - shift;
      s1 += d;
      s2 += d * d;
      at += w4;
    }
  } else {
    for (var r = r0; r < r1; r++) {
      let d = x[at] * s - shift;
      s1 += d;
      s2 += d * d;
      at += w4;
    }
  }
  let count = f32(r1 - r0);
  let square_of_sum = s1 * s1 / count;
  let out = (g * params.chunks + k) * w4 + j4;
  if (all(is_finite4(s2) & is_finite4(square_of_sum))) {
    part_mean[out] = s1 / count;
    part_m2[out] = max(s2 - square_of_sum, vec4<f32>(0.0));
  } else {
    let exact = chunk_exact(first, r1 - r0, s, shift);
    part_mean[out] = exact.mean;
    part_m2[out] = exact.m2;
  }
}
