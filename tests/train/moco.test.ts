import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { createMemoryGroups } from '../../src/mesh/memory.ts';
import { localWorld, processGroupWorld } from '../../src/nn/world.ts';
import type { Tensor } from '../../src/backend/backend.ts';
import { BatchNorm } from '../../src/nn/layers/batchnorm.ts';
import type { Sequential } from '../../src/nn/layers/sequential.ts';
import type { ForwardContext, Layer } from '../../src/nn/layers/types.ts';
import { MocoTrainer, type BatchSource } from '../../src/train/moco.ts';
import { dealRows, sampleShuffle, undealRows } from '../../src/train/sample-shuffle.ts';
import { initialQueue, packState, unpackState } from '../../src/train/moco-state.ts';
import { drawWorkerBatch } from '../../src/train/augment.ts';
import type { StepLog, TrainConfig } from '../../src/train/types.ts';
import { maxRelDiff, place, SMALL_CONFIG, smallTrain } from './harness.ts';
import { checkBnTrace, checkBnTraces } from '../../src/nn/batchnorm/check-trace.ts';
import { MISROUTE_VARIANTS, setBnMisrouteForTests } from '../../src/nn/batchnorm/exchange.ts';
import type { Linear } from '../../src/nn/layers/linear.ts';

/** Identity stand-in for BatchNorm (a world where BN is disabled). */
class Identity implements Layer {
  async forward(x: Tensor, ctx: ForwardContext) {
    return ctx.backend.clone(x);
  }
  async backward(dy: Tensor, ctx: ForwardContext) {
    return ctx.backend.clone(dy);
  }
  parameters() {
    return [];
  }
  buffers() {
    return [];
  }
  dispose() {}
}

function withoutBatchNorm(model: Sequential): void {
  model.children.forEach((layer, i) => {
    if (layer instanceof BatchNorm) model.children[i] = new Identity();
  });
}

function trainer(config: TrainConfig, workers = 4, drawBatch?: BatchSource) {
  return new MocoTrainer({ backend: createCpuBackend(), config, world: localWorld(workers), train: smallTrain(), drawBatch });
}

