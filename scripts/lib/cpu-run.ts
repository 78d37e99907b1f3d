/**
 * One training run on the CPU backend in this process (no browser), one or two models (compare
 * mode): the loop behind `npm run leak:cpu` and `npm run demo:check`. Prints the seed project's
 * `[step/steps] Loss x` lines and kNN accuracy, and returns the run log. With `tabs` > 1 the world is
 * split over that many in-memory tabs (the mesh's endpoints, wire format and collectives, one thread),
 * so gradients really cross tabs, in `config.gradientWire`, and the bytes each tab sends are counted.
 */
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { localWorld, processGroupWorld, type WorkerWorld } from '../../src/nn/world.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import { createCountedGroups } from './counted-groups.ts';
import { RunTrainer } from '../../src/train/compare.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { knnAccuracy, type KnnFeatures } from '../../src/train/knn.ts';
import type { RunLog, StepLog, TrainConfig } from '../../src/train/types.ts';

export interface CpuRunOptions {
  /** Virtual workers of the one-process world (overrides config.workersPerTab). */
  workers: number;
  /** In-memory tabs the workers are split over (default 1: one local world, no mesh). */
  tabs?: number;
  features: KnnFeatures;
  printEvery: number;
  print?: (line: string) => void;
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

/** Trains `config` to the end; resolves with the run log and the wall time in seconds (kNN included). */
export async function runOnCpu(config: TrainConfig, opts: CpuRunOptions): Promise<{ log: RunLog; wallSeconds: number; sentBytesPerStep: number | null }> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const tabs = opts.tabs ?? 1;
  if (!Number.isInteger(tabs) || tabs < 1 || opts.workers % tabs !== 0) throw new RangeError(`${opts.workers} workers do not split evenly over ${tabs} tabs`);
  const perTab = opts.workers / tabs;
  const dataset = createDataset({ seed: config.seed });
  const mesh = tabs > 1 ? createCountedGroups(tabs) : null;
  const groups: Array<ProcessGroup | null> = mesh ? mesh.groups : [null];
  const worlds: WorkerWorld[] = await Promise.all(groups.map((g) => (g ? processGroupWorld(g, perTab) : localWorld(perTab))));
  const trainers = groups.map(
    (group, r) => new RunTrainer({ backend: createCpuBackend(), config: { ...config, workersPerTab: perTab }, world: worlds[r]!, group, train: dataset.train }),
  );
  await Promise.all(trainers.map((t) => t.broadcastParameters()));
  const trainer = trainers[0]!;
  const backend = trainer.backend;
  const sentAtStart = mesh ? mesh.sentBytes[0]! : 0;
  const log: RunLog = { version: 1, config, worldSize: opts.workers, tabs, backend: backend.label, startedAt: new Date().toISOString(), steps: [] };
  const models = trainer.models.map((m) => m.config.mode);
  const tag = (i: number) => (models.length > 1 ? ` ${models[i]}` : '');
  const started = performance.now();
  const windows: number[][] = models.map(() => []);
  try {
    for (let s = 0; s < config.steps; s++) {
      const [step] = (await Promise.all(trainers.map((t) => t.runStep()))) as [StepLog, ...StepLog[]];
      const figures = [step, ...(step.compare ? [step.compare] : [])];
      figures.forEach((f, i) => windows[i]!.push(f.pretextAcc));
      const done = s + 1;
      if (done % opts.printEvery === 0 || done === config.steps) {
        figures.forEach((f, i) => {
          const recent = windows[i]!.slice(-opts.printEvery);
          const acc = recent.reduce((a, b) => a + b, 0) / recent.length;
          print(`[${done}/${config.steps}]${tag(i)} Loss ${f.loss.toFixed(4)}  Acc@1 ${pct(acc)}${i === 0 ? `  (${step.computeMs.toFixed(0)} ms)` : ''}`);
        });
      }
      if (config.knnEvery > 0 && (done % config.knnEvery === 0 || done === config.steps)) {
        const t0 = performance.now();
        for (const [i, model] of trainer.models.entries()) {
          const acc = await knnAccuracy(model, dataset, { features: opts.features });
          if (i === 0) step.knnAcc = log.knnAcc = acc;
          else step.compare!.knnAcc = log.compareKnnAcc = acc;
          print(`[${done}/${config.steps}]${tag(i)} kNN(${opts.features}) ${pct(acc)}`);
        }
        print(`  (kNN ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
      log.steps.push(step);
    }
  } finally {
    for (const t of trainers) t.destroy();
    mesh?.destroy();
  }
  // Rank 0's bytes over the training steps (the start-up broadcast excluded; kNN sends nothing).
  const sentBytesPerStep = mesh ? (mesh.sentBytes[0]! - sentAtStart) / config.steps : null;
  return { log, wallSeconds: (performance.now() - started) / 1000, sentBytesPerStep };
}
