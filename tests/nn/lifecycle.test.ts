/**
 * Tensor lifetimes: a full training step (forward, backward, SGD, running-stat sync) in every mode,
 * on 2 tabs × 2 workers, leaves no tensor behind: the live count is the same after every step, and
 * back to zero once the models and optimizers are disposed.
 */
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { buildEncoder } from '../../src/nn/encoder.ts';
import { SGD } from '../../src/nn/optim.ts';
import { stepPermutation } from '../../src/nn/permutation.ts';
import { syncRunningStats } from '../../src/nn/batchnorm/running-stats.ts';
import type { ForwardContext } from '../../src/nn/layers/types.ts';
import { createRng } from '../../src/util/rng.ts';
import type { BnLayerTrace } from '../../src/train/types.ts';
import { makeWorlds, workerRows } from './helpers.ts';

describe('no leaked tensors', () => {
  for (const mode of ['local', 'shuffle', 'sync'] as const) {
    it(`${mode}: steady live-tensor count over steps, zero after dispose`, async () => {
      const backend = createCpuBackend();
      const worlds = await makeWorlds([2, 2]);
      const tabs = worlds.map((world) => {
        const model = buildEncoder(backend, { inputDim: 6, hiddenDims: [5], outputDim: 4, bnMode: mode }, createRng(1));
        const key = buildEncoder(backend, { inputDim: 6, hiddenDims: [5], outputDim: 4, bnMode: mode }, createRng(1));
        const sgd = new SGD(backend, model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
        return { world, model, key, sgd };
      });
      const counts: number[] = [];
      for (let step = 0; step < 3; step++) {
        const sourceOf = stepPermutation(1, step, 4, 'random');
        await Promise.all(
          tabs.map(async ({ world, model, key, sgd }) => {
            const trace: BnLayerTrace[] = [];
            const ctx: ForwardContext = { backend, training: true, world, sourceOf, trace };
            const x = backend.fromArray(Float32Array.of(...workerRows(step, world.firstWorker, 3, 6), ...workerRows(step, world.firstWorker + 1, 3, 6)), [6, 6]);
            const y = await model.forward(x, ctx);
            backend.dispose(await key.forward(x, { ...ctx, noGrad: true }));
            const dx = await model.backward(y, ctx);
            sgd.step();
            sgd.zeroGrad();
            await syncRunningStats(model, ctx);
            await syncRunningStats(key, ctx);
            for (const t of [x, y, dx]) backend.dispose(t);
          }),
        );
        counts.push(backend.liveTensorCount);
      }
      expect(counts[1]).toBe(counts[0]);
      expect(counts[2]).toBe(counts[0]);
      for (const { model, key, sgd } of tabs) {
        model.dispose();
        key.dispose();
        sgd.destroy();
      }
      expect(backend.liveTensorCount).toBe(0);
    });
  }
});
