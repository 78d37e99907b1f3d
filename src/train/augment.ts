/**
 * MoCo's two random "views" of an image, reduced to what suits 16×16 shapes: horizontal flip,
 * contrast, brightness offset and pixel noise. No shifts or crops: the shapes already sit at random
 * positions, and a shift would let the pretext task be solved by position alone.
 * Batches are drawn from keyed random streams (seed, step, worker, …), so the samples and views of
 * worker w at step s are the same whichever tab runs that worker.
 */
import { createRng, type Rng } from '../util/rng.ts';
import { IMAGE_SIZE } from './shapes.ts';
import { IMAGE_PIXELS, type LabelledImages } from './dataset.ts';

export const AUGMENT = Object.freeze({
  flipProbability: 0.5,
  contrastMin: 0.6,
  contrastMax: 1.4,
  /** Brightness offset drawn from U(−offsetMax, offsetMax). */
  offsetMax: 0.2,
  noiseStd: 0.05,
});

/** Stream tags (distinct from the data set's). */
const TAG_BATCH = 0xba7c;
const TAG_VIEW = 0x71e3;

export interface AugmentParams {
  flip: boolean;
  contrast: number;
  offset: number;
}

/** Draws one view's augmentation parameters. */
export function drawAugmentParams(rng: Rng): AugmentParams {
  const flip = rng.next() < AUGMENT.flipProbability;
  const contrast = AUGMENT.contrastMin + (AUGMENT.contrastMax - AUGMENT.contrastMin) * rng.next();
  const offset = AUGMENT.offsetMax * (2 * rng.next() - 1);
  return { flip, contrast, offset };
}

/**
 * Writes the augmented view of `src` (IMAGE_PIXELS values) into `out`:
 * out = contrast·(flip(src) − mean) + mean + offset + noiseStd·N(0, 1).
 * Contrast scales around the image mean (as torchvision's adjust_contrast does with its grey level),
 * so brightness changes come from the offset alone.
 */
export function augmentInto(src: Float32Array, out: Float32Array, params: AugmentParams, rng: Rng, noiseStd: number = AUGMENT.noiseStd): Float32Array {
  const size = IMAGE_SIZE;
  let mean = 0;
  for (let p = 0; p < IMAGE_PIXELS; p++) mean += src[p];
  mean /= IMAGE_PIXELS;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const from = y * size + (params.flip ? size - 1 - x : x);
      const v = params.contrast * (src[from] - mean) + mean + params.offset;
      out[y * size + x] = noiseStd > 0 ? v + noiseStd * rng.normal() : v;
    }
  }
  return out;
}

/** One worker's batch at one step: the sample indices and two augmented views, each [n, IMAGE_PIXELS]. */
export interface WorkerBatch {
  indices: Int32Array;
  query: Float32Array;
  key: Float32Array;
}

/**
 * Draws worker `worker`'s batch for step `step`: n training images sampled uniformly with
 * replacement, each with two independently augmented views (query and key).
 */
export function drawWorkerBatch(train: LabelledImages, seed: number, step: number, worker: number, n: number): WorkerBatch {
  const pick = createRng(seed, TAG_BATCH, step, worker);
  const indices = new Int32Array(n);
  const query = new Float32Array(n * IMAGE_PIXELS);
  const key = new Float32Array(n * IMAGE_PIXELS);
  for (let i = 0; i < n; i++) {
    const index = pick.int(train.count);
    indices[i] = index;
    const src = train.images.subarray(index * IMAGE_PIXELS, (index + 1) * IMAGE_PIXELS);
    const views = [query, key];
    for (let v = 0; v < 2; v++) {
      const rng = createRng(seed, TAG_VIEW, step, worker, i, v);
      augmentInto(src, views[v].subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), drawAugmentParams(rng), rng);
    }
  }
  return { indices, query, key };
}
