// matmul_direct for C = alpha · A · Bᵀ (+ bias) with A [m, k] and B [n, k] both row-major and k, lda,
// ldb, a_off divisible by 4 (Linear forward, InfoNCE logits): rows are read as vec4 along k, so each
// thread's 4×4 block needs 8 vector loads per 4 steps of k instead of 32 scalar ones.
struct Params { m: u32, n: u32, k4: u32, lda4: u32, ldb4: u32, ldc: u32, a_off4: u32, c_off: u32, has_bias: u32, blocks_n: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [n], unused when has_bias = 0
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn store_row(row: u32, col0: u32, v: vec4<f32>) {
  if (row >= params.m) { return; }
  for (var jj = 0u; jj < 4u; jj++) {
    let col = col0 + jj;
    if (col >= params.n) { return; }
    var out = params.alpha * v[jj];
    if (params.has_bias != 0u) { out += bias[col]; }
    c[params.c_off + row * params.ldc + col] = out;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wid, nwg, lid);
  let blocks_m = (params.m + 3u) / 4u;
  if (t >= blocks_m * params.blocks_n) { return; }
  let row0 = (t / params.blocks_n) * 4u;
  let col0 = (t % params.blocks_n) * 4u;
  // Rows and columns past the edge are clamped on load and skipped on store.
  let a0 = params.a_off4 + row0 * params.lda4;
  let a1 = params.a_off4 + min(row0 + 1u, params.m - 1u) * params.lda4;
  let a2 = params.a_off4 + min(row0 + 2u, params.m - 1u) * params.lda4;
  let a3 = params.a_off4 + min(row0 + 3u, params.m - 1u) * params.lda4;
  let b0 = col0 * params.ldb4;
  let b1 = min(col0 + 1u, params.n - 1u) * params.ldb4;
  let b2 = min(col0 + 2u, params.n - 1u) * params.ldb4;
  let b3 = min(col0 + 3u, params.n - 1u) * params.ldb4;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var kk = 0u; kk < params.k4; kk++) {
    let w0 = b[b0 + kk];
    let w1 = b[b1 + kk];
    let w2 = b[b2 + kk];
    let w3 = b[b3 + kk];
    let x0 = a[a0 + kk];
    let x1 = a[a1 + kk];
    let x2 = a[a2 + kk];
    let x3 = a[a3 + kk];
    acc0 += vec4<f32>(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
    acc1 += vec4<f32>(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
    acc2 += vec4<f32>(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
    acc3 += vec4<f32>(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
  }
  store_row(row0, col0, acc0);
  store_row(row0 + 1u, col0, acc1);
  store_row(row0 + 2u, col0, acc2);
  store_row(row0 + 3u, col0, acc3);
}
