// Register-blocked matmul without workgroup memory, for CPU-backed adapters (SwiftShader), where
// barriers are expensive and caches already do what shared-memory tiles do on a GPU. Same contract
// as matmul.wgsl: C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] (+ bias[n]), A from a_off with row
// stride lda, C at c_off with row stride ldc. One thread per 4×4 block of C; rows and columns past
// the edge are clamped on load and skipped on store.
override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Params { m: u32, n: u32, k: u32, lda: u32, ldb: u32, ldc: u32, a_off: u32, c_off: u32, has_bias: u32, blocks_n: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [n], unused when has_bias = 0
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn load_a(i: u32, kk: u32) -> f32 {
  if (TRANS_A) { return a[params.a_off + kk * params.lda + i]; }
  return a[params.a_off + i * params.lda + kk];
}

fn load_b(kk: u32, j: u32) -> f32 {
  if (TRANS_B) { return b[j * params.ldb + kk]; }
  return b[kk * params.ldb + j];
}

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
  let last_row = params.m - 1u;
  let last_col = params.n - 1u;
  let r0 = row0;
  let r1 = min(row0 + 1u, last_row);
  let r2 = min(row0 + 2u, last_row);
  let r3 = min(row0 + 3u, last_row);
  let c0 = col0;
  let c1 = min(col0 + 1u, last_col);
  let c2 = min(col0 + 2u, last_col);
  let c3 = min(col0 + 3u, last_col);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var kk = 0u; kk < params.k; kk++) {
    let bv = vec4<f32>(load_b(kk, c0), load_b(kk, c1), load_b(kk, c2), load_b(kk, c3));
    acc0 += load_a(r0, kk) * bv;
    acc1 += load_a(r1, kk) * bv;
    acc2 += load_a(r2, kk) * bv;
    acc3 += load_a(r3, kk) * bv;
  }
  store_row(row0, col0, acc0);
  store_row(row0 + 1u, col0, acc1);
  store_row(row0 + 2u, col0, acc2);
  store_row(row0 + 3u, col0, acc3);
}
