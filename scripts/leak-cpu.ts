/**
 * The BatchNorm leak experiment on the CPU backend, one process, no browser:
 *   npx tsx scripts/leak-cpu.ts --mode local --steps 300 --seed 1 [--compare shuffle] [--workers 8]
 *                               [--knn-every 25] [--features hidden|output] [--out run.json] [--print-every 1]
 * Runs DEFAULT_CONFIG (8 workers × 8 samples, queue 1024, T 0.1, lr 0.06, 256→512→512→128) in a
 * local world of `--workers` virtual workers and prints `[step/steps] Loss x` lines and kNN
 * accuracy. Expected: `local` drives pretext accuracy towards 100% (the positive key shares the
 * query's batch statistics) while its kNN accuracy falls behind `shuffle`. With `--compare M` a
 * second model with BN mode M trains in the same run (same data, views and permutations) and the
 * gaps between the two are printed at the end.
 */
import { writeFileSync } from 'node:fs';
import { WIRE_FORMATS, type WireFormat } from '../src/mesh/half-codec.ts';
import { DEFAULT_CONFIG, type BnMode, type TrainConfig } from '../src/train/types.ts';
import type { KnnFeatures } from '../src/train/knn.ts';
import { runOnCpu } from './lib/cpu-run.ts';
import { parseArgsOrExit, usageError } from './lib/cli.ts';
import { gapsLine, leakGaps } from './lib/leak-gaps.ts';

const MODES: readonly BnMode[] = ['local', 'shuffle', 'sync', 'samples'];

const USAGE = `usage: npm run leak:cpu -- [options]
  --mode M          local | shuffle | sync | samples                 [${DEFAULT_CONFIG.mode}]
  --compare M       also train a second model with BN mode M (compare mode)  [off]
  --steps S         training steps                                   [${DEFAULT_CONFIG.steps}]
  --seed K          run seed                                         [${DEFAULT_CONFIG.seed}]
  --workers W       virtual workers in this process                  [8]
  --tabs N          split the workers over N in-memory tabs (the mesh's wire and
                    collectives in this process; gradients then cross tabs)  [1]
  --wire F          gradients on the wire between tabs: f32 | f16 | bf16  [f32]
  --batch B         samples per worker                               [${DEFAULT_CONFIG.batchPerWorker}]
  --lr X            SGD learning rate                                [${DEFAULT_CONFIG.lr}]
  --knn-every N     kNN evaluation period, 0 = never                 [${DEFAULT_CONFIG.knnEvery}]
  --features F      kNN features: hidden | output                    [hidden]
  --print-every N   print every N steps (accuracy averaged over them) [1]
  --out FILE        write the JSON run log here
  --help            this text`;

const fail = (message: string): never => usageError(message, USAGE);

const { values } = parseArgsOrExit(
  {
    mode: { type: 'string', default: DEFAULT_CONFIG.mode },
    compare: { type: 'string' },
    steps: { type: 'string', default: String(DEFAULT_CONFIG.steps) },
    seed: { type: 'string', default: String(DEFAULT_CONFIG.seed) },
    workers: { type: 'string', default: '8' },
    tabs: { type: 'string', default: '1' },
    wire: { type: 'string', default: 'f32' },
    batch: { type: 'string', default: String(DEFAULT_CONFIG.batchPerWorker) },
    lr: { type: 'string', default: String(DEFAULT_CONFIG.lr) },
    'knn-every': { type: 'string', default: String(DEFAULT_CONFIG.knnEvery) },
    features: { type: 'string', default: 'hidden' },
    'print-every': { type: 'string', default: '1' },
    out: { type: 'string' },
  },
  USAGE,
);

function intArg(name: keyof typeof values, min: number): number {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < min) fail(`--${name} must be an integer ≥ ${min}, got '${values[name]}'`);
  return v;
}

const mode = values.mode as BnMode;
if (!MODES.includes(mode)) fail(`--mode must be one of ${MODES.join(', ')}`);
const compareWith = values.compare === undefined ? null : (values.compare as BnMode);
if (compareWith !== null && !MODES.includes(compareWith)) fail(`--compare must be one of ${MODES.join(', ')}`);
const features = values.features as KnnFeatures;
if (features !== 'hidden' && features !== 'output') fail(`--features must be hidden or output`);
const lr = Number(values.lr);
if (!Number.isFinite(lr) || lr <= 0) fail(`--lr must be a positive number, got '${values.lr}'`);
const workers = intArg('workers', 1);
const tabs = intArg('tabs', 1);
if (workers % tabs !== 0) fail(`--workers ${workers} must split evenly over --tabs ${tabs}`);
const gradientWire = values.wire as WireFormat;
if (!WIRE_FORMATS.includes(gradientWire)) fail(`--wire must be one of ${WIRE_FORMATS.join(', ')}`);
if (gradientWire !== 'f32' && tabs < 2) fail('--wire f16/bf16 needs --tabs ≥ 2 (gradients cross no tab otherwise)');
const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  hiddenDims: [...DEFAULT_CONFIG.hiddenDims],
  mode,
  compareWith,
  seed: intArg('seed', 0),
  steps: intArg('steps', 1),
  workersPerTab: workers,
  batchPerWorker: intArg('batch', 2),
  lr,
  knnEvery: intArg('knn-every', 0),
  gradientWire,
};
if ((mode !== 'local' || (compareWith !== null && compareWith !== 'local')) && workers < 2) fail('shuffle, sync and samples need --workers ≥ 2');

const models = compareWith === null ? mode : `${mode} and ${compareWith}`;
const placement = tabs > 1 ? `${tabs} in-memory tabs × ${workers / tabs} workers, gradients in ${gradientWire}` : `${workers} workers`;
console.log(`mode ${models}, ${placement} × ${config.batchPerWorker}, queue ${config.queueSize}, T ${config.temperature}, lr ${config.lr}, seed ${config.seed}, ${config.steps} steps on the CPU backend`);
const { log, wallSeconds, sentBytesPerStep } = await runOnCpu(config, { workers, tabs, features, printEvery: intArg('print-every', 1) });
console.log(`done in ${wallSeconds.toFixed(0)} s`);
if (sentBytesPerStep !== null) console.log(`bytes sent per tab per step (rank 0, frame headers included): ${Math.round(sentBytesPerStep)}`);
const gaps = leakGaps(config, log.steps);
if (gaps) console.log(gapsLine(gaps));
if (values.out) writeFileSync(values.out, JSON.stringify(sentBytesPerStep === null ? log : { ...log, sentBytesPerStep }));
