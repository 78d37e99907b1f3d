/**
 * Test harness: one world of MoCo workers placed on `tabs` in-memory tabs (CPU backends, memory
 * process groups), stepping every tab together as real tabs would.
 */
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { createMemoryGroups } from '../../src/mesh/memory.ts';
import { localWorld, processGroupWorld } from '../../src/nn/world.ts';
import { createDataset, type LabelledImages } from '../../src/train/dataset.ts';
import { MocoTrainer, type StepOptions } from '../../src/train/moco.ts';
import { DEFAULT_CONFIG, type StepLog, type TrainConfig } from '../../src/train/types.ts';

/** A small configuration that keeps CPU steps in the milliseconds. */
export const SMALL_CONFIG: TrainConfig = {
  ...DEFAULT_CONFIG,
  hiddenDims: [32],
  outputDim: 16,
  queueSize: 48,
  batchPerWorker: 4,
  workersPerTab: 4,
  knnEvery: 0,
  steps: 5,
};

let cachedTrain: LabelledImages | null = null;
/** 200 training images of seed 1, drawn once per test file. */
export function smallTrain(): LabelledImages {
  cachedTrain ??= createDataset({ seed: 1, trainPerClass: 20, testPerClass: 1 }).train;
  return cachedTrain;
}

export interface Placement {
  trainers: MocoTrainer[];
  /** Runs one step on every tab; logs per tab. */
  step(opts?: StepOptions): Promise<StepLog[]>;
  destroy(): void;
}

/** `workersPerTab[r]` workers on tab r (one tab: a local world without a process group). */
export async function place(config: TrainConfig, workersPerTab: number[], train = smallTrain()): Promise<Placement> {
  let trainers: MocoTrainer[];
  if (workersPerTab.length === 1) {
    trainers = [new MocoTrainer({ backend: createCpuBackend(), config, world: localWorld(workersPerTab[0]), train })];
  } else {
    const groups = createMemoryGroups(workersPerTab.length);
    const worlds = await Promise.all(groups.map((g, r) => processGroupWorld(g, workersPerTab[r])));
    trainers = groups.map((group, r) => new MocoTrainer({ backend: createCpuBackend(), config, world: worlds[r], group, train }));
  }
  await Promise.all(trainers.map((t) => t.broadcastParameters()));
  return {
    trainers,
    step: (opts) => Promise.all(trainers.map((t) => t.runStep(opts))),
    destroy: () => trainers.forEach((t) => t.destroy()),
  };
}

/** Largest |a − b| relative to max(1, |b|). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}
