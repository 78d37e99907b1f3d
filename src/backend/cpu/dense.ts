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

/**
 * dx[N, in] = dy[N, out] · w[out, in], computed as dy · (wᵀ)ᵀ with the blocked dot-product kernel:
 * the transpose costs out·in copies, small next to the N·out·in multiply-adds it makes contiguous.
 */
export function linearDxKernel(dy: Real, w: Real, rows: number, outDim: number, inDim: number, dx: Real): void {
  const wt = w instanceof Float64Array ? new Float64Array(w.length) : new Float32Array(w.length);
  for (let o = 0; o < outDim; o++) {
    for (let i = 0; i < inDim; i++) wt[i * outDim + o] = w[o * inDim + i]!;
  }
  matmulNTKernel(dy, wt, rows, inDim, outDim, null, dx);
}

/** dw[out, in] = dy[N, out]ᵀ · x[N, in]; db[out] = Σ_N dy. ROW_BLOCK rows of x per pass over the accumulator. */
export function linearDwKernel(dy: Real, x: Real, rows: number, outDim: number, inDim: number, dw: Real, db: Real | null): void {
  const acc = new Float64Array(inDim);
  for (let o = 0; o < outDim; o++) {
    acc.fill(0);
    let bias = 0;
    let r = 0;
    for (; r + ROW_BLOCK <= rows; r += ROW_BLOCK) {
      const g0 = dy[r * outDim + o]!;
      const g1 = dy[(r + 1) * outDim + o]!;
      const g2 = dy[(r + 2) * outDim + o]!;
      const g3 = dy[(r + 3) * outDim + o]!;
      bias += g0 + g1 + g2 + g3;
      const x0 = r * inDim;
      const x1 = x0 + inDim;
      const x2 = x1 + inDim;
      const x3 = x2 + inDim;
      for (let i = 0; i < inDim; i++) acc[i] += g0 * x[x0 + i]! + g1 * x[x1 + i]! + g2 * x[x2 + i]! + g3 * x[x3 + i]!;
    }
    for (; r < rows; r++) {
      const g = dy[r * outDim + o]!;
      bias += g;
      const xr = r * inDim;
      for (let i = 0; i < inDim; i++) acc[i] += g * x[xr + i]!;
    }
    dw.set(acc, o * inDim);
    if (db) db[o] = bias;
  }
}