describe('MocoTrainer', () => {
  it('samples mode returns every key to its owner: equals local mode when BN is disabled', async () => {
    // Without BatchNorm a key depends only on its own sample, so wherever it was encoded, once dealt
    // back it must equal the key computed at home (local mode). A key left in its slot would not.
    const local = trainer({ ...SMALL_CONFIG, mode: 'local' });
    const samples = trainer({ ...SMALL_CONFIG, mode: 'samples' });
    for (const t of [local, samples]) for (const model of [t.query, t.key]) withoutBatchNorm(model);
    for (let s = 0; s < 3; s++) {
      const [a, b] = [await local.runStep(), await samples.runStep()];
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5);
      expect(b.pretextAcc).toBe(a.pretextAcc);
    }
    const [qa, qb] = [await local.state(), await samples.state()];
    expect(maxRelDiff(qb.queue, qa.queue)).toBeLessThan(1e-5);
    expect(maxRelDiff(qb.query, qa.query)).toBeLessThan(1e-4);
    local.destroy();
    samples.destroy();
  });

  it('samples mode with BatchNorm differs from local: each BN batch mixes owners', async () => {
    const local = trainer({ ...SMALL_CONFIG, mode: 'local' });
    const samples = trainer({ ...SMALL_CONFIG, mode: 'samples' });
    const [a, b] = [await local.runStep(), await samples.runStep()];
    expect(Math.abs(a.loss - b.loss)).toBeGreaterThan(1e-3);
    expect(b.sourceOf).toEqual([0, 1, 2, 3]); // nobody borrows statistics in this mode
    local.destroy();
    samples.destroy();
  });

  it('trains: the loss falls over 60 steps (input 256, hidden 64, output 32, queue 64)', async () => {
    const t = trainer({ ...SMALL_CONFIG, mode: 'sync', hiddenDims: [64], outputDim: 32, queueSize: 64, batchPerWorker: 8, lr: 0.06 }, 4);
    const losses: number[] = [];
    for (let s = 0; s < 60; s++) losses.push((await t.runStep()).loss);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const early = mean(losses.slice(5, 15));
    const late = mean(losses.slice(-10));
    console.log(`loss steps 5-15: ${early.toFixed(3)}, last 10: ${late.toFixed(3)}`);
    expect(late).toBeLessThan(early - 0.5);
    t.destroy();
  });

  for (const mode of ['shuffle', 'sync', 'local', 'samples'] as const) {
    it(`${mode}: traces every key-encoder BN layer with measured statistics that pass checkBnTrace, on 2 tabs`, async () => {
      const p = await place({ ...SMALL_CONFIG, mode }, [2, 2]);
      // 4 steps: at least one permutation of the seed is not its own inverse (see the mis-routing tests).
      for (let s = 0; s < 4; s++) {
        const logs = await p.step({ trace: true });
        for (const log of logs) {
          expect(log.bn?.length).toBe(2); // hidden BN + output BN
          expect(log.bn).toEqual(logs[0].bn); // both tabs log the same world
          for (const layer of log.bn!) {
            expect(layer.meanBefore.length).toBe(4);
            expect(layer.sourceOf).toEqual(log.sourceOf);
            expect(checkBnTrace(layer).problems).toEqual([]);
          }
          expect(log.sourceOf).toEqual(logs[0].sourceOf);
          expect(log.commMs).toBeGreaterThanOrEqual(0);
          expect(log.computeMs).toBeGreaterThanOrEqual(0);
        }
      }
      const untraced = (await p.step())[0];
      expect(untraced.bn).toBeUndefined();
      expect(untraced.sampleOrder).toBeUndefined();
      p.destroy();
    });
  }

  for (const variant of MISROUTE_VARIANTS) {
    it(`shuffle with statistics mis-routed on purpose ('${variant}'): the step's measured trace fails checkBnTrace`, async () => {
      setBnMisrouteForTests(variant);
      try {
        const p = await place({ ...SMALL_CONFIG, mode: 'shuffle' }, [2, 2]);
        let caught = 0;
        for (let s = 0; s < 4; s++) {
          const [log] = await p.step({ trace: true });
          // For a permutation that is its own inverse, 'borrower' and 'inverse' route correctly.
          const involution = log.sourceOf.every((src, w) => log.sourceOf[src] === w);
          if (involution && (variant === 'borrower' || variant === 'inverse')) continue;
          expect(checkBnTraces(log.bn!).ok).toBe(false);
          caught++;
        }
        expect(caught).toBeGreaterThan(0);
        p.destroy();
      } finally {
        setBnMisrouteForTests(undefined);
      }
    });
  }

  it('samples: the logged deal is the one used (each worker\'s first BN means = its dealt key samples through the first Linear)', async () => {
    const config = { ...SMALL_CONFIG, mode: 'samples' as const };
    const draw: BatchSource = (step, worker, n) => drawWorkerBatch(smallTrain(), config.seed, step, worker, n);
    const t = trainer(config, 4, draw);
    const linear = t.key.children[0] as Linear;
    const weight = await t.backend.read(linear.weight.value);
    const bias = await t.backend.read(linear.bias!.value);
    const log = await t.runStep({ trace: true });
    const n = config.batchPerWorker;
    const W = 4;
    const order = log.sampleOrder!;
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: W * n }, (_, i) => i));
    expect(log.sourceOf).toEqual([0, 1, 2, 3]); // no statistics are lent in this mode
    // Host reference: mean over worker w's slots of W1·x + b, x = key view of the dealt sample.
    const keyOf = (sample: number) => draw(0, Math.floor(sample / n), n).key.subarray((sample % n) * config.inputDim, (sample % n + 1) * config.inputDim);
    const hidden = config.hiddenDims[0]!;
    const layer0 = log.bn![0]!;
    let mixed = 0;
    for (let w = 0; w < W; w++) {
      const slots = order.slice(w * n, (w + 1) * n);
      if (new Set(slots.map((i) => Math.floor(i / n))).size > 1) mixed++;
      const expected = Array.from({ length: hidden }, (_, o) => {
        let sum = 0;
        for (const sample of slots) {
          const x = keyOf(sample);
          for (let i = 0; i < config.inputDim; i++) sum += weight[o * config.inputDim + i]! * x[i]!;
        }
        return sum / n + bias[o]!;
      });
      expect(maxRelDiff(layer0.meanBefore[w]!, expected)).toBeLessThan(1e-4);
      expect(checkBnTrace(layer0).problems).toEqual([]);
    }
    expect(mixed).toBeGreaterThan(0);
    t.destroy();
  });

  for (const mode of ['shuffle', 'local'] as const) {
    it(`${mode}: a non-finite statistic stops the step with ERR_NONFINITE_STATS naming layer and step, before the model changes`, async () => {
      const poisoned: BatchSource = (step, worker, n) => {
        const batch = drawWorkerBatch(smallTrain(), 1, step, worker, n);
        if (step === 1 && worker === 2) {
          batch.query[5] = NaN;
          batch.key[5] = NaN;
        }
        return batch;
      };
      const t = trainer({ ...SMALL_CONFIG, mode }, 4, poisoned);
      await t.runStep();
      const before = packState(await t.state());
      const err = await t.runStep().then(
        () => null,
        (e: unknown) => e as { code: string; layer: number; step: number; message: string },
      );
      expect(err).toMatchObject({ code: 'ERR_NONFINITE_STATS', layer: 0, step: 1 });
      expect(err!.message).toMatch(/BatchNorm layer 0 at step 1/);
      expect(packState(await t.state())).toEqual(before);
      t.destroy();
    });
  }

  it('state()/loadState() continue a run exactly; packState round-trips', async () => {
    const a = trainer({ ...SMALL_CONFIG, mode: 'sync' });
    for (let s = 0; s < 3; s++) await a.runStep();
    const packed = packState(await a.state());
    const b = trainer({ ...SMALL_CONFIG, mode: 'sync' });
    await b.runStep(); // b is elsewhere (step 1) until it loads a's state
    b.loadState(unpackState(packed));
    expect(b.step).toBe(3);
    const strip = ({ computeMs, commMs, commInFlightMs, tabComputeMs, ...rest }: StepLog) => (expect(computeMs + commMs + (commInFlightMs ?? 0)).toBeGreaterThanOrEqual(0), expect(tabComputeMs).toHaveLength(1), rest);
    for (let s = 0; s < 2; s++) expect(strip(await b.runStep())).toEqual(strip(await a.runStep()));
    expect(packState(await b.state())).toEqual(packState(await a.state()));
    expect(() => unpackState(packed.subarray(0, packed.length - 1))).toThrow(/length/);
    a.destroy();
    b.destroy();
  });

  it('broadcastParameters makes every tab start from rank 0’s state', async () => {
    const groups = createMemoryGroups(2);
    const worlds = await Promise.all(groups.map((g) => processGroupWorld(g, 2)));
    // Rank 1 starts from another seed's weights and queue, like a tab that joined late.
    const trainers = groups.map(
      (group, r) => new MocoTrainer({ backend: createCpuBackend(), config: { ...SMALL_CONFIG, seed: 1 + r }, world: worlds[r], group, train: smallTrain() }),
    );
    const before = await Promise.all(trainers.map((t) => t.state()));
    expect(before[1].query).not.toEqual(before[0].query);
    await Promise.all(trainers.map((t) => t.broadcastParameters()));
    const [s0, s1] = await Promise.all(trainers.map((t) => t.state()));
    expect(s1).toEqual(s0);
    expect(s0).toEqual(before[0]);
    trainers.forEach((t) => t.destroy());
  });

  it('splits step time into communication (world gathers) and compute, on an injected clock', async () => {
    let clock = 0;
    let gathers = 0;
    const inner = localWorld(2);
    // Each gather "takes" 10 ms and each batch draw 3 ms of fake time; nothing else advances it.
    const world = { ...inner, gatherRows: async (rows: Float32Array, len: number) => ((clock += 10), gathers++, inner.gatherRows(rows, len)) };
    const draw: BatchSource = (step, worker, n) => ((clock += 3), drawWorkerBatch(smallTrain(), 1, step, worker, n));
    const t = new MocoTrainer({ backend: createCpuBackend(), config: { ...SMALL_CONFIG, mode: 'shuffle' }, world, train: smallTrain(), now: () => clock, drawBatch: draw });
    const log = await t.runStep();
    // 2 key-BN layers' statistics and the running stats of both encoders (one gather); the keys of a
    // world that lives in one tab stay on the device, ungathered.
    expect(gathers).toBe(3);
    expect(log.commMs).toBe(10 * gathers);
    expect(log.computeMs).toBe(3 * 2);
    t.destroy();
  });

  it('every tab learns every tab’s compute time of the step, by rank, from the gradient all-reduce', async () => {
    const groups = createMemoryGroups(3);
    const worlds = await Promise.all(groups.map((g) => processGroupWorld(g, 1)));
    // Tab r's clock advances (r + 1) · 7 ms per batch draw and nothing else: its compute time is known.
    const clocks = [0, 0, 0];
    const trainers = groups.map((group, r) => {
      const draw: BatchSource = (step, worker, n) => ((clocks[r]! += (r + 1) * 7), drawWorkerBatch(smallTrain(), 1, step, worker, n));
      return new MocoTrainer({ backend: createCpuBackend(), config: { ...SMALL_CONFIG, mode: 'shuffle' }, world: worlds[r]!, group, train: smallTrain(), now: () => clocks[r]!, drawBatch: draw });
    });
    const logs = await Promise.all(trainers.map((t) => t.runStep()));
    for (const log of logs) expect(log.tabComputeMs).toEqual([7, 14, 21]);
    logs.forEach((log, r) => expect(log.computeMs).toBe((r + 1) * 7));
    trainers.forEach((t) => t.destroy());
  });

  it('the initial queue is unit rows, identical for a seed and different across seeds', () => {
    const q = initialQueue(3, 10, 8);
    for (let r = 0; r < 10; r++) expect(Math.hypot(...q.subarray(r * 8, r * 8 + 8))).toBeCloseTo(1, 6);
    expect(initialQueue(3, 10, 8)).toEqual(q);
    expect(initialQueue(4, 10, 8)).not.toEqual(q);
  });

  it('refuses shuffle BN in a one-worker world with ERR_WORLD_TOO_SMALL', async () => {
    const t = trainer({ ...SMALL_CONFIG, mode: 'shuffle' }, 1);
    await expect(t.runStep()).rejects.toMatchObject({ code: 'ERR_WORLD_TOO_SMALL' });
    t.destroy();
  });
});

