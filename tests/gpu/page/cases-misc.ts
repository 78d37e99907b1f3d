/** Elementwise, optimiser and memory cases: WebGPU vs the CPU backend. */
import { randn, randu } from './compare.ts';
import type { CaseFn, KernelHarness } from './harness.ts';

const EXACTISH = { rtol: 1e-6, atolFrac: 1e-7 };

export function elementwiseCase(shape: number[], seed: number): CaseFn {
  return async (h: KernelHarness) => {
    const { gpu, cpu } = h;
    const n = shape.reduce((a, b) => a * b, 1);
    const a = h.pair(randn(n, seed), shape);
    const b = h.pair(randn(n, seed + 1), shape);
    await h.check('add', gpu.add(a.g, b.g), cpu.add(a.c, b.c), EXACTISH);
    await h.check('scale', gpu.scale(a.g, -0.37), cpu.scale(a.c, -0.37), EXACTISH);
    const y = h.pair(randn(n, seed + 2), shape);
    await h.check('relu', gpu.relu(y.g), cpu.relu(y.c), EXACTISH);
    await h.check('reluBackward', gpu.reluBackward(a.g, y.g), cpu.reluBackward(a.c, y.c), EXACTISH);
    gpu.addScaledInPlace(a.g, b.g, 0.25);
    cpu.addScaledInPlace(a.c, b.c, 0.25);
    await h.check('addScaledInPlace', gpu.clone(a.g), cpu.clone(a.c), EXACTISH);
    gpu.addScaledInPlace(b.g, b.g, 0.5);
    cpu.addScaledInPlace(b.c, b.c, 0.5);
    await h.check('addScaledInPlace aliased', gpu.clone(b.g), cpu.clone(b.c), EXACTISH);
    const p = h.pair(randn(n, seed + 3), shape);
    const v = h.pair(randn(n, seed + 4, 0, 0.1), shape);
    for (let step = 0; step < 3; step++) {
      gpu.sgdStep(p.g, a.g, v.g, { lr: 0.06, momentum: 0.9, weightDecay: 1e-4 });
      cpu.sgdStep(p.c, a.c, v.c, { lr: 0.06, momentum: 0.9, weightDecay: 1e-4 });
    }
    await h.check('sgdStep param', gpu.clone(p.g), cpu.clone(p.c), { rtol: 1e-5, atolFrac: 1e-6 });
    await h.check('sgdStep velocity', gpu.clone(v.g), cpu.clone(v.c), { rtol: 1e-5, atolFrac: 1e-6 });
    gpu.ema(p.g, b.g, 0.99);
    cpu.ema(p.c, b.c, 0.99);
    await h.check('ema', gpu.clone(p.g), cpu.clone(p.c), { rtol: 1e-5, atolFrac: 1e-6 });
  };
}

export function memoryCase(rows: number, cols: number, seed: number): CaseFn {
  return async (h) => {
    const { gpu, cpu } = h;
    const a = h.pair(randn(rows * cols, seed), [rows, cols]);
    const b = h.pair(randn(3 * cols, seed + 1), [3, cols]);
    await h.check('fromArray/read', gpu.clone(a.g), cpu.clone(a.c), { rtol: 0, atolFrac: 0 });
    await h.check('zeros', gpu.zeros([rows, cols]), cpu.zeros([rows, cols]), { rtol: 0, atolFrac: 0 });
    await h.check('clone reshaped', gpu.clone(a.g, [rows * cols]), cpu.clone(a.c, [rows * cols]), { rtol: 0, atolFrac: 0 });
    await h.check('sliceRows', gpu.sliceRows(a.g, 1, rows - 2), cpu.sliceRows(a.c, 1, rows - 2), { rtol: 0, atolFrac: 0 });
    await h.check('concatRows', gpu.concatRows([b.g, a.g, b.g]), cpu.concatRows([b.c, a.c, b.c]), { rtol: 0, atolFrac: 0 });
    const fresh = randu(rows * cols, seed + 2, -1, 1);
    gpu.write(a.g, fresh);
    cpu.write(a.c, fresh);
    await h.check('write after queued reads', gpu.clone(a.g), cpu.clone(a.c), { rtol: 0, atolFrac: 0 });
    // Ring queue: the second enqueue wraps around the end.
    for (const ptr of [0, rows - 2]) {
      gpu.enqueue(a.g, b.g, ptr);
      cpu.enqueue(a.c, b.c, ptr);
    }
    await h.check('enqueue with wrap', gpu.clone(a.g), cpu.clone(a.c), { rtol: 0, atolFrac: 0 });
  };
}
