/**
 * The PyTorch trajectory oracle's setting, shared by the dumper (tests/golden/dump-trajectory-inputs.ts),
 * the CPU test in Node and the WebGPU page: one small MoCo configuration, the five BN settings, the
 * batch source, the naming of every tensor, and the fingerprint that ties our generator's inputs to
 * the ones tests/golden/make_trajectory.py consumed. Runs in Node and in the browser (no Node APIs).
 */
import { drawWorkerBatch } from '../../src/train/augment.ts';
import { createDataset, IMAGE_PIXELS, type LabelledImages } from '../../src/train/dataset.ts';
import type { BatchSource, MocoTrainer } from '../../src/train/moco.ts';
import { IMAGE_SIZE } from '../../src/train/shapes.ts';
import { DEFAULT_CONFIG, type BnMode, type PermutationKind, type TrainConfig } from '../../src/train/types.ts';
import type { Sequential } from '../../src/nn/layers/sequential.ts';
import type { Tensor } from '../../src/backend/backend.ts';

/** Training steps recorded per setting. */
export const TRAJECTORY_STEPS = 20;
/** Workers in the world (the browser test places them as 2 tabs × 2). */
export const TRAJECTORY_WORKERS = 4;
/** Images are pooled POOL × POOL, so 16×16 shapes become 8×8 = 64 inputs. */
const POOL = 2;
const POOLED_SIZE = IMAGE_SIZE / POOL;
/** Training images drawn for the batches (per class); a small set draws in milliseconds. */
const TRAIN_PER_CLASS = 20;

/**
 * A small MoCo world: 64 → 32 → 32 → 16 with BN as the encoder builds it, 4 workers × 8 samples,
 * queue 48 (not a multiple of the world batch of 32, so the queue pointer wraps mid-batch). lr, weight
 * decay and the key-encoder momentum are larger than the demo's so that 20 steps move the weights and
 * the key encoder enough for a wrong update rule to show.
 *
 * Why 8 samples per worker, not 4: with 4, BN variances over 4 samples get as small as 2e-5 and
 * pre-ReLU values pass within 2e-6 of the kink, so the trajectory is chaotic at float32 resolution:
 * PyTorch's own float32 run of it strays from its float64 run by 1e-4 to 1e-1 in the loss within
 * 20 steps, depending on the mode (ours alike). With 8, PyTorch's float32 run stays within 2.0e-6
 * (loss) and 3.2e-5 (weights); trajectory.json records that figure per setting.
 */
export const TRAJECTORY_CONFIG: Readonly<TrainConfig> = Object.freeze({
  ...DEFAULT_CONFIG,
  seed: 11,
  steps: TRAJECTORY_STEPS,
  batchPerWorker: 8,
  workersPerTab: TRAJECTORY_WORKERS,
  queueSize: 48,
  temperature: 0.2,
  lr: 0.03,
  momentum: 0.9,
  weightDecay: 1e-3,
  keyMomentum: 0.9,
  knnEvery: 0,
  inputDim: POOLED_SIZE * POOLED_SIZE,
  hiddenDims: [32, 32],
  outputDim: 16,
});

export interface TrajectorySetting {
  /** Key in trajectory.json. */
  name: string;
  mode: BnMode;
  permutation: PermutationKind;
}

/** The five settings the oracle records. */
export const TRAJECTORY_SETTINGS: readonly TrajectorySetting[] = [
  { name: 'local', mode: 'local', permutation: 'random' },
  { name: 'shuffle-random', mode: 'shuffle', permutation: 'random' },
  { name: 'shuffle-cyclic', mode: 'shuffle', permutation: 'cyclic' },
  { name: 'sync', mode: 'sync', permutation: 'random' },
  { name: 'samples', mode: 'samples', permutation: 'random' },
];

export function settingConfig(setting: TrajectorySetting, workersPerTab = TRAJECTORY_WORKERS): TrainConfig {
  return { ...TRAJECTORY_CONFIG, mode: setting.mode, permutation: setting.permutation, workersPerTab };
}

