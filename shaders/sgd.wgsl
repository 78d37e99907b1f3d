// In place, PyTorch SGD: g = grad + wd·p; v = momentum·v + g; p -= lr·v.
// Four elements per thread (vec4): tensor buffers are padded to 16 bytes (buffer-pool.ts), so the
// last vec4 may touch padding, which no tensor reads.
struct Params { n4: u32, lr: f32, momentum: f32, weight_decay: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> velocity: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.n4) { return; }
  let p = param[i];
  let g = grad[i] + params.weight_decay * p;
  let v = params.momentum * velocity[i] + g;
  velocity[i] = v;
  param[i] = p - params.lr * v;
}
