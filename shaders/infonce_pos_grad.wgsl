// In place: dq[r, :] += grad[r, 0] · k⁺[r, :] (the positive key's share of the InfoNCE gradient).
struct Params { rows: u32, d: u32, cols: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;  // [rows, cols]
@group(0) @binding(2) var<storage, read> k_pos: array<f32>; // [rows, d]
@group(0) @binding(3) var<storage, read_write> dq: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.d) { return; }
  dq[i] += grad[(i / params.d) * params.cols] * k_pos[i];
}
