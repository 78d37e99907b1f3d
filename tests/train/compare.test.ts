/**
 * Compare mode: two models in one run must each train exactly like a single-model run with the same
 * seed. The reference is two independent MocoTrainers (or sessions), one per mode, that know nothing
 * of each other. Equality is bit for bit: both sides run the same float operations in the same order
 * on the deterministic CPU backend, so any difference means a random stream, a batch or a collective
 * was consumed differently because of the second model.
 */
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { createMemoryGroups } from '../../src/mesh/memory.ts';
import { localWorld, processGroupWorld, type WorkerWorld } from '../../src/nn/world.ts';
import { RunTrainer, modelConfigs } from '../../src/train/compare.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import { TrainingSession } from '../../src/train/session.ts';
import type { BnMode, StepLog, TrainConfig } from '../../src/train/types.ts';
import { SMALL_CONFIG, smallTrain } from './harness.ts';

const STEPS = 6;

function single(config: TrainConfig, mode: BnMode, world: WorkerWorld = localWorld(config.workersPerTab)) {
  return new MocoTrainer({ backend: createCpuBackend(), config: { ...config, mode, compareWith: null }, world, train: smallTrain() });
}

async function singleLosses(config: TrainConfig, mode: BnMode, steps = STEPS) {
  const t = single(config, mode);
  const logs: StepLog[] = [];
  for (let s = 0; s < steps; s++) logs.push(await t.runStep({ trace: true }));
  const state = await t.state();
  t.destroy();
  return { logs, state };
}

