// Float32 matrix product with 128-bit SIMD, the one kernel behind every dense op of the wasm backend.
//
//   C[i, j] = bias[j] + Σ_k A(i, k) · B[k, j]      i < m, j < n, k < depth
//
// A is read one scalar at a time through two strides (elements), so the same code serves A and Aᵀ:
// A(i, k) = a[i·strideI + k·strideK]. B is row-major [depth, ldb] and C row-major [m, ldc]: both are
// contiguous along j, which is the vector axis. Each step of the k loop broadcasts 4 values of A and
// multiplies them into a 4 × 8 tile of C held in 8 vector registers (8 accumulators + 2 B vectors +
// 1 broadcast fit the 16 SIMD registers of x86-64 and arm64). The loop over row tiles runs inside the
// loop over column tiles, so one strip of B (KC × 8 floats) stays in L1 while all rows pass; when a
// whole k-chunk of B fits in L1 (a batch's activations against a big matrix), rows go outside instead,
// so the big operand A streams through once. k runs in chunks of KC, with the partial sums kept in C.
// Sums are float32 in k order (chunking does not change the order), as a GPU or PyTorch's float32
// CPU path accumulates.

/** Columns of C per vector tile (two 4-lane vectors). */
const TILE_J: i32 = 8;
/** Rows of C per tile. */
const TILE_I: i32 = 4;
/** k per chunk: a strip of B (KC × TILE_J floats = 8 KiB) stays in a 32 KiB L1 with room for A. */
const KC: i32 = 256;
/** A k-chunk of B at most this size (bytes) is kept whole in L1 and swept once per row tile. */
const SMALL_B_BYTES: i32 = 32 * 1024;

/** Starting value of 4 columns of C: the bias (or 0) on the first k-chunk, else the partial sums in C. */
@inline function initVec(bias: usize, first: bool, pc: usize, j: i32): v128 {
  if (!first) return v128.load(pc);
  return bias == 0 ? f32x4.splat(0) : v128.load(bias + (<usize>j << 2));
}

/** Rows [i0, i0 + 4) × columns [j, j + 8). */
@inline function tile4x8(
  depth: i32, a: usize, strideI: i32, strideK: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, first: bool, i0: i32, j: i32,
): void {
  const sc = <usize>ldc << 2;
  const pc0 = c + ((<usize>i0 * <usize>ldc + <usize>j) << 2);
  let c00 = initVec(bias, first, pc0, j), c01 = initVec(bias, first, pc0 + 16, j + 4);
  let c10 = initVec(bias, first, pc0 + sc, j), c11 = initVec(bias, first, pc0 + sc + 16, j + 4);
  let c20 = initVec(bias, first, pc0 + 2 * sc, j), c21 = initVec(bias, first, pc0 + 2 * sc + 16, j + 4);
  let c30 = initVec(bias, first, pc0 + 3 * sc, j), c31 = initVec(bias, first, pc0 + 3 * sc + 16, j + 4);
  const si = <usize>strideI << 2;
  const sk = <usize>strideK << 2;
  const sb = <usize>ldb << 2;
  let pa = a + (<usize>i0 * <usize>strideI << 2);
  let pb = b + (<usize>j << 2);
  for (let k = 0; k < depth; k++) {
    const v0 = v128.load(pb);
    const v1 = v128.load(pb, 16);
    let s = v128.load32_splat(pa);
    c00 = f32x4.add(c00, f32x4.mul(s, v0));
    c01 = f32x4.add(c01, f32x4.mul(s, v1));
    s = v128.load32_splat(pa + si);
    c10 = f32x4.add(c10, f32x4.mul(s, v0));
    c11 = f32x4.add(c11, f32x4.mul(s, v1));
    s = v128.load32_splat(pa + 2 * si);
    c20 = f32x4.add(c20, f32x4.mul(s, v0));
    c21 = f32x4.add(c21, f32x4.mul(s, v1));
    s = v128.load32_splat(pa + 3 * si);
    c30 = f32x4.add(c30, f32x4.mul(s, v0));
    c31 = f32x4.add(c31, f32x4.mul(s, v1));
    pa += sk;
    pb += sb;
  }
  let pc = pc0;
  v128.store(pc, c00); v128.store(pc, c01, 16); pc += sc;
  v128.store(pc, c10); v128.store(pc, c11, 16); pc += sc;
  v128.store(pc, c20); v128.store(pc, c21, 16); pc += sc;
  v128.store(pc, c30); v128.store(pc, c31, 16);
}

/** One row i × columns [j, j + 4): the leftover rows and the 4-wide column remainder. */
@inline function row1x4(
  depth: i32, a: usize, strideI: i32, strideK: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, first: bool, i: i32, j: i32,
): void {
  const pc = c + ((<usize>i * <usize>ldc + <usize>j) << 2);
  let acc = initVec(bias, first, pc, j);
  let pa = a + (<usize>i * <usize>strideI << 2);
  let pb = b + (<usize>j << 2);
  const sk = <usize>strideK << 2;
  const sb = <usize>ldb << 2;
  for (let k = 0; k < depth; k++) {
    acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(pa), v128.load(pb)));
    pa += sk;
    pb += sb;
  }
  v128.store(pc, acc);
}

