// In place: a += alpha · b.
// Four elements per thread (vec4): tensor buffers are padded to 16 bytes (buffer-pool.ts), so the
// last vec4 may touch padding, which no tensor reads.
struct Params { n4: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.n4) { return; }
  a[i] = a[i] + params.alpha * b[i];
}
