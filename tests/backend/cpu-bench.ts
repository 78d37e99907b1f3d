/**
 * Benchmark (not a test): one MoCo step of the demo encoder on the CPU backend.
 * Run: npx tsx tests/backend/cpu-bench.ts [rows=32,64]
 * Prints ms per step (query forward + backward, key forward, InfoNCE, SGD, EMA, enqueue) and ms for
 * the biggest single op, so the fallback's speed can be compared with WebGPU.
 */
import type { Tensor } from '../../src/backend/backend.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { randn } from './helpers.ts';

const DIMS = [256, 512, 512, 128];
const QUEUE = 1024;
const STEPS = 10;
const rowsList = (process.argv[2] ?? '32,64').split(',').map(Number);
const be = createCpuBackend();
const rand = (shape: number[], seed: number, std = 1): Tensor =>
  be.fromArray(Float32Array.from(randn(shape.reduce((a, b) => a * b, 1), seed, 0, std)), shape);

const ws = DIMS.slice(1).map((out, l) => rand([out, DIMS[l]!], 10 + l, 1 / Math.sqrt(DIMS[l]!)));
const gammas = DIMS.slice(1, -1).map((c) => be.fromArray(new Array(c).fill(1), [c]));
const betas = DIMS.slice(1, -1).map((c) => be.zeros([c]));
const vel = ws.map((w) => be.zeros(w.shape));
const keyWs = ws.map((w) => be.clone(w));
const queue = be.l2Normalize(rand([QUEUE, DIMS.at(-1)!], 5));

function forward(x: Tensor, weights: Tensor[], rows: number, workers: number) {
  const saved: { h: Tensor; pre: Tensor; mean: Tensor; var: Tensor; y: Tensor }[] = [];
  let h = x;
  for (let l = 0; l < weights.length; l++) {
    const pre = be.linear(h, weights[l]!, null);
    const c = weights[l]!.shape[0]!;
    const layout = { groups: workers, n: rows / workers, c, hw: 1 };
    const s = be.bnStats(pre, layout);
    const last = l === weights.length - 1;
    const bn = be.bnApply(pre, layout, s.mean, s.var, last ? null : gammas[l]!, last ? null : betas[l]!, 1e-5);
    const y = last ? bn : be.relu(bn);
    saved.push({ h, pre, mean: s.mean, var: s.var, y });
    h = y;
  }
  return { out: h, saved };
}

for (const rows of rowsList) {
  const workers = rows / 8;
  const x = rand([rows, DIMS[0]!], 1);
  const xk = rand([rows, DIMS[0]!], 2);
  const t0 = performance.now();
  for (let step = 0; step < STEPS; step++) {
    const qf = forward(x, ws, rows, workers);
    const q = be.l2Normalize(qf.out);
    const kf = forward(xk, keyWs, rows, workers);
    const k = be.l2Normalize(kf.out);
    const nce = be.infoNce(q, k, queue, 0.1);
    let dy = be.l2NormalizeBackward(be.infoNceBackward(nce.logits, k, queue, 0.1), qf.out);
    for (let l = ws.length - 1; l >= 0; l--) {
      const s = qf.saved[l]!;
      const last = l === ws.length - 1;
      const dbn = last ? dy : be.reluBackward(dy, s.y);
      const layout = { groups: workers, n: rows / workers, c: ws[l]!.shape[0]!, hw: 1 };
      const b = be.bnBackward(dbn, s.pre, layout, s.mean, s.var, last ? null : gammas[l]!, 1e-5);
      const g = be.linearBackward(b.dx, s.h, ws[l]!, { needDx: l > 0, hasBias: false });
      be.sgdStep(ws[l]!, g.dw, vel[l]!, { lr: 0.06, momentum: 0.9, weightDecay: 1e-4 });
      if (g.dx) dy = g.dx;
    }
    ws.forEach((w, l) => be.ema(keyWs[l]!, w, 0.99));
    be.enqueue(queue, k, (step * rows) % QUEUE);
  }
  const perStep = (performance.now() - t0) / STEPS;
  const t1 = performance.now();
  for (let i = 0; i < STEPS; i++) be.linear(rand([rows, 512], 3), ws[1]!, null);
  const linMs = (performance.now() - t1) / STEPS;
  console.log(`rows ${rows} (${workers} workers × 8): ${perStep.toFixed(1)} ms/step; linear ${rows}×512→512: ${linMs.toFixed(2)} ms`);
}
