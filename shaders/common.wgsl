// Shared by every kernel (concatenated in front of each one).
// Dispatches larger than maxComputeWorkgroupsPerDimension (65535) are split across y by the host:
// kernels see one flat workgroup index and bound-check it against their own sizes.

/** Threads per workgroup, set at pipeline creation. */
override WG: u32 = 256u;

fn flat_workgroup(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return flat_workgroup(wid, nwg) * WG + lid;
}

// The (group, row chunk, column) cell of the column-reduction grid (bn_column_*): workgroups are laid
// out as [groups, chunks, blocks] and each thread of a block takes one column (or one vec4 of them).
struct ColumnCell { g: u32, chunk: u32, col: u32 }

fn column_cell(wid: vec3u, nwg: vec3u, lid: u32, blocks: u32, chunks: u32) -> ColumnCell {
  let f = flat_workgroup(wid, nwg);
  let rest = f / blocks;
  return ColumnCell(rest / chunks, rest % chunks, (f % blocks) * WG + lid);
}

// Float32 edges of the reductions. WGSL has no isnan/isinf and lets compilers assume finite math
// (so max(NaN, 0) may give 0), hence finiteness is read from the exponent bits and NaN is written
// from its bit pattern (loaded from a function variable: a NaN constant is a shader-creation error,
// and a private variable costs a per-invocation copy on CPU-backed adapters).
const F32_EXP_MASK = 0x7f800000u;
const F32_ABS_MASK = 0x7fffffffu;

fn f32_nan() -> f32 {
  var nan_bits = 0x7fc00000u;
  return bitcast<f32>(nan_bits);
}

fn is_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & F32_EXP_MASK) != F32_EXP_MASK;
}

fn is_finite4(v: vec4<f32>) -> vec4<bool> {
  return (bitcast<vec4<u32>>(v) & vec4<u32>(F32_EXP_MASK)) != vec4<u32>(F32_EXP_MASK);
}

// The power of two s ≤ 1 that brings a magnitude below 2^(top_exp + 1): s = 2^-clamp(e − top_exp,
// 0, 126) for the binary exponent e of the float whose |bits| are given (the bits of non-negative
// floats order like the floats, so a running max of them finds the largest magnitude). Scaling by s
// is exact, so sums of scaled values round exactly as the unscaled ones would, minus the overflow.
fn pow2_scale(abs_bits: u32, top_exp: i32) -> f32 {
  let e = i32(min(abs_bits, F32_EXP_MASK) >> 23u) - 127;
  return bitcast<f32>(u32(127 - clamp(e - top_exp, 0, 126)) << 23u);
}

fn pow2_scale4(abs_bits: vec4<u32>, top_exp: i32) -> vec4<f32> {
  let e = vec4<i32>(min(abs_bits, vec4<u32>(F32_EXP_MASK)) >> vec4<u32>(23u)) - vec4<i32>(127 + top_exp);
  return bitcast<vec4<f32>>(vec4<u32>(vec4<i32>(127) - clamp(e, vec4<i32>(0), vec4<i32>(126))) << vec4<u32>(23u));
}
