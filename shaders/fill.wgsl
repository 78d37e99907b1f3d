// out[i] = bit pattern `value` (zeros, or a sentinel such as 0xbaadf00d in tests).
// Four elements per thread (vec4): tensor buffers are padded to 16 bytes (buffer-pool.ts), so the
// last vec4 may touch padding, which no tensor reads.
struct Params { n4: u32, value: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<u32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.n4) { return; }
  out[i] = vec4<u32>(params.value);
}
