// The producer's side of borrowed statistics: dx = dmean[g,c]/M + dvar[g,c]·2(x − mean[g,c])/M, M = n·hw.
struct Params { total: u32, c: u32, hw: u32, group_size: u32, count: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;  // [groups, c]
@group(0) @binding(3) var<storage, read> dmean: array<f32>; // [groups, c]
@group(0) @binding(4) var<storage, read> dvar: array<f32>;  // [groups, c]
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.total) { return; }
  let ch = (i / params.hw) % params.c;
  let gc = (i / params.group_size) * params.c + ch;
  dx[i] = (dmean[gc] + dvar[gc] * 2.0 * (x[i] - mean[gc])) / params.count;
}
