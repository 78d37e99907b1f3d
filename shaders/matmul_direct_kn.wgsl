// matmul_direct for B stored row-major [k, n] with n, ldb divisible by 4 (Linear backward: dX = dY·W,
// dW = dYᵀ·X): each step of k reads the thread's 4 columns of B as one vec4 and its 4 values of
// op(A) — contiguous too when TRANS_A — then does 16 multiply-adds. Fewer index computations and
// bound checks per multiply-add than the scalar matmul_direct.
override TRANS_A: bool = false;
// Two vec4s of columns per thread (a 4×8 block, n % 8 = 0): 32 multiply-adds per step of k for 6
// loads instead of 16 for 5. On SwiftShader each load is a per-lane gather with a bounds check, so
// loads, not arithmetic, set the time (Linear backward 64×512 / 512×512: dx 33 → 24 ms here).
override WIDE: bool = false;

struct Params { m: u32, n: u32, k: u32, lda: u32, ldb4: u32, ldc: u32, a_off: u32, c_off: u32, has_bias: u32, blocks_n: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [n], unused when has_bias = 0
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn store_row(row: u32, col0: u32, v: vec4<f32>) {
  if (row >= params.m) { return; }
  for (var jj = 0u; jj < 4u; jj++) {
    let col = col0 + jj;
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
  var col4 = t % params.blocks_n; // n % 4 = 0 (n % 8 = 0 when WIDE): the columns are always in range
  if (WIDE) { col4 *= 2u; }
  // Rows past the edge are clamped on load and skipped on store.
  let r1 = min(row0 + 1u, params.m - 1u);
  let r2 = min(row0 + 2u, params.m - 1u);
  let r3 = min(row0 + 3u, params.m - 1u);
  // Element stride along k and offset of each row's first element in a.
  var step = 1u;
  var o0 = params.a_off + row0 * params.lda;
  var o1 = params.a_off + r1 * params.lda;
  var o2 = params.a_off + r2 * params.lda;
  var o3 = params.a_off + r3 * params.lda;
  if (TRANS_A) {
    step = params.lda;
    o0 = params.a_off + row0;
    o1 = params.a_off + r1;
    o2 = params.a_off + r2;
    o3 = params.a_off + r3;
  }
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var acc4 = vec4<f32>(0.0);
  var acc5 = vec4<f32>(0.0);
  var acc6 = vec4<f32>(0.0);
  var acc7 = vec4<f32>(0.0);
  var bi = col4;
  var ak = 0u;
  for (var kk = 0u; kk < params.k; kk++) {
    let bv = b[bi];
    let x0 = a[o0 + ak];
    let x1 = a[o1 + ak];
    let x2 = a[o2 + ak];
    let x3 = a[o3 + ak];
    acc0 += x0 * bv;
    acc1 += x1 * bv;
    acc2 += x2 * bv;
    acc3 += x3 * bv;
    if (WIDE) {
      let bw = b[bi + 1u];
      acc4 += x0 * bw;
      acc5 += x1 * bw;
      acc6 += x2 * bw;
      acc7 += x3 * bw;
    }
    bi += params.ldb4;
    ak += step;
  }
  store_row(row0, col4 * 4u, acc0);
  store_row(row0 + 1u, col4 * 4u, acc1);
  store_row(row0 + 2u, col4 * 4u, acc2);
  store_row(row0 + 3u, col4 * 4u, acc3);
  if (WIDE) {
    store_row(row0, col4 * 4u + 4u, acc4);
    store_row(row0 + 1u, col4 * 4u + 4u, acc5);
    store_row(row0 + 2u, col4 * 4u + 4u, acc6);
    store_row(row0 + 3u, col4 * 4u + 4u, acc7);
  }
}
