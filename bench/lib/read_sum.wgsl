// Read-only bandwidth probe of bench:kernels: every element of x is read exactly once and summed, so
// its time is what reading the tensor costs a shader on this adapter (the floor a BatchNorm
// statistics pass could reach). Each workgroup sums one contiguous chunk of x (its threads reading
// neighbouring vec4s on every iteration, which suits a GPU and a CPU-backed adapter alike) and every
// thread writes its own partial sum: no workgroup barrier, which a CPU-backed adapter (SwiftShader)
// pays dearly for. The host adds the partials in float64 and checks them against a float64 sum
// before any figure is printed.

override WG: u32 = 256;

struct Params {
  // Number of vec4s in x (the bench uses sizes divisible by 4).
  n4: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// [n4] vec4s: the tensor being read.
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
// [workgroups · WG] partial sums, one per thread.
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let chunk = (params.n4 + groups.x - 1u) / groups.x;
  let end = min((wid.x + 1u) * chunk, params.n4);
  var acc = vec4<f32>(0.0);
  for (var i = wid.x * chunk + lid.x; i < end; i += WG) {
    acc += x[i];
  }
  partial[wid.x * WG + lid.x] = acc.x + acc.y + acc.z + acc.w;
}
