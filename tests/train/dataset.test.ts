import { describe, expect, it } from 'vitest';
import { inflateSync } from 'node:zlib';
import { createDataset, createDatasetAsync, classMeans, drawSplit, IMAGE_PIXELS, SPLIT_TEST, SPLIT_TRAIN } from '../../src/train/dataset.ts';
import { IMAGE_SIZE, NUM_CLASSES, rasterizeShape, SHAPE_CLASSES } from '../../src/train/shapes.ts';
import { AUGMENT, augmentInto, drawAugmentParams, drawWorkerBatch } from '../../src/train/augment.ts';
import { asciiImage, encodePng } from '../../src/train/dump.ts';
import { createRng } from '../../src/util/rng.ts';

const centred = { cx: IMAGE_SIZE / 2, cy: IMAGE_SIZE / 2, radius: 6, stroke: 1.5 };
const px = (x: number, y: number) => y * IMAGE_SIZE + x;

describe('shape classes', () => {
  it('draws each class with its defining structure (noise-free, centred)', () => {
    const img = SHAPE_CLASSES.map((_, c) => rasterizeShape(c, centred));
    const centre = px(7, 7); // pixel [7, 8) touching the centre
    const corner = px(2, 2); // in the square's frame, outside the circle (7.8 px from the centre)
    const axis = px(7, 4); // on the vertical axis, 3.5 px above the centre
    const diag = px(4, 4); // on the diagonal, 4.9 px from the centre (on the ring)
    const exp: Record<string, [number, number, number, number]> = {
      // [centre, corner, axis, diag] coverage > 0.5 ?
      'filled circle': [1, 0, 1, 1],
      'outlined circle': [0, 0, 0, 1],
      'filled square': [1, 1, 1, 1],
      'outlined square': [0, 1, 0, 0],
      plus: [1, 0, 1, 0],
      X: [1, 0, 0, 1],
      diamond: [1, 0, 1, 0],
    };
    for (const [name, want] of Object.entries(exp)) {
      const c = SHAPE_CLASSES.indexOf(name as (typeof SHAPE_CLASSES)[number]);
      const got = [centre, corner, axis, diag].map((p) => (img[c][p] > 0.5 ? 1 : 0));
      expect(got, name).toEqual(want);
    }
    // Outlines: the ring/frame edge is inked, the inside is not.
    expect(img[1][px(7, 2)]).toBeGreaterThan(0.5); // outer radius 6 → row 2 on the vertical axis
    expect(img[3][px(2, 7)]).toBeGreaterThan(0.5);
    // Bars: along the bars' direction intensity is constant, across it alternates.
    const horiz = img[7];
    const vert = img[8];
    const rowSums = Array.from({ length: IMAGE_SIZE }, (_, y) => horiz.slice(y * IMAGE_SIZE, (y + 1) * IMAGE_SIZE).reduce((a, b) => a + b, 0));
    expect(rowSums.filter((s) => s > 6).length).toBeGreaterThanOrEqual(3);
    expect(rowSums[7] + rowSums[8]).toBeGreaterThan(6); // the middle bar
    expect(rowSums[5]).toBeLessThan(3); // a gap between bars
    for (let y = 0; y < IMAGE_SIZE; y++) for (let x = 0; x < IMAGE_SIZE; x++) expect(vert[px(x, y)]).toBeCloseTo(horiz[px(y, x)], 6);
    // Triangle: wider at the bottom than at the top.
    const tri = img[4];
    const width = (y: number) => tri.slice(y * IMAGE_SIZE, (y + 1) * IMAGE_SIZE).reduce((a, b) => a + b, 0);
    expect(width(12)).toBeGreaterThan(width(4) + 4);
  });

  it('every class is mirror-symmetric, so a horizontal flip keeps the class', () => {
    for (let c = 0; c < NUM_CLASSES; c++) {
      const img = rasterizeShape(c, centred);
      for (let y = 0; y < IMAGE_SIZE; y++)
        for (let x = 0; x < IMAGE_SIZE; x++) expect(img[px(x, y)], `${SHAPE_CLASSES[c]} @${x},${y}`).toBe(img[px(IMAGE_SIZE - 1 - x, y)]);
    }
  });

  it('classes differ: a nearest-class-mean classifier on raw pixels beats chance on held-out images', () => {
    const train = drawSplit(7, SPLIT_TRAIN, 60 * NUM_CLASSES);
    const test = drawSplit(7, SPLIT_TEST, 100 * NUM_CLASSES);
    const means = classMeans(train);
    let correct = 0;
    for (let i = 0; i < test.count; i++) {
      const img = test.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS);
      const d = means.map((m) => m.reduce((s, v, p) => s + (v - img[p]) ** 2, 0));
      if (d.indexOf(Math.min(...d)) === test.labels[i]) correct++;
    }
    // Chance is 0.1 with a binomial σ of 0.0095 over 1000 images; 0.15 is 5σ above it. Positions are
    // random, so raw pixels alone stay far from perfect: that is the encoder's job.
    expect(correct / test.count).toBeGreaterThan(0.15);
    // Filled shapes are inked at the centre on average, outlined ones much less.
    const centreInk = (c: number) => means[c][px(7, 7)] + means[c][px(8, 8)];
    expect(centreInk(0)).toBeGreaterThan(centreInk(1) + 0.2);
    expect(centreInk(2)).toBeGreaterThan(centreInk(3) + 0.2);
  });
});

