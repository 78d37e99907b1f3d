import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { BatchNorm } from '../../src/nn/layers/batchnorm.ts';
import { Linear } from '../../src/nn/layers/linear.ts';
import type { Sequential } from '../../src/nn/layers/sequential.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { knnAccuracy, knnAccuracyOf, knnVote } from '../../src/train/knn.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import { createRng } from '../../src/util/rng.ts';
import { SMALL_CONFIG } from './harness.ts';

/** Brute force: full sort by (similarity desc, index asc), top k, exp-weighted vote, lowest class on ties. */
function referenceVote(sims: ArrayLike<number>, bankLabels: ArrayLike<number>, numClasses: number, k: number, T: number): number {
  const idx = Array.from({ length: bankLabels.length }, (_, j) => j).sort((a, b) => sims[b] - sims[a] || a - b);
  const votes = new Array(numClasses).fill(0);
  for (const j of idx.slice(0, k)) votes[bankLabels[j]] += Math.exp(sims[j] / T);
  return votes.indexOf(Math.max(...votes));
}

describe('kNN vote', () => {
  it('matches a brute-force sort-and-vote, including ties and k larger than the bank', () => {
    const rng = createRng(4);
    for (const [rows, bank, k] of [[30, 200, 20], [10, 7, 20], [5, 50, 1]]) {
      // Quantised similarities make ties common.
      const sims = Float32Array.from({ length: rows * bank }, () => Math.round((2 * rng.next() - 1) * 20) / 20);
      const labels = Int32Array.from({ length: bank }, () => rng.int(5));
      const got = knnVote(sims, rows, labels, 5, k, 0.07);
      for (let r = 0; r < rows; r++) expect(got[r]).toBe(referenceVote(sims.subarray(r * bank, (r + 1) * bank), labels, 5, k, 0.07));
    }
  });
});

/** Host float64 features of the encoder in eval mode, straight from its weights and running stats. */
async function hostFeatures(model: Sequential, images: Float32Array, count: number, upTo: 'hidden' | 'output'): Promise<Float64Array[]> {
  let rows: Float64Array[] = Array.from({ length: count }, (_, i) => Float64Array.from(images.subarray(i * 256, (i + 1) * 256)));
  const layers = upTo === 'hidden' ? model.children.slice(0, model.children.length - 2) : model.children;
  for (const layer of layers) {
    if (layer instanceof Linear) {
      const w = await layer.weight.backend.read(layer.weight.value);
      const b = await layer.weight.backend.read(layer.bias!.value);
      rows = rows.map((x) => Float64Array.from({ length: layer.outFeatures }, (_, o) => x.reduce((s, v, i) => s + v * w[o * layer.inFeatures + i], b[o])));
    } else if (layer instanceof BatchNorm) {
      const be = layer.backend;
      const [rm, rv] = [await be.read(layer.runningMean.value), await be.read(layer.runningVar.value)];
      const g = layer.weight ? await be.read(layer.weight.value) : null;
      const bt = layer.bias ? await be.read(layer.bias.value) : null;
      rows = rows.map((x) => x.map((v, c) => ((v - rm[c]) / Math.sqrt(rv[c] + layer.eps)) * (g ? g[c] : 1) + (bt ? bt[c] : 0)));
    } else {
      rows = rows.map((x) => x.map((v) => Math.max(0, v)));
    }
  }
  return rows.map((x) => {
    const norm = Math.sqrt(x.reduce((s, v) => s + v * v, 0));
    return x.map((v) => v / Math.max(norm, 1e-12));
  });
}

describe('kNN accuracy', () => {
  it.each(['hidden', 'output'] as const)('equals a float64 host reference on %s features of a trained encoder', async (features) => {
    const data = createDataset({ seed: 2, trainPerClass: 12, testPerClass: 4 });
    const backend = createCpuBackend();
    const t = new MocoTrainer({ backend, config: { ...SMALL_CONFIG, mode: 'local' }, world: localWorld(4), train: data.train });
    for (let s = 0; s < 4; s++) await t.runStep(); // moves weights and running statistics off their init
    const acc = await knnAccuracyOf(backend, t.query, data.train, data.test, { k: 5, features, blockRows: 16 });
    expect(await knnAccuracy(t, data, { k: 5, features })).toBe(acc);
    const head = { images: data.train.images.subarray(0, 60 * 256), labels: data.train.labels.subarray(0, 60), count: 60 };
    const few = await knnAccuracyOf(backend, t.query, head, data.test, { k: 5, features, numClasses: 10 });
    expect(await knnAccuracy(t, data, { k: 5, features, bankLimit: 60 })).toBe(few);
    const bank = await hostFeatures(t.query, data.train.images, data.train.count, features);
    const test = await hostFeatures(t.query, data.test.images, data.test.count, features);
    let correct = 0;
    test.forEach((q, i) => {
      const sims = bank.map((b) => b.reduce((s, v, d) => s + v * q[d], 0));
      if (referenceVote(sims, data.train.labels, 10, 5, 0.07) === data.test.labels[i]) correct++;
    });
    expect(acc).toBe(correct / data.test.count);
    expect(acc).toBeGreaterThan(0);
    t.destroy();
  });
});