describe('sample shuffle (samples mode)', () => {
  it('deals a world batch out and back: a bijection, deterministic per (seed, step), mixing owners', () => {
    const W = 4;
    const n = 8;
    const order = sampleShuffle(5, 2, W * n);
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: W * n }, (_, i) => i));
    expect(sampleShuffle(5, 2, W * n)).toEqual(order);
    expect(sampleShuffle(5, 3, W * n)).not.toEqual(order);
    const rowLen = 3;
    const all = Float32Array.from({ length: W * n * rowLen }, (_, i) => i);
    // Each tab deals its own slots; together they cover the world batch.
    const dealt = new Float32Array(all.length);
    for (let w = 0; w < W; w++) dealt.set(dealRows(all, rowLen, order, w * n, n), w * n * rowLen);
    for (let slot = 0; slot < W * n; slot++) expect(dealt[slot * rowLen]).toBe(order[slot] * rowLen);
    expect(undealRows(dealt, rowLen, order)).toEqual(all);
    // Over many steps almost every worker batch holds samples of several owners.
    let mixed = 0;
    for (let step = 0; step < 50; step++) {
      const o = sampleShuffle(1, step, W * n);
      for (let w = 0; w < W; w++) if (new Set(o.slice(w * n, (w + 1) * n).map((i) => Math.floor(i / n))).size > 1) mixed++;
    }
    expect(mixed).toBeGreaterThan(0.95 * 50 * W);
  });
});