/** 2 × 2 average pooling of 16×16 images [n, 256] → [n, 64]. */
function pool(images: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * POOLED_SIZE * POOLED_SIZE);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < POOLED_SIZE; y++) {
      for (let x = 0; x < POOLED_SIZE; x++) {
        let sum = 0;
        for (let dy = 0; dy < POOL; dy++) {
          for (let dx = 0; dx < POOL; dx++) sum += images[i * IMAGE_PIXELS + (y * POOL + dy) * IMAGE_SIZE + x * POOL + dx]!;
        }
        out[(i * POOLED_SIZE + y) * POOLED_SIZE + x] = sum / (POOL * POOL);
      }
    }
  }
  return out;
}

let cachedTrain: LabelledImages | null = null;

/**
 * Our data pipeline (shape images, keyed batches, MoCo augmentations), pooled to 8×8: worker w's
 * batch at step s, the same on every tab.
 */
export function trajectoryBatches(): BatchSource {
  cachedTrain ??= createDataset({ seed: TRAJECTORY_CONFIG.seed, trainPerClass: TRAIN_PER_CLASS, testPerClass: 1 }).train;
  const train = cachedTrain;
  return (step, worker, n) => {
    const batch = drawWorkerBatch(train, TRAJECTORY_CONFIG.seed, step, worker, n);
    return { query: pool(batch.query, n), key: pool(batch.key, n) };
  };
}

/** A tensor by its PyTorch state_dict-style name, e.g. `query.0.weight`, `key.3.running_var`. */
export interface NamedTensor {
  name: string;
  shape: number[];
  value: Tensor;
}

/** Parameters then buffers of every child, named `<prefix>.<child index>.<name>` (the state() order). */
export function namedTensors(model: Sequential, prefix: string): NamedTensor[] {
  const params = model.children.flatMap((child, i) => child.parameters().map((p) => ({ name: `${prefix}.${i}.${p.name}`, shape: [...p.value.shape], value: p.value })));
  const buffers = model.children.flatMap((child, i) => child.buffers().map((p) => ({ name: `${prefix}.${i}.${p.name}`, shape: [...p.value.shape], value: p.value })));
  return [...params, ...buffers];
}

/** How trajectory.json's `inputsSha256` is computed (written into the JSON too). */
export const FINGERPRINT_ALGORITHM = 'SHA-256 over the little-endian float32 bytes of every batch (step, worker, query then key) and then every initial tensor in the dump\'s order';

/** SHA-256 (hex) of float32 arrays concatenated, as make_trajectory.py computes it. */
export async function fingerprint(parts: readonly Float32Array[]): Promise<string> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Float32Array(total);
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  // Float32Array is little-endian on every platform this runs on (x86, ARM).
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new Uint8Array(all.buffer));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Every batch of the run, in fingerprint order. */
export function allBatches(source: BatchSource): Float32Array[] {
  const out: Float32Array[] = [];
  for (let step = 0; step < TRAJECTORY_STEPS; step++) {
    for (let w = 0; w < TRAJECTORY_WORKERS; w++) {
      const b = source(step, w, TRAJECTORY_CONFIG.batchPerWorker);
      out.push(b.query, b.key);
    }
  }
  return out;
}