/** One element (the last n mod 4 columns). */
@inline function scalar1x1(
  depth: i32, a: usize, strideI: i32, strideK: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, first: bool, i: i32, j: i32,
): void {
  const pc = c + ((<usize>i * <usize>ldc + <usize>j) << 2);
  let acc: f32 = !first ? load<f32>(pc) : bias == 0 ? 0 : load<f32>(bias + (<usize>j << 2));
  let pa = a + (<usize>i * <usize>strideI << 2);
  let pb = b + (<usize>j << 2);
  const sk = <usize>strideK << 2;
  const sb = <usize>ldb << 2;
  for (let k = 0; k < depth; k++) {
    acc += load<f32>(pa) * load<f32>(pb);
    pa += sk;
    pb += sb;
  }
  store<f32>(pc, acc);
}

/** C[m, n] = A(m × depth) · B[depth, n] (+ bias[n] when bias ≠ 0). Pointers are byte offsets. */
export function gemm(
  m: i32, n: i32, depth: i32, a: usize, strideI: i32, strideK: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize,
): void {
  let k0 = 0;
  do {
    const kn = min(KC, depth - k0);
    const ak = a + (<usize>k0 * <usize>strideK << 2);
    const bk = b + (<usize>k0 * <usize>ldb << 2);
    chunk(m, n, kn, ak, strideI, strideK, bk, ldb, c, ldc, bias, k0 == 0);
    k0 += KC;
  } while (k0 < depth);
}

/** One k-chunk of the product into C (first: start from the bias, else add to C). */
function chunk(
  m: i32, n: i32, kn: i32, a: usize, strideI: i32, strideK: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, first: bool,
): void {
  const jVec = n - n % TILE_J;
  if (kn * n * 4 <= SMALL_B_BYTES) {
    let i = 0;
    for (; i + TILE_I <= m; i += TILE_I) {
      for (let j = 0; j < jVec; j += TILE_J) tile4x8(kn, a, strideI, strideK, b, ldb, c, ldc, bias, first, i, j);
    }
    for (; i < m; i++) {
      for (let j = 0; j < jVec; j += 4) row1x4(kn, a, strideI, strideK, b, ldb, c, ldc, bias, first, i, j);
    }
  } else {
    for (let j = 0; j < jVec; j += TILE_J) {
      let i = 0;
      for (; i + TILE_I <= m; i += TILE_I) tile4x8(kn, a, strideI, strideK, b, ldb, c, ldc, bias, first, i, j);
      for (; i < m; i++) {
        row1x4(kn, a, strideI, strideK, b, ldb, c, ldc, bias, first, i, j);
        row1x4(kn, a, strideI, strideK, b, ldb, c, ldc, bias, first, i, j + 4);
      }
    }
  }
  let j = jVec;
  for (; j + 4 <= n; j += 4) {
    for (let i = 0; i < m; i++) row1x4(kn, a, strideI, strideK, b, ldb, c, ldc, bias, first, i, j);
  }
  for (; j < n; j++) {
    for (let i = 0; i < m; i++) scalar1x1(kn, a, strideI, strideK, b, ldb, c, ldc, bias, first, i, j);
  }
}

/** out[cols, rows] = inᵀ for in [rows, cols] (puts the B operand of an A·Bᵀ product in k-major order). */
export function transpose(src: usize, rows: i32, cols: i32, dst: usize): void {
  // 4 × 4 blocks: four row loads, a 4 × 4 shuffle, four column stores.
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let c = 0;
    const s0 = src + (<usize>r * <usize>cols << 2);
    const sc = <usize>cols << 2;
    const dr = <usize>rows << 2;
    for (; c + 4 <= cols; c += 4) {
      const p = s0 + (<usize>c << 2);
      const x0 = v128.load(p);
      const x1 = v128.load(p + sc);
      const x2 = v128.load(p + 2 * sc);
      const x3 = v128.load(p + 3 * sc);
      const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
      const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
      const q = dst + ((<usize>c * <usize>rows + <usize>r) << 2);
      v128.store(q, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
      v128.store(q + dr, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
      v128.store(q + 2 * dr, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
      v128.store(q + 3 * dr, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
    }
    for (; c < cols; c++) {
      for (let k = 0; k < 4; k++) {
        store<f32>(dst + ((<usize>c * <usize>rows + <usize>(r + k)) << 2), load<f32>(src + ((<usize>(r + k) * <usize>cols + <usize>c) << 2)));
      }
    }
  }
  for (; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      store<f32>(dst + ((<usize>c * <usize>rows + <usize>r) << 2), load<f32>(src + ((<usize>r * <usize>cols + <usize>c) << 2)));
    }
  }
}
