// In place, PyTorch SGD: g = grad + wd·p; v = momentum·v + g; p -= lr·v.
struct Params { n: u32, lr: f32, momentum: f32, weight_decay: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  let p = param[i];
  let g = grad[i] + params.weight_decay * p;
  let v = params.momentum * velocity[i] + g;
  velocity[i] = v;
  param[i] = p - params.lr * v;
}
