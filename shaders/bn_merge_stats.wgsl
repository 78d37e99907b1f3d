// BN statistics, stage 2: one workgroup per (group, channel) merges the stage-1 partials of its
// chunks × HW positions with Chan's formula — a strided sequential merge per thread, then a tree in
// workgroup memory — adds the pilot back to the merged mean, and writes the mean and either M2 or
// the biased variance M2 / count.
struct Params { groups: u32, n: u32, c: u32, hw: u32, chunk: u32, chunks: u32, want_var: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part_mean: array<f32>; // [groups, chunks, c, hw], shifted by pilot
@group(0) @binding(2) var<storage, read> part_m2: array<f32>;
@group(0) @binding(3) var<storage, read> pilot: array<f32>;     // [groups, c]
@group(0) @binding(4) var<storage, read_write> out_mean: array<f32>; // [groups, c]
@group(0) @binding(5) var<storage, read_write> out_m2: array<f32>;   // [groups, c]: M2 or var

var<workgroup> wg_count: array<f32, WG>;
var<workgroup> wg_mean: array<f32, WG>;
var<workgroup> wg_m2: array<f32, WG>;

struct Moments { count: f32, mean: f32, m2: f32 }

fn chan(a: Moments, b: Moments) -> Moments {
  let count = a.count + b.count;
  if (b.count == 0.0) { return a; }
  if (a.count == 0.0) { return b; }
  let delta = b.mean - a.mean;
  let wb = b.count / count;
  return Moments(count, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * a.count * wb);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gc = flat_workgroup(wid, nwg);
  // Uniform per workgroup, so the early return keeps barriers in uniform control flow.
  if (gc >= params.groups * params.c) { return; }
  let g = gc / params.c;
  let ch = gc % params.c;
  let width = params.c * params.hw;
  let items = params.chunks * params.hw;
  var acc = Moments(0.0, 0.0, 0.0);
  for (var t = lid; t < items; t += WG) {
    let k = t / params.hw;
    let p = t % params.hw;
    let at = (g * params.chunks + k) * width + ch * params.hw + p;
    let count = f32(min(params.chunk, params.n - k * params.chunk));
    acc = chan(acc, Moments(count, part_mean[at], part_m2[at]));
  }
  wg_count[lid] = acc.count;
  wg_mean[lid] = acc.mean;
  wg_m2[lid] = acc.m2;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let merged = chan(Moments(wg_count[lid], wg_mean[lid], wg_m2[lid]),
                        Moments(wg_count[lid + stride], wg_mean[lid + stride], wg_m2[lid + stride]));
      wg_count[lid] = merged.count;
      wg_mean[lid] = merged.mean;
      wg_m2[lid] = merged.m2;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    out_mean[gc] = pilot[gc] + wg_mean[0];
    out_m2[gc] = select(wg_m2[0], wg_m2[0] / wg_count[0], params.want_var != 0u);
  }
}
