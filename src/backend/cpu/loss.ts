/** L2 normalisation and the MoCo InfoNCE loss, row-major, float64 sums. */
import { linearDxKernel, matmulNTKernel } from './dense.ts';
import type { Real } from './tensor.ts';

/** Norm floor of F.normalize: y = x / max(‖x‖, L2_EPS). */
export const L2_EPS = 1e-12;

function rowNorm(x: Real, start: number, len: number): number {
  let s = 0;
  for (let k = 0; k < len; k++) {
    const v = x[start + k]!;
    s += v * v;
  }
  return Math.sqrt(s);
}

/**
 * y[r] = x[r] / max(‖x[r]‖₂, 1e-12) for x [rows, dim]. A row holding NaN or ±Inf becomes all NaN (its
 * norm is not finite; float64 squares of float32 values cannot overflow), as on WebGPU.
 */
export function l2NormalizeKernel(x: Real, rows: number, dim: number, out: Real): void {
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    const norm = rowNorm(x, base, dim);
    const denom = Number.isFinite(norm) ? Math.max(norm, L2_EPS) : NaN;
    for (let k = 0; k < dim; k++) out[base + k] = x[base + k]! / denom;
  }
}

/**
 * dx for y = x / max(‖x‖, eps): with ‖x‖ ≥ eps, dx = (dy − y·(y·dy)) / ‖x‖; below the floor the
 * denominator is the constant eps (PyTorch's clamp_min passes no gradient there), so dx = dy / eps.
 */
export function l2NormalizeBackwardKernel(dy: Real, x: Real, rows: number, dim: number, dx: Real): void {
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    const norm = rowNorm(x, base, dim);
    if (!Number.isFinite(norm)) {
      for (let k = 0; k < dim; k++) dx[base + k] = NaN;
      continue;
    }
    if (norm < L2_EPS) {
      for (let k = 0; k < dim; k++) dx[base + k] = dy[base + k]! / L2_EPS;
      continue;
    }
    // y·dy with y = x/‖x‖
    let dot = 0;
    for (let k = 0; k < dim; k++) dot += x[base + k]! * dy[base + k]!;
    dot /= norm;
    for (let k = 0; k < dim; k++) dx[base + k] = (dy[base + k]! - (x[base + k]! / norm) * dot) / norm;
  }
}

/**
 * Logits [N, 1 + K]: column 0 = q·k⁺ / T, columns 1..K = q·queueᵀ / T. Returns the mean cross-entropy
 * with target 0 (log-sum-exp with the row max subtracted) and how many rows have logit 0 strictly largest.
 */
export function infoNceKernel(
  q: Real, kPos: Real, queue: Real, rows: number, dim: number, queueRows: number, temperature: number, logits: Real,
): { loss: number; correct: number } {
  const width = 1 + queueRows;
  // Negatives q·queueᵀ via the blocked product, kept in float64 until divided by T.
  const negatives = new Float64Array(rows * queueRows);
  matmulNTKernel(q, queue, rows, queueRows, dim, null, negatives);
  for (let r = 0; r < rows; r++) {
    const qr = r * dim;
    const lr = r * width;
    let pos = 0;
    for (let k = 0; k < dim; k++) pos += q[qr + k]! * kPos[qr + k]!;
    logits[lr] = pos / temperature;
    for (let j = 0; j < queueRows; j++) logits[lr + 1 + j] = negatives[r * queueRows + j]! / temperature;
  }
  return crossEntropyTarget0(logits, rows, width);
}

/**
 * Mean cross-entropy with target 0 over logits [rows, width] (log-sum-exp with the row max subtracted)
 * and how many rows have logit 0 strictly largest. Reads the stored (possibly float32-rounded) logits,
 * so loss, accuracy and backward agree.
 */
export function crossEntropyTarget0(logits: Real, rows: number, width: number): { loss: number; correct: number } {
  let lossSum = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const lr = r * width;
    const positive = logits[lr]!;
    let max = positive;
    let maxNegative = -Infinity;
    for (let j = 1; j < width; j++) {
      const v = logits[lr + j]!;
      if (v > max) max = v;
      if (v > maxNegative) maxNegative = v;
    }
    let sumExp = 0;
    for (let j = 0; j < width; j++) sumExp += Math.exp(logits[lr + j]! - max);
    lossSum += max + Math.log(sumExp) - positive;
    if (positive > maxNegative) correct++;
  }
  return { loss: rows === 0 ? 0 : lossSum / rows, correct };
}

/**
 * dq of the mean loss: with p = softmax(logits[r]) and g = (p − e₀)/N,
 * dq[r] = (g₀·k⁺[r] + Σ_j g_{1+j}·queue[j]) / T.
 */
export function infoNceBackwardKernel(
  logits: Real, kPos: Real, queue: Real, rows: number, dim: number, queueRows: number, temperature: number, dq: Real,
): void {
  const { gPos, gNeg } = infoNceLogitGrads(logits, rows, queueRows, temperature);
  linearDxKernel(gNeg, queue, rows, queueRows, dim, dq);
  for (let r = 0; r < rows; r++) {
    const g0 = gPos[r]!;
    for (let k = 0; k < dim; k++) dq[r * dim + k] = dq[r * dim + k]! + g0 * kPos[r * dim + k]!;
  }
}

/**
 * Gradients of the mean InfoNCE loss w.r.t. q·k⁺ (gPos [rows]) and q·queueᵀ (gNeg [rows, K]), already
 * divided by T: with p = softmax(logits[r]), g = (p − e₀) / (N·T). Float64, so the softmax is not
 * rounded before the product with the keys.
 */
export function infoNceLogitGrads(
  logits: Real, rows: number, queueRows: number, temperature: number,
): { gPos: Float64Array; gNeg: Float64Array } {
  const width = 1 + queueRows;
  const scale = 1 / (rows * temperature);
  const gNeg = new Float64Array(rows * queueRows);
  const gPos = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const lr = r * width;
    let max = -Infinity;
    for (let j = 0; j < width; j++) max = Math.max(max, logits[lr + j]!);
    let sumExp = 0;
    for (let j = 0; j < width; j++) sumExp += Math.exp(logits[lr + j]! - max);
    gPos[r] = (Math.exp(logits[lr]! - max) / sumExp - 1) * scale;
    for (let j = 0; j < queueRows; j++) gNeg[r * queueRows + j] = (Math.exp(logits[lr + 1 + j]! - max) / sumExp) * scale;
  }
  return { gPos, gNeg };
}
