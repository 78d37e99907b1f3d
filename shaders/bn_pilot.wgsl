// BN statistics, stage 0: a pilot value per (group, channel) — the mean of its first few values —
// that stages 1 and 2 subtract before summing. Partial means are then stored relative to a value
// near the channel mean, so f32 keeps their digits even on data like 1000 + N(0, 1), and
// Σd² − (Σd)²/k barely cancels. (One sample as pilot could sit 3σ out; a few averaged cannot.)
const PILOT_VALUES = 8u;
struct Params { groups: u32, n: u32, c: u32, hw: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> pilot: array<f32>; // [groups, c]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gc = flat_index(wid, nwg, lid);
  if (gc >= params.groups * params.c) { return; }
  let g = gc / params.c;
  let ch = gc % params.c;
  let count = min(PILOT_VALUES, params.n * params.hw);
  var s = 0.0;
  for (var t = 0u; t < count; t++) {
    let r = t / params.hw;
    s += x[((g * params.n + r) * params.c + ch) * params.hw + t % params.hw];
  }
  pilot[gc] = s / f32(count);
}
