/**
 * The oracle's second part: the encoder itself trained THROUGH its BatchNorm exchange. In MoCo the
 * borrowed (shuffle) or global (sync) statistics only occur in the key encoder, which has no gradient,
 * and the query encoder uses local BN, so a MoCo step never runs the backward of the exchange (the
 * dmean/dvar sent back to the producers). Here the 64 → 32 → 32 → 16 encoder with BN in the setting's
 * mode is trained by SGD to point its outputs at fixed random targets, the gradient averaged over the world as
 * DDP does, so that backward is on the trajectory. make_trajectory.py runs the same steps with autograd.
 * Shared by the CPU test, the WebGPU page and the dumper; runs in Node and in the browser.
 */
import type { Backend } from '../../src/backend/backend.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import { buildEncoder } from '../../src/nn/encoder.ts';
import type { Sequential } from '../../src/nn/layers/sequential.ts';
import type { ForwardContext } from '../../src/nn/layers/types.ts';
import { SGD } from '../../src/nn/optim.ts';
import { stepPermutation } from '../../src/nn/permutation.ts';
import { syncRunningStats } from '../../src/nn/batchnorm/running-stats.ts';
import { flattenTensors, unflattenInto } from '../../src/nn/serialize.ts';
import type { WorkerWorld } from '../../src/nn/world.ts';
import type { BatchSource } from '../../src/train/moco.ts';
import { createRng } from '../../src/util/rng.ts';
import { TRAJECTORY_CONFIG, TRAJECTORY_STEPS, allBatches, fingerprint, namedTensors, type TrajectoryRun, type TrajectorySetting } from './trajectory-setup.ts';

/** Stream tags of the encoder's initial weights and of the targets. */
const TAG_ENCODER = 0xe7c0de;
const TAG_TARGET = 0x7a26e7;

/** The settings whose layers differ: `samples` is local BN inside the layer. */
export const ENCODER_SETTINGS: readonly TrajectorySetting[] = [
  { name: 'local', mode: 'local', permutation: 'random' },
  { name: 'shuffle-random', mode: 'shuffle', permutation: 'random' },
  { name: 'shuffle-cyclic', mode: 'shuffle', permutation: 'cyclic' },
  { name: 'sync', mode: 'sync', permutation: 'random' },
];

/** Worker `worker`'s targets at `step`: [n, outputDim], random unit rows. */
export function encoderTargets(step: number, worker: number, n: number): Float32Array {
  const rng = createRng(TRAJECTORY_CONFIG.seed, TAG_TARGET, step, worker);
  const dim = TRAJECTORY_CONFIG.outputDim;
  const out = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    const row = Array.from({ length: dim }, () => rng.normal());
    const norm = Math.hypot(...row);
    row.forEach((v, k) => (out[r * dim + k] = v / norm));
  }
  return out;
}

/** The encoder before step 0 (the same weights in every mode). */
export function buildTrajectoryEncoder(backend: Backend, setting: TrajectorySetting): Sequential {
  const { inputDim, hiddenDims, outputDim, seed } = TRAJECTORY_CONFIG;
  return buildEncoder(backend, { inputDim, hiddenDims, outputDim, bnMode: setting.mode }, createRng(seed, TAG_ENCODER));
}

/** The step's lending map, as MocoTrainer derives it; identity outside shuffle. */
export function encoderSourceOf(setting: TrajectorySetting, step: number, worldSize: number): number[] {
  return setting.mode === 'shuffle'
    ? stepPermutation(TRAJECTORY_CONFIG.seed, step, worldSize, setting.permutation)
    : Array.from({ length: worldSize }, (_, w) => w);
}

/**
 * Trains the encoder for the recorded steps on the query views of `source`: loss = mean over the
 * world's rows of 1 − ⟨y/‖y‖, target⟩ with unit targets (bounded, away from 0, unlike a squared error of outputs normalised with another
 * worker's statistics); SGD with the trajectory's lr, momentum and weight decay; running
 * statistics synced once per step. Every tab calls it together (`group` null for a one-tab world).
 */
