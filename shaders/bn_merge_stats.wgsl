// BN statistics, stage 2: one thread per (group, channel) merges the stage-1 partials of its
// items = chunks × positions with Chan's formula, and writes mean = (pilot + merged shifted mean) / s
// and either M2 or the biased variance M2 / count, divided by s² (partials are in units of the
// channel's scale s, bn_pilot). NaN partials (non-finite input) stay NaN. No workgroup barriers (costly on CPU-backed adapters);
// merges run in blocks of MERGE_BLOCK items, so no f32 running sum spans more than ~64 terms.
const MERGE_BLOCK = 32u;
// positions: items per chunk (hw for the column kernels, 1 for bn_plane_partial);
// values_per_row: values one partial row stands for (1 for columns, hw for planes).
struct Params { groups: u32, n: u32, c: u32, positions: u32, chunk: u32, chunks: u32, want_var: u32, values_per_row: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part_mean: array<f32>; // [groups, chunks, c, positions], shifted by pilot
@group(0) @binding(2) var<storage, read> part_m2: array<f32>;
@group(0) @binding(3) var<storage, read> pilot: array<f32>;     // [2, groups, c]: pilot·s, then s
@group(0) @binding(4) var<storage, read_write> out_mean: array<f32>; // [groups, c]
@group(0) @binding(5) var<storage, read_write> out_m2: array<f32>;   // [groups, c]: M2 or var

struct Moments { count: f32, mean: f32, m2: f32 }

fn chan(a: Moments, b: Moments) -> Moments {
  let count = a.count + b.count;
  if (b.count == 0.0) { return a; }
  if (a.count == 0.0) { return b; }
  let delta = b.mean - a.mean;
  let wb = b.count / count;
  // Means of opposite sign near the float32 limit overflow delta; their weighted sum does not.
  let mean = select(a.mean * (a.count / count) + b.mean * wb, a.mean + delta * wb, is_finite(delta));
  return Moments(count, mean, a.m2 + b.m2 + delta * delta * a.count * wb);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gc = flat_index(wid, nwg, lid);
  if (gc >= params.groups * params.c) { return; }
  let g = gc / params.c;
  let ch = gc % params.c;
  let width = params.c * params.positions;
  let items = params.chunks * params.positions;
  var total = Moments(0.0, 0.0, 0.0);
  for (var b0 = 0u; b0 < items; b0 += MERGE_BLOCK) {
    var block = Moments(0.0, 0.0, 0.0);
    for (var t = b0; t < min(b0 + MERGE_BLOCK, items); t++) {
      let k = t / params.positions;
      let at = (g * params.chunks + k) * width + ch * params.positions + t % params.positions;
      let rows = min(params.chunk, params.n - k * params.chunk);
      block = chan(block, Moments(f32(rows * params.values_per_row), part_mean[at], part_m2[at]));
    }
    total = chan(total, block);
  }
  // Dividing by the power of two s is exact; it overflows only when the true value exceeds float32.
  let s = pilot[params.groups * params.c + gc];
  out_mean[gc] = (pilot[gc] + total.mean) / s;
  out_m2[gc] = select(total.m2, total.m2 / total.count, params.want_var != 0u) / s / s;
}
