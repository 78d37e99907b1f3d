/** Dense, normalisation and InfoNCE ops of the WebGPU backend. */
import type { InfoNceResult, LinearBackwardResult, Tensor } from '../backend/backend.ts';
import { assert2d, checkInfoNce, checkInfoNceBackward, checkL2NormalizeBackward, checkLinear, checkLinearBackward, checkMatmulNT } from '../backend/checks.ts';
import { ColumnSumPass } from './passes/dense.ts';
import { InfoNceGradPass, InfoNcePosGradPass, InfoNceReducePass, InfoNceRowsPass, L2NormalizeBackwardPass, L2NormalizePass } from './passes/loss.ts';
import type { GpuRuntime } from './runtime.ts';

/** y[N, out] = x · wᵀ + b. */
export function linear(rt: GpuRuntime, x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  const op = 'linear';
  const xb = rt.buf(op, x);
  const wb = rt.buf(op, w);
  const bb = b ? rt.buf(op, b) : null;
  const { rows, inDim, outDim } = checkLinear(x, w, b);
  const y = rt.alloc(op, [rows, outDim]);
  rt.runMatmul(false, true, { a: xb, b: wb, bias: bb, c: y.buffer, m: rows, n: outDim, k: inDim, lda: inDim, ldb: inDim, ldc: outDim });
  return y;
}

/** dx = dy · w, dw = dyᵀ · x, db = Σ_rows dy. */
export function linearBackward(rt: GpuRuntime, dy: Tensor, x: Tensor, w: Tensor, opts: { needDx: boolean; hasBias: boolean }): LinearBackwardResult {
  const op = 'linearBackward';
  const dyb = rt.buf(op, dy);
  const xb = rt.buf(op, x);
  const wb = rt.buf(op, w);
  const { rows, inDim, outDim } = checkLinearBackward(dy, x, w);
  let dx = null;
  if (opts.needDx) {
    dx = rt.alloc(op, [rows, inDim]);
    rt.runMatmul(false, false, { a: dyb, b: wb, bias: null, c: dx.buffer, m: rows, n: inDim, k: outDim, lda: outDim, ldb: inDim, ldc: inDim });
  }
  const dw = rt.alloc(op, [outDim, inDim]);
  rt.runMatmul(true, false, { a: dyb, b: xb, bias: null, c: dw.buffer, m: outDim, n: inDim, k: rows, lda: outDim, ldb: inDim, ldc: inDim });
  let db = null;
  if (opts.hasBias) {
    db = rt.alloc(op, [outDim]);
    rt.pass(ColumnSumPass).run(dyb, db.buffer, rows, outDim);
  }
  return { dx, dw, db };
}

/** c[N, M] = a[N, D] · b[M, D]ᵀ. */
export function matmulNT(rt: GpuRuntime, a: Tensor, b: Tensor): Tensor {
  const op = 'matmulNT';
  const ab = rt.buf(op, a);
  const bb = rt.buf(op, b);
  const { rows, cols, depth } = checkMatmulNT(a, b);
  const c = rt.alloc(op, [rows, cols]);
  rt.runMatmul(false, true, { a: ab, b: bb, bias: null, c: c.buffer, m: rows, n: cols, k: depth, lda: depth, ldb: depth, ldc: cols });
  return c;
}

export function l2Normalize(rt: GpuRuntime, x: Tensor): Tensor {
  const op = 'l2Normalize';
  const xb = rt.buf(op, x);
  const [rows, dim] = assert2d(op, x, 'x');
  const y = rt.alloc(op, x.shape);
  rt.pass(L2NormalizePass).run(xb, y.buffer, rows, dim);
  return y;
}

export function l2NormalizeBackward(rt: GpuRuntime, dy: Tensor, x: Tensor): Tensor {
  const op = 'l2NormalizeBackward';
  const dyb = rt.buf(op, dy);
  const xb = rt.buf(op, x);
  const [rows, dim] = checkL2NormalizeBackward(dy, x);
  const dx = rt.alloc(op, x.shape);
  rt.pass(L2NormalizeBackwardPass).run(dyb, xb, dx.buffer, rows, dim);
  return dx;
}

/** Logits by the tiled matmul (columns 1..K, scaled by 1/T), then per-row log-sum-exp and one reduction. */
export function infoNce(rt: GpuRuntime, q: Tensor, kPos: Tensor, queue: Tensor, temperature: number): InfoNceResult {
  const op = 'infoNce';
  const [qb, kb, queueb] = [rt.buf(op, q), rt.buf(op, kPos), rt.buf(op, queue)];
  const { rows, dim, queueRows } = checkInfoNce(op, q, kPos, queue);
  const width = 1 + queueRows;
  const logits = rt.alloc(op, [rows, width]);
  if (queueRows > 0) {
    rt.runMatmul(false, true, { a: qb, b: queueb, bias: null, c: logits.buffer, m: rows, n: queueRows, k: dim, lda: dim, ldb: dim, ldc: width, cOffset: 1, alpha: 1 / temperature });
  }
  const rowLoss = rt.temp(rows);
  const rowCorrect = rt.temp(rows);
  rt.pass(InfoNceRowsPass).run(qb, kb, logits.buffer, rowLoss, rowCorrect, rows, dim, queueRows, temperature);
  const loss = rt.alloc(op, [1]);
  const correct = rt.alloc(op, [1]);
  rt.pass(InfoNceReducePass).run(rowLoss, rowCorrect, loss.buffer, correct.buffer, rows);
  rt.releaseTemp(rowLoss);
  rt.releaseTemp(rowCorrect);
  return { loss, logits, correct };
}

/** dq = (g[:, 0]·k⁺ + g[:, 1:]·queue) with g = (softmax − e₀)/(N·T). */
export function infoNceBackward(rt: GpuRuntime, logits: Tensor, kPos: Tensor, queue: Tensor, temperature: number): Tensor {
  const op = 'infoNceBackward';
  const [lb, kb, queueb] = [rt.buf(op, logits), rt.buf(op, kPos), rt.buf(op, queue)];
  const { rows, dim, queueRows } = checkInfoNceBackward(logits, kPos, queue);
  const width = 1 + queueRows;
  const grad = rt.temp(rows * width);
  rt.pass(InfoNceGradPass).run(lb, grad, rows, width, 1 / (rows * temperature));
  const dq = rt.alloc(op, [rows, dim]);
  if (queueRows > 0) {
    rt.runMatmul(false, false, { a: grad, b: queueb, bias: null, c: dq.buffer, m: rows, n: dim, k: queueRows, lda: width, ldb: dim, ldc: dim, aOffset: 1 });
  } else if (dq.size > 0) {
    rt.recorder.copyEncoder().clearBuffer(dq.buffer, 0, dq.size * 4);
  }
  rt.pass(InfoNcePosGradPass).run(grad, kb, dq.buffer, rows, dim, width);
  rt.releaseTemp(grad);
  return dq;
}
