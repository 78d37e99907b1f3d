// In place, as PyTorch: running = (1 − momentum)·running + momentum·batch; the variance is unbiased
// first (var · count / (count − 1)).
struct Params { c: u32, momentum: f32, unbias: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.c) { return; }
  let m = params.momentum;
  running_mean[i] = (1.0 - m) * running_mean[i] + m * mean[i];
  running_var[i] = (1.0 - m) * running_var[i] + m * variance[i] * params.unbias;
}