export async function runEncoderTrajectory(
  backend: Backend,
  world: WorkerWorld,
  group: ProcessGroup | null,
  setting: TrajectorySetting,
  source: BatchSource,
): Promise<TrajectoryRun> {
  const { batchPerWorker: n, inputDim, outputDim, lr, momentum, weightDecay } = TRAJECTORY_CONFIG;
  const L = world.localWorkers;
  const W = world.worldSize;
  const model = buildTrajectoryEncoder(backend, setting);
  const sgd = new SGD(backend, model.parameters(), { lr, momentum, weightDecay });
  const run: TrajectoryRun = { loss: [], pretextAcc: [], sourceOf: [], final: {} };
  try {
    for (let step = 0; step < TRAJECTORY_STEPS; step++) {
      group?.setStep(step);
      const input = new Float32Array(L * n * inputDim);
      const target = new Float32Array(L * n * outputDim);
      for (let g = 0; g < L; g++) {
        input.set(source(step, world.firstWorker + g, n).query, g * n * inputDim);
        target.set(encoderTargets(step, world.firstWorker + g, n), g * n * outputDim);
      }
      const sourceOf = encoderSourceOf(setting, step, W);
      const ctx: ForwardContext = { backend, training: true, world, sourceOf: setting.mode === 'shuffle' ? sourceOf : null };
      const x = backend.fromArray(input, [L * n, inputDim]);
      const y = await model.forward(x, ctx);
      const out = await backend.read(y);
      const { lossSum, dyValues } = cosineLoss(out, target, L * n, W * n);
      const dy = backend.fromArray(dyValues, [L * n, outputDim]);
      const dx = await model.backward(dy, ctx);
      // DDP: the world's gradient is the sum of every tab's, one all-reduce with the loss appended.
      const params = sgd.params;
      const grads = params.map((p) => p.grad!);
      const packed = await flattenTensors(backend, grads);
      const local = new Float32Array(packed.length + 1);
      local.set(packed);
      local[packed.length] = lossSum;
      const summed = group && group.size > 1 ? await group.allReduce(local, 'sum', { priority: 'bulk' }) : local;
      unflattenInto(backend, grads, summed.subarray(0, packed.length));
      await syncRunningStats(model, ctx);
      sgd.step();
      sgd.zeroGrad();
      for (const t of [x, y, dy, dx]) backend.dispose(t);
      run.loss.push(summed[packed.length]! / (W * n));
      run.sourceOf.push(sourceOf);
    }
    for (const t of namedTensors(model, 'encoder')) run.final[t.name] = Array.from(await backend.read(t.value));
    return run;
  } finally {
    sgd.destroy();
    model.dispose();
  }
}

/**
 * Σ over this tab's rows of 1 − ⟨ŷ, t⟩ with ŷ = y/‖y‖ (float64), and its gradient for the world's mean:
 * dy = −(t − ŷ·⟨ŷ, t⟩) / (‖y‖ · worldRows). Computed on the host: only the encoder's backward is under test.
 */
function cosineLoss(y: Float32Array, target: Float32Array, rows: number, worldRows: number): { lossSum: number; dyValues: Float32Array } {
  const dim = y.length / rows;
  const dyValues = new Float32Array(y.length);
  let lossSum = 0;
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    for (let k = 0; k < dim; k++) norm += y[r * dim + k]! ** 2;
    norm = Math.max(Math.sqrt(norm), 1e-12);
    let dot = 0;
    for (let k = 0; k < dim; k++) dot += (y[r * dim + k]! / norm) * target[r * dim + k]!;
    lossSum += 1 - dot;
    for (let k = 0; k < dim; k++) {
      const yHat = y[r * dim + k]! / norm;
      dyValues[r * dim + k] = -(target[r * dim + k]! - yHat * dot) / (norm * worldRows);
    }
  }
  return { lossSum, dyValues };
}

/** Every target of the run, in (step, worker) order. */
export function allTargets(workers: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let step = 0; step < TRAJECTORY_STEPS; step++) {
    for (let w = 0; w < workers; w++) out.push(encoderTargets(step, w, TRAJECTORY_CONFIG.batchPerWorker));
  }
  return out;
}

/** The encoder's initial tensors by name (parameters, then BN buffers). */
export async function initialEncoderTensors(backend: Backend): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
  const model = buildTrajectoryEncoder(backend, ENCODER_SETTINGS[0]!);
  try {
    return await Promise.all(namedTensors(model, 'encoder').map(async (t) => ({ name: t.name, shape: t.shape, data: await backend.read(t.value) })));
  } finally {
    model.dispose();
  }
}

/** Fingerprint of the encoder part's inputs: every batch, every target, then the initial tensors. */
export async function encoderInputsFingerprint(backend: Backend, source: BatchSource, workers: number): Promise<string> {
  const initial = await initialEncoderTensors(backend);
  return fingerprint([...allBatches(source), ...allTargets(workers), ...initial.map((t) => t.data)]);
}
