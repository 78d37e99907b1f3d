/**
 * Writes what tests/golden/make_trajectory.py needs from our own code: every worker's batches of the
 * 20 steps (our shape data and augmentations, pooled to 8×8), the initial weights, BN buffers and
 * queue exactly as MocoTrainer builds them, and per setting the statistics permutation of every step
 * (stepPermutation) and the sample deal of `samples` mode (sampleShuffle); for the encoder part
 * (tests/train/encoder-trajectory.ts) its initial weights and targets. The oracle reimplements none of
 * our random streams: it reads them here.
 *
 *   npx tsx tests/golden/dump-trajectory-inputs.ts [out.json]   (default test-artifacts/trajectory-inputs.json)
 *
 * Tensors are base64 of little-endian float32, as in trajectory.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { stepPermutation } from '../../src/nn/permutation.ts';
import { localWorld } from '../../src/nn/world.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import { sampleShuffle } from '../../src/train/sample-shuffle.ts';
import {
  FINGERPRINT_ALGORITHM,
  TRAJECTORY_CONFIG,
  TRAJECTORY_SETTINGS,
  TRAJECTORY_STEPS,
  TRAJECTORY_WORKERS,
  allBatches,
  encodeF32,
  fingerprint,
  settingConfig,
  trainerTensors,
  trajectoryBatches,
} from '../train/trajectory-setup.ts';
import { ENCODER_SETTINGS, allTargets, encoderInputsFingerprint, encoderSourceOf, initialEncoderTensors } from '../train/encoder-trajectory.ts';

/** [a, b, c, d, …] → [[a, b], [c, d], …] for size 2. */
function chunk<T>(items: T[], size: number): T[][] {
  return Array.from({ length: items.length / size }, (_, i) => items.slice(i * size, (i + 1) * size));
}

const root = new URL('../../', import.meta.url).pathname;
const out = resolve(process.argv[2] ?? `${root}test-artifacts/trajectory-inputs.json`);

interface InitialTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The trainer's tensors before step 0: query, key (parameters then buffers), queue. */
async function initialTensors(settingIndex: number): Promise<InitialTensor[]> {
  const backend = createCpuBackend();
  const trainer = new MocoTrainer({
    backend,
    config: settingConfig(TRAJECTORY_SETTINGS[settingIndex]!),
    world: localWorld(TRAJECTORY_WORKERS),
    train: { images: new Float32Array(0), labels: new Int32Array(0), count: 0 },
    drawBatch: trajectoryBatches(),
  });
  const tensors = await Promise.all(trainerTensors(trainer).map(async (t) => ({ name: t.name, shape: t.shape, data: await backend.read(t.value) })));
  trainer.destroy();
  return tensors;
}

const initial = await initialTensors(0);
for (let i = 1; i < TRAJECTORY_SETTINGS.length; i++) {
  const other = await initialTensors(i);
  const same = other.length === initial.length && other.every((t, k) => t.name === initial[k]!.name && t.data.every((v, j) => v === initial[k]!.data[j]));
  if (!same) throw new Error(`setting ${TRAJECTORY_SETTINGS[i]!.name} starts from other weights than ${TRAJECTORY_SETTINGS[0]!.name}: the oracle assumes one start`);
}

const source = trajectoryBatches();
const n = TRAJECTORY_CONFIG.batchPerWorker;
const batches = Array.from({ length: TRAJECTORY_STEPS }, (_, step) =>
  Array.from({ length: TRAJECTORY_WORKERS }, (_, w) => {
    const b = source(step, w, n);
    return { query: encodeF32(b.query), key: encodeF32(b.key) };
  }),
);
const steps = Array.from({ length: TRAJECTORY_STEPS }, (_, s) => s);
const identity = Array.from({ length: TRAJECTORY_WORKERS }, (_, w) => w);
const settings = TRAJECTORY_SETTINGS.map((s) => ({
  ...s,
  // What MocoTrainer.runStep uses: the permutation only in shuffle mode, the sample deal only in samples mode.
  sourceOf: steps.map((step) => (s.mode === 'shuffle' ? stepPermutation(TRAJECTORY_CONFIG.seed, step, TRAJECTORY_WORKERS, s.permutation) : identity)),
  sampleOrder: s.mode === 'samples' ? steps.map((step) => sampleShuffle(TRAJECTORY_CONFIG.seed, step, TRAJECTORY_WORKERS * n)) : null,
}));

const inputsSha256 = await fingerprint([...allBatches(source), ...initial.map((t) => t.data)]);
// The encoder trained through its BN exchange (tests/train/encoder-trajectory.ts).
const encoderInitial = await initialEncoderTensors(createCpuBackend());
const encoder = {
  inputsSha256: await encoderInputsFingerprint(createCpuBackend(), source, TRAJECTORY_WORKERS),
  targets: chunk(allTargets(TRAJECTORY_WORKERS).map(encodeF32), TRAJECTORY_WORKERS),
  initial: encoderInitial.map((t) => ({ name: t.name, shape: t.shape, data: encodeF32(t.data) })),
  settings: ENCODER_SETTINGS.map((s) => ({ ...s, sourceOf: steps.map((step) => encoderSourceOf(s, step, TRAJECTORY_WORKERS)) })),
};

const dump = {
  format: 1,
  about: 'Inputs of tests/golden/make_trajectory.py, written by tests/golden/dump-trajectory-inputs.ts from our own generator',
  config: TRAJECTORY_CONFIG,
  workers: TRAJECTORY_WORKERS,
  steps: TRAJECTORY_STEPS,
  fingerprintAlgorithm: FINGERPRINT_ALGORITHM,
  inputsSha256,
  batches,
  initial: initial.map((t) => ({ name: t.name, shape: t.shape, data: encodeF32(t.data) })),
  settings,
  encoder,
};
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(dump)}\n`);
console.log(`wrote ${out} (${TRAJECTORY_SETTINGS.length} settings, ${TRAJECTORY_STEPS} steps, inputs ${inputsSha256.slice(0, 12)}…)`);
