// BN statistics, stage 0: per (group, channel) a scale s and a pilot value — the mean of its first
// few values, times s — that stages 1 and 2 work relative to. Partial means are then stored relative
// to a value near the channel mean, so f32 keeps their digits even on data like 1000 + N(0, 1), and
// Σd² − (Σd)²/k barely cancels. (One sample as pilot could sit 3σ out; a few averaged cannot.)
// s is the power of two ≤ 1 that brings the largest pilot value below 2^(SCALE_TOP_EXP + 1): every
// later stage sums x·s, so channels near the float32 limit (3.4e38) overflow neither their sums nor
// their squares (d² < 2^84, summed over ≤ 2^28 values). Ordinary data (below 2^41 ≈ 2.2e12) keeps
// s = 1: bit-identical sums, and stage 1 skips the multiply.
const PILOT_VALUES = 8u;
const SCALE_TOP_EXP = 40;
struct Params { groups: u32, n: u32, c: u32, hw: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> pilot: array<f32>; // [2, groups, c]: pilot·s, then s

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gc = flat_index(wid, nwg, lid);
  let planes = params.groups * params.c;
  if (gc >= planes) { return; }
  let g = gc / params.c;
  let ch = gc % params.c;
  let count = min(PILOT_VALUES, params.n * params.hw);
  var top = 0u;
  for (var t = 0u; t < count; t++) {
    top = max(top, bitcast<u32>(x[((g * params.n + t / params.hw) * params.c + ch) * params.hw + t % params.hw]) & F32_ABS_MASK);
  }
  let s = pow2_scale(top, SCALE_TOP_EXP);
  var sum = 0.0;
  for (var t = 0u; t < count; t++) {
    sum += x[((g * params.n + t / params.hw) * params.c + ch) * params.hw + t % params.hw] * s;
  }
  pilot[gc] = sum / f32(count);
  pilot[planes + gc] = s;
}