describe('dataset', () => {
  it('drawn in slices (createDatasetAsync) is the same data set', async () => {
    const sync = createDataset({ seed: 5, trainPerClass: 60, testPerClass: 30 });
    const sliced = await createDatasetAsync({ seed: 5, trainPerClass: 60, testPerClass: 30 });
    expect(sliced.train.images).toEqual(sync.train.images);
    expect(sliced.train.labels).toEqual(sync.train.labels);
    expect(sliced.test.images).toEqual(sync.test.images);
    expect(sliced.test.labels).toEqual(sync.test.labels);
  });

  it('is deterministic in the seed, balanced, and split-independent', () => {
    const a = createDataset({ seed: 3, trainPerClass: 12, testPerClass: 4 });
    const b = createDataset({ seed: 3, trainPerClass: 12, testPerClass: 4 });
    const c = createDataset({ seed: 4, trainPerClass: 12, testPerClass: 4 });
    expect(a.train.images).toEqual(b.train.images);
    expect(a.test.images).toEqual(b.test.images);
    expect(a.train.images).not.toEqual(c.train.images);
    expect(a.train.count).toBe(120);
    expect(a.test.count).toBe(40);
    expect(a.train.images.length).toBe(120 * IMAGE_PIXELS);
    for (const split of [a.train, a.test]) {
      const counts = new Array(NUM_CLASSES).fill(0);
      for (const l of split.labels) counts[l]++;
      expect(new Set(counts).size).toBe(1);
    }
    // Held-out images are not copies of training images.
    expect(a.test.images.slice(0, IMAGE_PIXELS)).not.toEqual(a.train.images.slice(0, IMAGE_PIXELS));
    // Each image has its own stream: a bigger draw starts with the smaller one.
    const big = drawSplit(3, SPLIT_TRAIN, 200);
    expect(big.images.slice(0, 120 * IMAGE_PIXELS)).toEqual(a.train.images);
  });

  it('pixel values stay in a plausible range with noise of the documented size', () => {
    const { train } = createDataset({ seed: 5, trainPerClass: 30, testPerClass: 1 });
    let min = Infinity;
    let max = -Infinity;
    for (const v of train.images) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThan(-0.8);
    expect(max).toBeLessThan(1.8);
    expect(max - min).toBeGreaterThan(0.8);
  });
});

describe('augmentation', () => {
  it('draws parameters in the documented ranges, flipping about half the time', () => {
    const rng = createRng(11, 1);
    let flips = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const p = drawAugmentParams(rng);
      expect(p.contrast).toBeGreaterThanOrEqual(AUGMENT.contrastMin);
      expect(p.contrast).toBeLessThan(AUGMENT.contrastMax);
      expect(Math.abs(p.offset)).toBeLessThanOrEqual(AUGMENT.offsetMax);
      if (p.flip) flips++;
    }
    expect(Math.abs(flips - n / 2)).toBeLessThan(5 * Math.sqrt(n / 4));
  });

  it('applies flip, contrast around the mean, offset, then noise of σ 0.05', () => {
    const src = drawSplit(2, SPLIT_TRAIN, 1).images;
    const mean = src.reduce((a, b) => a + b, 0) / IMAGE_PIXELS;
    const params = { flip: true, contrast: 1.3, offset: -0.15 };
    const clean = augmentInto(src, new Float32Array(IMAGE_PIXELS), params, createRng(1), 0);
    for (let y = 0; y < IMAGE_SIZE; y++)
      for (let x = 0; x < IMAGE_SIZE; x++)
        expect(clean[px(x, y)]).toBeCloseTo(1.3 * (src[px(IMAGE_SIZE - 1 - x, y)] - mean) + mean - 0.15, 5);
    const noisy = augmentInto(src, new Float32Array(IMAGE_PIXELS), params, createRng(9));
    const resid = noisy.map((v, i) => v - clean[i]);
    const std = Math.sqrt(resid.reduce((s, v) => s + v * v, 0) / IMAGE_PIXELS);
    expect(std).toBeGreaterThan(0.035);
    expect(std).toBeLessThan(0.065);
  });

  it('a worker batch depends only on (seed, step, worker)', () => {
    const { train } = createDataset({ seed: 1, trainPerClass: 10, testPerClass: 1 });
    const a = drawWorkerBatch(train, 1, 5, 2, 4);
    const b = drawWorkerBatch(train, 1, 5, 2, 4);
    expect(a.query).toEqual(b.query);
    expect(a.key).toEqual(b.key);
    expect(a.query).not.toEqual(a.key);
    expect(drawWorkerBatch(train, 1, 5, 3, 4).query).not.toEqual(a.query);
    expect(drawWorkerBatch(train, 1, 6, 2, 4).query).not.toEqual(a.query);
  });
});

describe('dumps', () => {
  it('PNG decodes (by zlib) to the same pixels', () => {
    const imgs = [rasterizeShape(0, centred), rasterizeShape(5, centred)];
    const png = encodePng(imgs, IMAGE_SIZE, { columns: 2, scale: 1 });
    expect(Array.from(png.slice(1, 4), (b) => String.fromCharCode(b)).join('')).toBe('PNG');
    const view = new DataView(png.buffer, png.byteOffset);
    expect(view.getUint32(16)).toBe(32); // width
    expect(view.getUint32(20)).toBe(16); // height
    const idatLen = view.getUint32(33);
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    expect(raw.length).toBe(16 * 33);
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 32; x++) {
        const img = imgs[x < 16 ? 0 : 1];
        expect(raw[y * 33 + 1 + x]).toBe(Math.round(255 * img[px(x % 16, y)]));
      }
  });

  it('ASCII art shows ink in the middle of a filled square and blank corners', () => {
    const art = asciiImage(rasterizeShape(2, { ...centred, radius: 4 }), IMAGE_SIZE).split('\n');
    expect(art[8][16]).toBe('@');
    expect(art[0][0]).toBe(' ');
  });
});
