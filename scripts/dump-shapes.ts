/**
 * Writes a PNG contact sheet of the synthetic data set, one row per class, for eyeballing:
 *   npx tsx scripts/dump-shapes.ts [--seed 1] [--per-class 12] [--augmented] [--out shapes.png]
 * With --augmented, each training image is followed by its two augmented views.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { augmentInto, drawAugmentParams } from '../src/train/augment.ts';
import { drawSplit, IMAGE_PIXELS, SPLIT_TRAIN } from '../src/train/dataset.ts';
import { encodePng } from '../src/train/dump.ts';
import { IMAGE_SIZE, NUM_CLASSES, SHAPE_CLASSES } from '../src/train/shapes.ts';
import { createRng } from '../src/util/rng.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    'per-class': { type: 'string', default: '12' },
    augmented: { type: 'boolean', default: false },
    out: { type: 'string', default: 'shapes.png' },
  },
});
const seed = Number(values.seed);
const perClass = Number(values['per-class']);
const split = drawSplit(seed, SPLIT_TRAIN, perClass * NUM_CLASSES);
const tiles: Float32Array[] = [];
for (let c = 0; c < NUM_CLASSES; c++) {
  for (let j = 0; j < perClass; j++) {
    const i = j * NUM_CLASSES + c; // image i has class i mod NUM_CLASSES
    const image = split.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS);
    tiles.push(image);
    if (values.augmented) {
      for (let v = 0; v < 2; v++) {
        const rng = createRng(seed, 0xd0d0, i, v);
        tiles.push(augmentInto(image, new Float32Array(IMAGE_PIXELS), drawAugmentParams(rng), rng));
      }
    }
  }
}
const columns = perClass * (values.augmented ? 3 : 1);
writeFileSync(values.out, encodePng(tiles, IMAGE_SIZE, { columns, scale: 4 }));
console.log(`wrote ${values.out}: rows = ${SHAPE_CLASSES.join(', ')}`);