/** Little-endian float32 bytes as base64 (the dump's and trajectory.json's tensor encoding). */
export function encodeF32(values: Float32Array): string {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function decodeF32(base64: string): Float32Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

/** One setting of tests/golden/trajectory.json. */
export interface ReferenceSetting {
  name: string;
  mode: BnMode;
  permutation: PermutationKind;
  sourceOf: number[][];
  sampleOrder: number[][] | null;
  loss: number[];
  workerLoss: number[][];
  pretextAcc: number[];
  queuePtr: number;
  final: Record<string, { shape: number[]; data: string }>;
  /** How far PyTorch's own float32 run of the same steps strays (the tests' measures). */
  torchFloat32Deviation: { loss: number; final: number };
}

export interface Reference {
  format: 1;
  torch: string;
  dtype: string;
  config: TrainConfig;
  workers: number;
  steps: number;
  inputsSha256: string;
  settings: ReferenceSetting[];
  encoder: EncoderReference;
}

/** What a run of ours produced, in the reference's terms. */
export interface TrajectoryRun {
  loss: number[];
  pretextAcc: number[];
  sourceOf: number[][];
  /** Final tensors by name (query.*, key.*, queue), as read from the backend. */
  final: Record<string, number[] | Float32Array>;
}

export interface TrajectoryErrors {
  /** Largest |loss − reference| / |reference| over the steps, and its step. */
  loss: number;
  lossStep: number;
  /** Largest per-tensor ‖ours − reference‖₂ / ‖reference‖₂ (norm-wise relative error), and its tensor. */
  final: number;
  finalTensor: string;
  /** Tensors the reference has and the run lacks, or of another size. */
  missing: string[];
}

/** Is error `e` worse than `current`? NaN is worst and stays. */
function worse(e: number, current: number): boolean {
  return !Number.isNaN(current) && !(e <= current);
}

/** Compares a run with the reference setting (see TrajectoryErrors for the measures). */
export function trajectoryErrors(run: TrajectoryRun, ref: Pick<ReferenceSetting, 'loss' | 'final'>): TrajectoryErrors {
  let loss = 0;
  let lossStep = -1;
  ref.loss.forEach((r, s) => {
    const e = Math.abs((run.loss[s] ?? NaN) - r) / Math.abs(r);
    if (worse(e, loss)) [loss, lossStep] = [e, s];
  });
  let final = 0;
  let finalTensor = '';
  const missing: string[] = [];
  for (const [name, entry] of Object.entries(ref.final)) {
    const expected = decodeF32(entry.data);
    const ours = run.final[name];
    if (!ours || ours.length !== expected.length) {
      missing.push(name);
      continue;
    }
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < expected.length; i++) {
      diff += (ours[i]! - expected[i]!) ** 2;
      scale += expected[i]! ** 2;
    }
    const e = Math.sqrt(diff / scale);
    if (worse(e, final)) [final, finalTensor] = [e, name];
  }
  return { loss, lossStep, final, finalTensor, missing };
}

/** The trainer's tensors by name: query and key encoder (parameters, then BN buffers), queue. */
export function trainerTensors(trainer: MocoTrainer): NamedTensor[] {
  return [...namedTensors(trainer.query, 'query'), ...namedTensors(trainer.key, 'key'), { name: 'queue', shape: [...trainer.queue.shape], value: trainer.queue }];
}

/**
 * Fingerprint of what this trainer is about to train on (every batch of the run, then its initial
 * tensors): must equal trajectory.json's `inputsSha256`, or the reference was made from other inputs.
 */
export async function inputsFingerprint(trainer: MocoTrainer, source: BatchSource): Promise<string> {
  const initial = await Promise.all(trainerTensors(trainer).map((t) => trainer.backend.read(t.value)));
  return fingerprint([...allBatches(source), ...initial]);
}

/** Runs the trainer for the recorded steps; final tensors as plain arrays (they cross page.evaluate). */
export async function runTrajectory(trainer: MocoTrainer): Promise<TrajectoryRun> {
  const run: TrajectoryRun = { loss: [], pretextAcc: [], sourceOf: [], final: {} };
  for (let s = 0; s < TRAJECTORY_STEPS; s++) {
    const log = await trainer.runStep();
    run.loss.push(log.loss);
    run.pretextAcc.push(log.pretextAcc);
    run.sourceOf.push(log.sourceOf);
  }
  for (const t of trainerTensors(trainer)) run.final[t.name] = Array.from(await trainer.backend.read(t.value));
  return run;
}

/** The encoder part of tests/golden/trajectory.json (see encoder-trajectory.ts). */
export interface EncoderReference {
  inputsSha256: string;
  settings: Array<Omit<ReferenceSetting, 'sampleOrder' | 'workerLoss' | 'pretextAcc' | 'queuePtr'> & { torchFloat32Deviation: { loss: number; final: number } }>;
}
