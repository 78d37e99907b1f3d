/**
 * Writes a PNG contact sheet of the synthetic data set, one row per class, for eyeballing:
 *   npx tsx scripts/dump-shapes.ts [--seed 1] [--per-class 12] [--augmented] [--out shapes.png]
 * With --augmented, each training image is followed by its two augmented views.
 */
import { writeFileSync } from 'node:fs';
import { augmentInto, drawAugmentParams } from '../src/train/augment.ts';
import { drawSplit, IMAGE_PIXELS, SPLIT_TRAIN } from '../src/train/dataset.ts';
import { encodePng } from '../src/train/dump.ts';
import { IMAGE_SIZE, NUM_CLASSES, SHAPE_CLASSES } from '../src/train/shapes.ts';
import { createRng } from '../src/util/rng.ts';
import { parseArgsOrExit, usageError } from './lib/cli.ts';

const USAGE = `usage: npm run dump:shapes -- [options]
  --seed K          data set seed                          [1]
  --per-class N     images per class (one row per class)   [12]
  --augmented       follow each image with its two augmented views
  --out FILE        PNG file to write                      [shapes.png]`;

const { values } = parseArgsOrExit(
  {
    seed: { type: 'string', default: '1' },
    'per-class': { type: 'string', default: '12' },
    augmented: { type: 'boolean', default: false },
    out: { type: 'string', default: 'shapes.png' },
  },
  USAGE,
);
const seed = Number(values.seed);
const perClass = Number(values['per-class']);
if (!Number.isInteger(seed) || seed < 0) usageError(`--seed must be a non-negative integer, got '${values.seed}'`, USAGE);
if (!Number.isInteger(perClass) || perClass < 1 || perClass > 500) usageError(`--per-class must be an integer from 1 to 500, got '${values['per-class']}'`, USAGE);
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
