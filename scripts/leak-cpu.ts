/**
 * The BatchNorm leak experiment on the CPU backend, one process, no browser:
 *   npx tsx scripts/leak-cpu.ts --mode local --steps 300 --seed 1 [--workers 8] [--knn-every 25]
 *                               [--features hidden|output] [--out run.json] [--print-every 1]
 * Runs DEFAULT_CONFIG (8 workers × 8 samples, queue 1024, T 0.1, lr 0.06, 256→512→512→128) in a
 * local world of `--workers` virtual workers and prints `[step/steps] Loss x` lines and kNN
 * accuracy. Expected: `local` drives pretext accuracy towards 100% (the positive key shares the
 * query's batch statistics) while its kNN accuracy falls behind `shuffle`.
 */
import { writeFileSync } from 'node:fs';
import { createCpuBackend } from '../src/backend/cpu/index.ts';
import { localWorld } from '../src/nn/world.ts';
import { createDataset } from '../src/train/dataset.ts';
import { knnAccuracy, type KnnFeatures } from '../src/train/knn.ts';
import { MocoTrainer } from '../src/train/moco.ts';
import { DEFAULT_CONFIG, type BnMode, type RunLog, type StepLog, type TrainConfig } from '../src/train/types.ts';
import { parseArgsOrExit, usageError } from './lib/cli.ts';

const MODES: readonly BnMode[] = ['local', 'shuffle', 'sync', 'samples'];

const USAGE = `usage: npm run leak:cpu -- [options]
  --mode M          local | shuffle | sync | samples                 [${DEFAULT_CONFIG.mode}]
  --steps S         training steps                                   [${DEFAULT_CONFIG.steps}]
  --seed K          run seed (data, init, permutations)              [${DEFAULT_CONFIG.seed}]
  --workers V       virtual workers in the one local world           [8]
  --knn-every N     kNN evaluation period in steps, 0 = never        [${DEFAULT_CONFIG.knnEvery}]
  --features F      kNN on hidden | output features                  [hidden]
  --print-every N   print the loss line every N steps                [1]
  --out FILE        write the JSON run log here
The rest of the configuration is DEFAULT_CONFIG (src/train/types.ts).`;

const { values } = parseArgsOrExit(
  {
    mode: { type: 'string', default: DEFAULT_CONFIG.mode },
    steps: { type: 'string', default: String(DEFAULT_CONFIG.steps) },
    seed: { type: 'string', default: String(DEFAULT_CONFIG.seed) },
    workers: { type: 'string', default: '8' },
    'knn-every': { type: 'string', default: String(DEFAULT_CONFIG.knnEvery) },
    features: { type: 'string', default: 'hidden' },
    'print-every': { type: 'string', default: '1' },
    out: { type: 'string' },
  },
  USAGE,
);

const mode = values.mode as BnMode;
if (!MODES.includes(mode)) usageError(`--mode must be one of ${MODES.join(', ')}`, USAGE);
for (const flag of ['steps', 'seed', 'workers', 'knn-every', 'print-every'] as const) {
  const v = Number(values[flag]);
  if (!Number.isInteger(v) || v < 0) usageError(`--${flag} must be a non-negative integer, got '${values[flag]}'`, USAGE);
}
if (values.features !== 'hidden' && values.features !== 'output') usageError(`--features must be hidden or output, got '${values.features}'`, USAGE);
const workers = Number(values.workers);
const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  hiddenDims: [...DEFAULT_CONFIG.hiddenDims],
  mode,
  seed: Number(values.seed),
  steps: Number(values.steps),
  workersPerTab: workers,
  knnEvery: Number(values['knn-every']),
};
const features = values.features as KnnFeatures;
const printEvery = Math.max(1, Number(values['print-every']));

const backend = createCpuBackend();
const dataset = createDataset({ seed: config.seed });
const trainer = new MocoTrainer({ backend, config, world: localWorld(workers), train: dataset.train });
const log: RunLog = {
  version: 1,
  config,
  worldSize: workers,
  tabs: 1,
  backend: backend.label,
  startedAt: new Date().toISOString(),
  steps: [],
};
console.log(`mode ${mode}, ${workers} workers × ${config.batchPerWorker}, queue ${config.queueSize}, T ${config.temperature}, lr ${config.lr}, seed ${config.seed}, ${config.steps} steps on ${backend.label}`);

const started = performance.now();
let accWindow: number[] = [];
for (let s = 0; s < config.steps; s++) {
  const step: StepLog = await trainer.runStep();
  accWindow.push(step.pretextAcc);
  const done = s + 1;
  if (done % printEvery === 0 || done === config.steps) {
    const acc = accWindow.reduce((a, b) => a + b, 0) / accWindow.length;
    accWindow = [];
    console.log(`[${done}/${config.steps}] Loss ${step.loss.toFixed(4)}  Acc@1 ${(100 * acc).toFixed(2)}%  (${step.computeMs.toFixed(0)} ms)`);
  }
  if (config.knnEvery > 0 && (done % config.knnEvery === 0 || done === config.steps)) {
    const t0 = performance.now();
    step.knnAcc = await knnAccuracy(trainer, dataset, { features });
    log.knnAcc = step.knnAcc;
    console.log(`[${done}/${config.steps}] kNN(${features}) ${(100 * step.knnAcc).toFixed(2)}%  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  log.steps.push(step);
}
console.log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
if (values.out) writeFileSync(values.out, JSON.stringify(log));
trainer.destroy();
