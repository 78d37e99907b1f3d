/**
 * Training configuration and the run log: shared by the training loop (src/train/), the experiment
 * runner (scripts/experiment.ts) and the UI (src/ui/). The run log is what `--out run.json` writes and
 * what the UI exports as JSON/CSV.
 */
import type { BnLayerTrace, BnMode, PermutationKind } from '../nn/batchnorm/types.ts';
import type { WireFormat } from '../mesh/half-codec.ts';

/** The BatchNorm vocabulary lives in nn (src/nn/batchnorm/types.ts); re-exported for train, app and UI. */
export type { BnLayerTrace, BnMode, PermutationKind, WireFormat };

export interface TrainConfig {
  mode: BnMode;
  permutation: PermutationKind;
  seed: number;
  steps: number;
  /** Samples per worker per step. */
  batchPerWorker: number;
  /** Virtual workers in this tab (the world is all workers of all tabs). */
  workersPerTab: number;
  queueSize: number;
  temperature: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Key-encoder EMA momentum. */
  keyMomentum: number;
  /** Evaluate kNN accuracy every this many steps (0 = never). */
  knnEvery: number;
  /** Encoder widths: input → hidden… → output (output gets BN without affine, then L2 norm). */
  inputDim: number;
  hiddenDims: number[];
  outputDim: number;
  /**
   * Compare mode: a second MoCo model trained in the same run with this BN mode, on the same data,
   * augmentations and permutation stream (src/train/compare.ts); null = one model.
   */
  compareWith: BnMode | null;
  /**
   * How gradients cross tabs: 'f32', or 'f16' / 'bf16' (half the bytes; rounded to nearest even per
   * tab, summed in float32; src/mesh/half-codec.ts). Only gradient buckets use it.
   */
  gradientWire: WireFormat;
}

/** The leak demo of the README: 8 workers × 8 samples, queue 1024, T 0.1, 2000 steps. */
export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze({
  mode: 'shuffle',
  permutation: 'random',
  seed: 1,
  steps: 2000,
  batchPerWorker: 8,
  workersPerTab: 4,
  queueSize: 1024,
  temperature: 0.1,
  lr: 0.06,
  momentum: 0.9,
  weightDecay: 1e-4,
  keyMomentum: 0.99,
  knnEvery: 25,
  inputDim: 256,
  hiddenDims: [512, 512],
  outputDim: 128,
  compareWith: null,
  gradientWire: 'f32',
});

export interface StepLog {
  step: number;
  loss: number;
  /** Fraction of queries whose positive key ranks first among [k⁺, queue]. */
  pretextAcc: number;
  /** sourceOf[w] = the worker whose statistics worker w used; identity for local, sync and samples (see sampleOrder). */
  sourceOf: number[];
  /** The step's wall time minus commMs. */
  computeMs: number;
  /** Time the step waited on communication (ms): communication not hidden behind compute. */
  commMs: number;
  /**
   * Time any of the step's collectives was in flight (ms), waited for or travelling behind compute
   * (gradient buckets); commInFlightMs − commMs of it was hidden.
   */
  commInFlightMs?: number;
  /**
   * Every tab's compute time of this step up to the gradient all-reduce (ms, by group rank), as each
   * tab measured it; the slowest one sets the pace of the room.
   */
  tabComputeMs?: number[];
  /**
   * Present on steps where statistics are traced (every step by default in the runner): the key
   * encoder's BN layers, measured (see BnLayerTrace).
   */
  bn?: BnLayerTrace[];
  /**
   * `samples` mode, traced steps: the step's deal of the world's key samples; slot j (worker ⌊j/n⌋,
   * row j mod n) was given global sample sampleOrder[j] (sample i = row i mod n of worker ⌊i/n⌋).
   */
  sampleOrder?: number[];
  /** Present on kNN evaluation steps. */
  knnAcc?: number;
  /**
   * Compare mode: the second model's figures at the same step (config.compareWith). Then computeMs
   * and commMs above cover the whole step of both models.
   */
  compare?: CompareStepLog;
}

/** The second model's part of a compare-mode step. */
export interface CompareStepLog {
  mode: BnMode;
  loss: number;
  pretextAcc: number;
  sourceOf: number[];
  bn?: BnLayerTrace[];
  sampleOrder?: number[];
  knnAcc?: number;
}

export interface RunLog {
  version: 1;
  config: TrainConfig;
  worldSize: number;
  tabs: number;
  backend: string;
  startedAt: string;
  steps: StepLog[];
  /** Final kNN accuracy, if evaluated. */
  knnAcc?: number;
  /** Compare mode: the second model's final kNN accuracy, if evaluated. */
  compareKnnAcc?: number;
}
