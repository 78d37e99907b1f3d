/** Dense, normalisation and InfoNCE cases: WebGPU vs the CPU backend. */
import { randn, type Tolerance } from './compare.ts';
import type { CaseFn, KernelHarness } from './harness.ts';

/** Sums of k float32 products: absolute error grows with the magnitude of the whole result. */
const MATMUL_TOL: Tolerance = { rtol: 1e-4, atolFrac: 1e-5 };

function normalizedRows(rows: number, d: number, seed: number): Float32Array {
  const x = randn(rows * d, seed);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[r * d + j]! ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) x[r * d + j]! *= inv;
  }
  return x;
}

export function linearCase(rows: number, inDim: number, outDim: number, seed: number): CaseFn {
  return async (h: KernelHarness) => {
    const { gpu, cpu } = h;
    const x = h.pair(randn(rows * inDim, seed), [rows, inDim]);
    const w = h.pair(randn(outDim * inDim, seed + 1, 0, 0.1), [outDim, inDim]);
    const b = h.pair(randn(outDim, seed + 2), [outDim]);
    const dy = h.pair(randn(rows * outDim, seed + 3), [rows, outDim]);
    await h.check('linear with bias', gpu.linear(x.g, w.g, b.g), cpu.linear(x.c, w.c, b.c), MATMUL_TOL);
    await h.check('linear without bias', gpu.linear(x.g, w.g, null), cpu.linear(x.c, w.c, null), MATMUL_TOL);
    for (const needDx of [true, false]) {
      for (const hasBias of [true, false]) {
        const tag = `needDx=${needDx} hasBias=${hasBias}`;
        const gr = gpu.linearBackward(dy.g, x.g, w.g, { needDx, hasBias });
        const cr = cpu.linearBackward(dy.c, x.c, w.c, { needDx, hasBias });
        await h.check(`linearBackward dx ${tag}`, gr.dx, cr.dx, MATMUL_TOL);
        await h.check(`linearBackward dw ${tag}`, gr.dw, cr.dw, MATMUL_TOL);
        await h.check(`linearBackward db ${tag}`, gr.db, cr.db, MATMUL_TOL);
      }
    }
  };
}

export function matmulNTCase(n: number, m: number, d: number, seed: number): CaseFn {
  return async (h) => {
    const a = h.pair(randn(n * d, seed), [n, d]);
    const b = h.pair(randn(m * d, seed + 1), [m, d]);
    await h.check('matmulNT', h.gpu.matmulNT(a.g, b.g), h.cpu.matmulNT(a.c, b.c), MATMUL_TOL);
  };
}

export function l2Case(rows: number, d: number, seed: number): CaseFn {
  return async (h) => {
    const data = randn(rows * d, seed, 0, 3);
    data.fill(0, 0, d); // a zero row: the 1e-12 norm floor
    const x = h.pair(data, [rows, d]);
    const dy = h.pair(randn(rows * d, seed + 1), [rows, d]);
    await h.check('l2Normalize', h.gpu.l2Normalize(x.g), h.cpu.l2Normalize(x.c), MATMUL_TOL);
    await h.check('l2NormalizeBackward', h.gpu.l2NormalizeBackward(dy.g, x.g), h.cpu.l2NormalizeBackward(dy.c, x.c), { rtol: 1e-4, atolFrac: 1e-9 });
  };
}

export function infoNceCase(rows: number, d: number, k: number, temperature: number, seed: number): CaseFn {
  return async (h) => {
    const { gpu, cpu } = h;
    const qData = normalizedRows(rows, d, seed);
    const kData = normalizedRows(rows, d, seed + 1);
    // Make some positives clearly win so `correct` is neither 0 nor rows.
    for (let r = 0; r < rows; r += 2) for (let j = 0; j < d; j++) kData[r * d + j] = qData[r * d + j]!;
    const q = h.pair(qData, [rows, d]);
    const kPos = h.pair(kData, [rows, d]);
    const queue = h.pair(normalizedRows(k, d, seed + 2), [k, d]);
    const gr = gpu.infoNce(q.g, kPos.g, queue.g, temperature);
    const cr = cpu.infoNce(q.c, kPos.c, queue.c, temperature);
    const logitsCpu = await cpu.read(cr.logits);
    await h.check('infoNce logits', gr.logits, cr.logits, MATMUL_TOL);
    await h.check('infoNce loss', gr.loss, cr.loss, { rtol: 1e-5, atolFrac: 0 });
    await h.check('infoNce correct', gr.correct, cr.correct, { rtol: 0, atolFrac: 0 });
    // Backward from the same logits on both sides.
    const logits = h.pair(logitsCpu, [rows, 1 + k]);
    await h.check('infoNceBackward dq', gpu.infoNceBackward(logits.g, kPos.g, queue.g, temperature), cpu.infoNceBackward(logits.c, kPos.c, queue.c, temperature), MATMUL_TOL);
  };
}
