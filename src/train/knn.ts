/**
 * Weighted kNN evaluation of a representation (InstDisc, Wu et al. 2018; used by MoCo's monitors):
 * every held-out image votes with its k most cosine-similar training images, each weighted by
 * exp(sim / T). Features come from the query encoder in eval mode (running BN statistics), either
 * the hidden features (output of the last ReLU) or the final normalised output. Similarities are a
 * matmulNT on the backend; top-k and voting run on the host.
 */
import type { Backend, Tensor } from '../backend/backend.ts';
import { forwardFeatures } from '../nn/encoder.ts';
import type { Sequential } from '../nn/layers/sequential.ts';
import { localWorld } from '../nn/world.ts';
import type { LabelledImages, ShapeDataset } from './dataset.ts';

export const KNN_DEFAULTS = Object.freeze({
  k: 20,
  temperature: 0.07,
  /** Images per forward / similarity block (bounds memory: block × bank floats of similarities). */
  blockRows: 256,
});

export type KnnFeatures = 'hidden' | 'output';

export interface KnnOptions {
  k?: number;
  temperature?: number;
  features?: KnnFeatures;
  numClasses?: number;
  blockRows?: number;
  /**
   * Use only the first this many bank / held-out images (class-balanced, as image i has class
   * i mod classes): a cheaper estimate on slow backends. Default: all.
   */
  bankLimit?: number;
  testLimit?: number;
}

/**
 * Lets timers and network handlers run between blocks. On the CPU backend a block is seconds of
 * synchronous work and a read resolves at once, so without this the mesh heartbeat of a tab busy with
 * kNN would stall and its peers would drop it.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * L2-normalised features [count, F] of `split`'s images, computed in blocks with the model in eval
 * mode. Caller owns (disposes) the result.
 */
export async function extractFeatures(backend: Backend, model: Sequential, split: LabelledImages, features: KnnFeatures, blockRows: number = KNN_DEFAULTS.blockRows): Promise<Tensor> {
  const dim = split.images.length / split.count;
  const ctx = { backend, training: false, world: localWorld(1), sourceOf: null };
  const blocks: Tensor[] = [];
  for (let start = 0; start < split.count; start += blockRows) {
    const rows = Math.min(blockRows, split.count - start);
    const x = backend.fromArray(split.images.subarray(start * dim, (start + rows) * dim), [rows, dim]);
    const f = features === 'hidden' ? await forwardFeatures(model, x, ctx) : await model.forward(x, ctx);
    blocks.push(backend.l2Normalize(f));
    backend.dispose(f);
    backend.dispose(x);
    await yieldToEventLoop();
  }
  const all = blocks.length === 1 ? blocks[0] : backend.concatRows(blocks);
  if (blocks.length > 1) for (const b of blocks) backend.dispose(b);
  return all;
}

/**
 * Predicted class of each row of `sims` [rows, bank] (cosine similarities against the bank): the
 * k largest similarities (ties: lower bank index first) vote with weight exp(sim / T); the class
 * with the largest total wins (ties: lower class).
 */
export function knnVote(sims: Float32Array, rows: number, bankLabels: Int32Array, numClasses: number, k: number, temperature: number): Int32Array {
  const bank = bankLabels.length;
  const kk = Math.min(k, bank);
  const predictions = new Int32Array(rows);
  const topSim = new Float64Array(kk);
  const topIdx = new Int32Array(kk);
  const votes = new Float64Array(numClasses);
  for (let r = 0; r < rows; r++) {
    const row = sims.subarray(r * bank, (r + 1) * bank);
    // Keep the best kk in descending order by insertion; `filled` entries are valid.
    let filled = 0;
    for (let j = 0; j < bank; j++) {
      const s = row[j];
      if (filled === kk && s <= topSim[kk - 1]) continue;
      let pos = filled === kk ? kk - 1 : filled++;
      while (pos > 0 && topSim[pos - 1] < s) {
        topSim[pos] = topSim[pos - 1];
        topIdx[pos] = topIdx[pos - 1];
        pos--;
      }
      topSim[pos] = s;
      topIdx[pos] = j;
    }
    votes.fill(0);
    for (let i = 0; i < filled; i++) votes[bankLabels[topIdx[i]]] += Math.exp(topSim[i] / temperature);
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (votes[c] > votes[best]) best = c;
    predictions[r] = best;
  }
  return predictions;
}

/**
 * kNN accuracy of a trainer's query encoder: held-out split against the clean training images.
 * Eval mode, no collectives: run it between steps on one tab and share the number if needed.
 */
export function knnAccuracy(trainer: { backend: Backend; query: Sequential }, data: ShapeDataset, opts: KnnOptions = {}): Promise<number> {
  const bank = headOf(data.train, opts.bankLimit);
  const test = headOf(data.test, opts.testLimit);
  return knnAccuracyOf(trainer.backend, trainer.query, bank, test, { numClasses: data.numClasses, ...opts });
}

function headOf(split: LabelledImages, limit: number | undefined): LabelledImages {
  if (limit === undefined || limit >= split.count) return split;
  const dim = split.images.length / split.count;
  const count = Math.max(1, Math.floor(limit));
  return { images: split.images.subarray(0, count * dim), labels: split.labels.subarray(0, count), count };
}

/**
 * kNN accuracy of `model` on `test`, with `bank` (clean training images) as the labelled memory.
 * Uses eval-mode BN, so call it between steps on any one tab (no collectives).
 */
export async function knnAccuracyOf(backend: Backend, model: Sequential, bank: LabelledImages, test: LabelledImages, opts: KnnOptions = {}): Promise<number> {
  const k = opts.k ?? KNN_DEFAULTS.k;
  const temperature = opts.temperature ?? KNN_DEFAULTS.temperature;
  const features = opts.features ?? 'hidden';
  const blockRows = opts.blockRows ?? KNN_DEFAULTS.blockRows;
  const numClasses = opts.numClasses ?? Math.max(...bank.labels) + 1;
  const bankFeatures = await extractFeatures(backend, model, bank, features, blockRows);
  let correct = 0;
  try {
    const dim = test.images.length / test.count;
    const ctx = { backend, training: false, world: localWorld(1), sourceOf: null };
    for (let start = 0; start < test.count; start += blockRows) {
      const rows = Math.min(blockRows, test.count - start);
      const x = backend.fromArray(test.images.subarray(start * dim, (start + rows) * dim), [rows, dim]);
      const f = features === 'hidden' ? await forwardFeatures(model, x, ctx) : await model.forward(x, ctx);
      const fn = backend.l2Normalize(f);
      const simT = backend.matmulNT(fn, bankFeatures);
      const sims = await backend.read(simT);
      for (const t of [x, f, fn, simT]) backend.dispose(t);
      const predicted = knnVote(sims, rows, bank.labels, numClasses, k, temperature);
      for (let r = 0; r < rows; r++) if (predicted[r] === test.labels[start + r]) correct++;
      await yieldToEventLoop();
    }
  } finally {
    backend.dispose(bankFeatures);
  }
  return correct / test.count;
}
