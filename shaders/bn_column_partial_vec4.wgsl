// BN statistics, stage 1, for width = C·HW divisible by 4: bn_column_partial with each thread owning
// four adjacent columns as a vec4 (16-byte loads and 4-wide math, which CPU-backed adapters such as
// SwiftShader execute as SIMD). Same outputs and layout as the scalar kernel.
struct Params { groups: u32, n: u32, width4: u32, chunk: u32, chunks: u32, blocks: u32, c: u32, hw: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;         // [groups, n, width / 4]
@group(0) @binding(2) var<storage, read> pilot: array<f32>;           // [groups, c]
@group(0) @binding(3) var<storage, read_write> part_mean: array<vec4<f32>>; // [groups, chunks, width / 4], shifted
@group(0) @binding(4) var<storage, read_write> part_m2: array<vec4<f32>>;   // [groups, chunks, width / 4]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let cell = column_cell(wid, nwg, lid, params.blocks, params.chunks);
  let g = cell.g;
  let k = cell.chunk;
  let j4 = cell.col;
  if (g >= params.groups || j4 >= params.width4) { return; }
  let w4 = params.width4;
  let col = j4 * 4u;
  let pc = g * params.c;
  let shift = vec4<f32>(pilot[pc + col / params.hw], pilot[pc + (col + 1u) / params.hw],
                        pilot[pc + (col + 2u) / params.hw], pilot[pc + (col + 3u) / params.hw]);
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.n);
  var at = (g * params.n + r0) * w4 + j4;
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  for (var r = r0; r < r1; r++) {
    let d = x[at] - shift;
    s1 += d;
    s2 += d * d;
    at += w4;
  }
  let count = f32(r1 - r0);
  let out = (g * params.chunks + k) * w4 + j4;
  part_mean[out] = s1 / count;
  part_m2[out] = max(s2 - s1 * s1 / count, vec4<f32>(0.0));
}
