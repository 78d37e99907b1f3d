// In place: target = m·target + (1 − m)·source (momentum key encoder).
// Four elements per thread (vec4): tensor buffers are padded to 16 bytes (buffer-pool.ts), so the
// last vec4 may touch padding, which no tensor reads.
struct Params { n4: u32, m: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> target_: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> source: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.n4) { return; }
  target_[i] = params.m * target_[i] + (1.0 - params.m) * source[i];
}
