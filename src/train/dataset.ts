/**
 * The synthetic labelled data set: 16×16 grayscale images of ten shape classes (src/train/shapes.ts),
 * drawn from the seed on every peer, so nothing is downloaded and every tab holds the same images.
 * Each image comes from its own keyed random stream (seed, split, index), so any subset can be drawn
 * independently and identically everywhere. Sample i of a split has class i mod NUM_CLASSES.
 */
import { createRng, type Rng } from '../util/rng.ts';
import { IMAGE_SIZE, NUM_CLASSES, rasterizeShape, type ShapeGeometry } from './shapes.ts';

/** Pixels per image (the encoder's input width). */
export const IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** Ranges of the drawing parameters (pixels or intensity units). */
export const DRAW = Object.freeze({
  /** Maximum distance of the shape centre from the image centre along each axis, px. */
  centreJitterPx: 3.5,
  radiusMinPx: 2.5,
  radiusMaxPx: 6.5,
  strokeMinPx: 1.0,
  strokeMaxPx: 2.0,
  foregroundMin: 0.4,
  foregroundMax: 1.0,
  /** The background ramps linearly between two levels drawn from [backgroundMin, backgroundMax]. */
  backgroundMin: 0.0,
  backgroundMax: 0.4,
  blobSigmaMinPx: 1.0,
  blobSigmaMaxPx: 2.5,
  /** Peak amplitude of the clutter blob (either sign). */
  blobAmplitudeMin: 0.15,
  blobAmplitudeMax: 0.4,
  noiseStd: 0.08,
});

/** Stream tags, so the data streams never collide with the trainer's streams of the same seed. */
const TAG_DATA = 0x5da7a;
export const SPLIT_TRAIN = 0;
export const SPLIT_TEST = 1;

export interface DatasetOptions {
  seed: number;
  /** Training images per class (default 500). */
  trainPerClass?: number;
  /** Held-out images per class (default 100). */
  testPerClass?: number;
}

/** Images [count, IMAGE_PIXELS] row-major with one label per row. */
export interface LabelledImages {
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

export interface ShapeDataset {
  train: LabelledImages;
  test: LabelledImages;
  numClasses: number;
  /** Pixels per image. */
  dim: number;
}

/** Draws the whole data set (deterministic in the seed). */
export function createDataset(opts: DatasetOptions): ShapeDataset {
  const trainPerClass = opts.trainPerClass ?? 500;
  const testPerClass = opts.testPerClass ?? 100;
  return {
    train: drawSplit(opts.seed, SPLIT_TRAIN, trainPerClass * NUM_CLASSES),
    test: drawSplit(opts.seed, SPLIT_TEST, testPerClass * NUM_CLASSES),
    numClasses: NUM_CLASSES,
    dim: IMAGE_PIXELS,
  };
}

/** Images drawn between two yields to the event loop in `createDatasetAsync`. */
const IMAGES_PER_SLICE = 250;

/**
 * The same data set as `createDataset`, drawn in slices that yield to the event loop in between: a
 * tab that is already in a room keeps answering its mesh heartbeats while it draws (seconds on a phone).
 */
export async function createDatasetAsync(opts: DatasetOptions): Promise<ShapeDataset> {
  const splits: LabelledImages[] = [];
  for (const [split, perClass] of [[SPLIT_TRAIN, opts.trainPerClass ?? 500], [SPLIT_TEST, opts.testPerClass ?? 100]] as const) {
    const images = emptySplit(perClass * NUM_CLASSES);
    for (let start = 0; start < images.count; start += IMAGES_PER_SLICE) {
      drawRange(opts.seed, split, images, start, Math.min(images.count, start + IMAGES_PER_SLICE));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    splits.push(images);
  }
  return { train: splits[0]!, test: splits[1]!, numClasses: NUM_CLASSES, dim: IMAGE_PIXELS };
}

function emptySplit(count: number): LabelledImages {
  return { images: new Float32Array(count * IMAGE_PIXELS), labels: new Int32Array(count), count };
}

/** Draws images [start, end) of one split into `out`; image i has class i mod NUM_CLASSES. */
function drawRange(seed: number, split: number, out: LabelledImages, start: number, end: number): void {
  for (let i = start; i < end; i++) {
    const cls = i % NUM_CLASSES;
    out.labels[i] = cls;
    drawImage(cls, createRng(seed, TAG_DATA, split, i), out.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS));
  }
}

/** Draws `count` images of one split; image i has class i mod NUM_CLASSES. */
export function drawSplit(seed: number, split: number, count: number): LabelledImages {
  const out = emptySplit(count);
  drawRange(seed, split, out, 0, count);
  return out;
}

/** Draws one image of class `cls` into `out` (IMAGE_PIXELS values) from `rng`. */
export function drawImage(cls: number, rng: Rng, out: Float32Array): Float32Array {
  const size = IMAGE_SIZE;
  const centre = size / 2;
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * rng.next();
  const radius = uniform(DRAW.radiusMinPx, DRAW.radiusMaxPx);
  const geometry: ShapeGeometry = {
    cx: centre + uniform(-DRAW.centreJitterPx, DRAW.centreJitterPx),
    cy: centre + uniform(-DRAW.centreJitterPx, DRAW.centreJitterPx),
    radius,
    // A stroke wider than ~half the radius would fill outlines in; keep them hollow.
    stroke: Math.min(uniform(DRAW.strokeMinPx, DRAW.strokeMaxPx), 0.5 * radius),
  };
  const foreground = uniform(DRAW.foregroundMin, DRAW.foregroundMax);
  const bgFrom = uniform(DRAW.backgroundMin, DRAW.backgroundMax);
  const bgTo = uniform(DRAW.backgroundMin, DRAW.backgroundMax);
  const bgAngle = uniform(0, 2 * Math.PI);
  const blobX = uniform(0, size);
  const blobY = uniform(0, size);
  const blobSigma = uniform(DRAW.blobSigmaMinPx, DRAW.blobSigmaMaxPx);
  const blobAmp = uniform(DRAW.blobAmplitudeMin, DRAW.blobAmplitudeMax) * (rng.next() < 0.5 ? -1 : 1);

  const coverage = rasterizeShape(cls, geometry, size);
  const dirX = Math.cos(bgAngle);
  const dirY = Math.sin(bgAngle);
  // Projection of the pixel centre on the gradient direction, mapped to [0, 1] over the image.
  const span = (size / 2) * (Math.abs(dirX) + Math.abs(dirY));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      const t = ((px - centre) * dirX + (py - centre) * dirY + span) / (2 * span);
      const background = bgFrom + (bgTo - bgFrom) * t;
      const c = coverage[y * size + x];
      const dx = px - blobX;
      const dy = py - blobY;
      const blob = blobAmp * Math.exp(-(dx * dx + dy * dy) / (2 * blobSigma * blobSigma));
      out[y * size + x] = background + c * (foreground - background) + blob + DRAW.noiseStd * rng.normal();
    }
  }
  return out;
}

/** Per-class mean images [numClasses, IMAGE_PIXELS] of a split (for sanity checks and dumps). */
export function classMeans(split: LabelledImages, numClasses = NUM_CLASSES): Float32Array[] {
  const sums = Array.from({ length: numClasses }, () => new Float64Array(IMAGE_PIXELS));
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < split.count; i++) {
    const cls = split.labels[i];
    counts[cls]++;
    const sum = sums[cls];
    for (let p = 0; p < IMAGE_PIXELS; p++) sum[p] += split.images[i * IMAGE_PIXELS + p];
  }
  return sums.map((sum, c) => Float32Array.from(sum, (v) => v / Math.max(1, counts[c])));
}
