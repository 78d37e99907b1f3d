/**
 * Dense kernels, row-major, PyTorch Linear layout (w is [out, in]). Sums are float64.
 * Forward is a row-by-row dot product (both operands are contiguous along the reduced axis), blocked
 * over ROW_BLOCK rows of x so that every row of w is read once per block instead of once per row.
 * Backward uses i-k-j order into a Float64Array accumulator row, so the inner loop is contiguous.
 */
import type { Real } from './tensor.ts';

/** Rows of the left operand processed together in the forward product (w rows are reused this often). */
const ROW_BLOCK = 4;

/** out[N, M] = a[N, D] · b[M, D]ᵀ (+ bias[M]). */
export function matmulNTKernel(a: Real, b: Real, rows: number, cols: number, depth: number, bias: Real | null, out: Real): void {
  let r = 0;
  for (; r + ROW_BLOCK <= rows; r += ROW_BLOCK) {
    const a0 = r * depth;
    const a1 = a0 + depth;
    const a2 = a1 + depth;
    const a3 = a2 + depth;
    for (let j = 0; j < cols; j++) {
      const bj = j * depth;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < depth; k++) {
        const w = b[bj + k]!;
        s0 += a[a0 + k]! * w;
        s1 += a[a1 + k]! * w;
        s2 += a[a2 + k]! * w;
        s3 += a[a3 + k]! * w;
      }
      const bv = bias ? bias[j]! : 0;
      out[r * cols + j] = s0 + bv;
      out[(r + 1) * cols + j] = s1 + bv;
      out[(r + 2) * cols + j] = s2 + bv;
      out[(r + 3) * cols + j] = s3 + bv;
    }
  }
  for (; r < rows; r++) {
    const ar = r * depth;
    for (let j = 0; j < cols; j++) {
      const bj = j * depth;
      let s = 0;
      for (let k = 0; k < depth; k++) s += a[ar + k]! * b[bj + k]!;
      out[r * cols + j] = s + (bias ? bias[j]! : 0);
    }
  }
}

/** dx[N, in] = dy[N, out] · w[out, in]. */
export function linearDxKernel(dy: Real, w: Real, rows: number, outDim: number, inDim: number, dx: Real): void {
  const acc = new Float64Array(inDim);
  for (let r = 0; r < rows; r++) {
    acc.fill(0);
    for (let o = 0; o < outDim; o++) {
      const g = dy[r * outDim + o]!;
      const wo = o * inDim;
      for (let i = 0; i < inDim; i++) acc[i] += g * w[wo + i]!;
    }
    dx.set(acc, r * inDim);
  }
}

/** dw[out, in] = dy[N, out]ᵀ · x[N, in]; db[out] = Σ_N dy. */
export function linearDwKernel(dy: Real, x: Real, rows: number, outDim: number, inDim: number, dw: Real, db: Real | null): void {
  const acc = new Float64Array(inDim);
  for (let o = 0; o < outDim; o++) {
    acc.fill(0);
    let bias = 0;
    for (let r = 0; r < rows; r++) {
      const g = dy[r * outDim + o]!;
      bias += g;
      const xr = r * inDim;
      for (let i = 0; i < inDim; i++) acc[i] += g * x[xr + i]!;
    }
    dw.set(acc, o * inDim);
    if (db) db[o] = bias;
  }
}