describe('compare mode (two models, one run)', () => {
  it.each([
    ['shuffle', 'local'],
    ['samples', 'sync'],
  ] as const)('%s vs %s: each model equals its single-model run bit for bit (losses, accuracy, permutation, traces, state)', async (mode, other) => {
    const config: TrainConfig = { ...SMALL_CONFIG, mode, compareWith: other };
    const pair = new RunTrainer({ backend: createCpuBackend(), config, world: localWorld(config.workersPerTab), train: smallTrain() });
    expect(pair.models.map((m) => m.config.mode)).toEqual([mode, other]);
    const logs: StepLog[] = [];
    for (let s = 0; s < STEPS; s++) logs.push(await pair.runStep({ trace: true }));
    const [first, second] = await pair.state();
    pair.destroy();

    const a = await singleLosses(config, mode);
    const b = await singleLosses(config, other);
    for (let s = 0; s < STEPS; s++) {
      expect(logs[s]!.step).toBe(s);
      expect(logs[s]!.loss).toBe(a.logs[s]!.loss);
      expect(logs[s]!.pretextAcc).toBe(a.logs[s]!.pretextAcc);
      expect(logs[s]!.sourceOf).toEqual(a.logs[s]!.sourceOf);
      expect(logs[s]!.bn).toEqual(a.logs[s]!.bn);
      expect(logs[s]!.compare!.mode).toBe(other);
      expect(logs[s]!.compare!.loss).toBe(b.logs[s]!.loss);
      expect(logs[s]!.compare!.pretextAcc).toBe(b.logs[s]!.pretextAcc);
      expect(logs[s]!.compare!.sourceOf).toEqual(b.logs[s]!.sourceOf);
      expect(logs[s]!.compare!.bn).toEqual(b.logs[s]!.bn);
    }
    // The two models really differ (otherwise the comparison above would prove little).
    expect(logs.map((l) => l.loss)).not.toEqual(logs.map((l) => l.compare!.loss));
    // Parameters, key encoder (running statistics included), velocities and queue: bit for bit.
    expect(first).toEqual(a.state);
    expect(second).toEqual(b.state);
  });

  it('over 2 tabs (memory process groups): each model equals its single-model run on the same placement', async () => {
    const config: TrainConfig = { ...SMALL_CONFIG, workersPerTab: 2, mode: 'shuffle', compareWith: 'local' };
    const tabs = async <T>(make: (world: WorkerWorld, group: ReturnType<typeof createMemoryGroups>[number]) => T) => {
      const groups = createMemoryGroups(2);
      const worlds = await Promise.all(groups.map((g) => processGroupWorld(g, 2)));
      return groups.map((g, r) => make(worlds[r]!, g));
    };
    const pairs = await tabs((world, group) => new RunTrainer({ backend: createCpuBackend(), config, world, group, train: smallTrain() }));
    const refs = await Promise.all(
      (['shuffle', 'local'] as const).map((mode) =>
        tabs((world, group) => new MocoTrainer({ backend: createCpuBackend(), config: { ...config, mode, compareWith: null }, world, group, train: smallTrain() })),
      ),
    );
    await Promise.all(pairs.map((p) => p.broadcastParameters()));
    for (const ref of refs) await Promise.all(ref.map((t) => t.broadcastParameters()));
    for (let s = 0; s < 4; s++) {
      const logs = await Promise.all(pairs.map((p) => p.runStep()));
      const [a, b] = await Promise.all(refs.map((ref) => Promise.all(ref.map((t) => t.runStep()))));
      for (let r = 0; r < 2; r++) {
        expect(logs[r]!.loss).toBe(a![r]!.loss);
        expect(logs[r]!.compare!.loss).toBe(b![r]!.loss);
        expect(logs[r]!.compare!.pretextAcc).toBe(b![r]!.pretextAcc);
      }
    }
    for (let r = 0; r < 2; r++) {
      const [first, second] = await pairs[r]!.state();
      expect(first).toEqual(await refs[0]![r]!.state());
      expect(second).toEqual(await refs[1]![r]!.state());
    }
    for (const t of [...pairs, ...refs.flat()]) t.destroy();
  });

  it('a step that fails in its last collective changes neither model; retrying it gives the single-model numbers', async () => {
    const config: TrainConfig = { ...SMALL_CONFIG, mode: 'shuffle', compareWith: 'local' };
    const inner = localWorld(config.workersPerTab);
    let failAt = -1;
    let gathers = 0;
    const world: WorkerWorld = {
      ...inner,
      gatherRows: (rows, rowLen) => {
        if (gathers++ === failAt) return Promise.reject(Object.assign(new Error('peer left'), { code: 'ERR_PEER_LEFT' }));
        return inner.gatherRows(rows, rowLen);
      },
    };
    const pair = new RunTrainer({ backend: createCpuBackend(), config, world, train: smallTrain() });
    await pair.runStep();
    const perStep = gathers;
    const before = await pair.state();
    // The running-statistics sync is the last gather of a compare step: fail it on step 1.
    failAt = gathers + perStep - 1;
    await expect(pair.runStep()).rejects.toThrow('peer left');
    expect(pair.step).toBe(1);
    expect(await pair.state()).toEqual(before);
    const retried = [await pair.runStep(), await pair.runStep()];
    pair.destroy();
    const a = await singleLosses(config, 'shuffle', 3);
    const b = await singleLosses(config, 'local', 3);
    expect(retried.map((l) => l.loss)).toEqual([a.logs[1]!.loss, a.logs[2]!.loss]);
    expect(retried.map((l) => l.compare!.loss)).toEqual([b.logs[1]!.loss, b.logs[2]!.loss]);
  });

  it('a session in compare mode logs both models’ kNN accuracy, each equal to its single-model session', async () => {
    const dataset = createDataset({ seed: 1, trainPerClass: 20, testPerClass: 4 });
    const base: TrainConfig = { ...SMALL_CONFIG, steps: 4, knnEvery: 2 };
    const runSession = async (config: TrainConfig) => {
      const s = new TrainingSession({ backend: createCpuBackend(), config, dataset });
      await s.start();
      expect(s.state).toBe('done');
      const logs = [...s.logs];
      s.destroy();
      return logs;
    };
    const both = await runSession({ ...base, mode: 'shuffle', compareWith: 'local' });
    const [shuffle, local] = await Promise.all(modelConfigs({ ...base, mode: 'shuffle', compareWith: 'local' }).map((c) => runSession(c)));
    expect(both.map((l) => l.loss)).toEqual(shuffle!.map((l) => l.loss));
    expect(both.map((l) => l.compare!.loss)).toEqual(local!.map((l) => l.loss));
    const knn = both.filter((l) => l.knnAcc !== undefined);
    expect(knn.map((l) => l.step)).toEqual([1, 3]);
    expect(knn.map((l) => l.knnAcc)).toEqual(shuffle!.filter((l) => l.knnAcc !== undefined).map((l) => l.knnAcc));
    expect(knn.map((l) => l.compare!.knnAcc)).toEqual(local!.filter((l) => l.knnAcc !== undefined).map((l) => l.knnAcc));
  });

  it('refuses a compare pair with a non-local mode in a one-worker world (ERR_WORLD_TOO_SMALL)', async () => {
    const s = new TrainingSession({ backend: createCpuBackend(), config: { ...SMALL_CONFIG, workersPerTab: 1, mode: 'local', compareWith: 'shuffle' }, dataset: createDataset({ seed: 1, trainPerClass: 2, testPerClass: 1 }) });
    const errors: Array<{ code?: string; message: string }> = [];
    s.addEventListener('error', (e) => errors.push((e as CustomEvent).detail));
    await s.start();
    expect(s.state).toBe('error');
    expect(errors[0]!.code).toBe('ERR_WORLD_TOO_SMALL');
    expect(errors[0]!.message).toContain("'shuffle'");
    s.destroy();
  });
});
