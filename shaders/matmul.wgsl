// Tiled matmul: C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] (+ bias[n]), where op transposes when
// TRANS_A / TRANS_B. C is written at c_off with row stride ldc, A is read from a_off with row stride
// lda, so callers can target a column range (InfoNCE logits) or read one (its gradient).
// 64 threads (WG = 64) as 8×8; each computes a 4×4 block of a 32×32 output tile, staging 32×16 slices
// of A and 16×32 slices of B in workgroup memory.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
const TILE_M = 32u;
const TILE_N = 32u;
const TILE_K = 16u;

struct Params { m: u32, n: u32, k: u32, lda: u32, ldb: u32, ldc: u32, a_off: u32, c_off: u32, has_bias: u32, tiles_n: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [n], unused when has_bias = 0
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

var<workgroup> tile_a: array<f32, TILE_K * TILE_M>; // [k][m]
var<workgroup> tile_b: array<f32, TILE_K * TILE_N>; // [k][n]

fn load_a(i: u32, kk: u32) -> f32 {
  if (i >= params.m || kk >= params.k) { return 0.0; }
  if (TRANS_A) { return a[params.a_off + kk * params.lda + i]; }
  return a[params.a_off + i * params.lda + kk];
}

fn load_b(kk: u32, j: u32) -> f32 {
  if (kk >= params.k || j >= params.n) { return 0.0; }
  if (TRANS_B) { return b[j * params.ldb + kk]; }
  return b[kk * params.ldb + j];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let f = flat_workgroup(wid, nwg);
  let tiles_m = (params.m + TILE_M - 1u) / TILE_M;
  if (f >= tiles_m * params.tiles_n) { return; }
  let row0 = (f / params.tiles_n) * TILE_M;
  let col0 = (f % params.tiles_n) * TILE_N;
  let tx = lid % 8u;
  let ty = lid / 8u;
  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
    // Adjacent threads read adjacent memory: along k for a row-major A, along m for a transposed one.
    for (var e = lid; e < TILE_M * TILE_K; e += WG) {
      var mm = e / TILE_K;
      var kk = e % TILE_K;
      if (TRANS_A) { mm = e % TILE_M; kk = e / TILE_M; }
      tile_a[kk * TILE_M + mm] = load_a(row0 + mm, k0 + kk);
    }
    for (var e = lid; e < TILE_K * TILE_N; e += WG) {
      var nn = e % TILE_N;
      var kk = e / TILE_N;
      if (TRANS_B) { nn = e / TILE_K; kk = e % TILE_K; }
      tile_b[kk * TILE_N + nn] = load_b(k0 + kk, col0 + nn);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let bo = kk * TILE_N + tx * 4u;
      let bv = vec4<f32>(tile_b[bo], tile_b[bo + 1u], tile_b[bo + 2u], tile_b[bo + 3u]);
      let ao = kk * TILE_M + ty * 4u;
      acc[0] += tile_a[ao] * bv;
      acc[1] += tile_a[ao + 1u] * bv;
      acc[2] += tile_a[ao + 2u] * bv;
      acc[3] += tile_a[ao + 3u] * bv;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + ty * 4u + i;
    if (row >= params.m) { break; }
    for (var jj = 0u; jj < 4u; jj++) {
      let col = col0 + tx * 4u + jj;
      if (col >= params.n) { break; }
      var v = params.alpha * acc[i][jj];
      if (params.has_bias != 0u) { v += bias[col]; }
      c[params.c_off + row * params.ldc + col] = v;
    }
  }
}
