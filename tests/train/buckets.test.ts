/**
 * Gradient buckets: the plan follows DDP (reverse parameter order, closed at the cap), the summed
 * gradients are bit-identical to one all-reduce after backward whatever the cap, a bucket leaves
 * while backward still has layers to go, and a bad contribution in any bucket names its tab and
 * leaves every trainer at its last completed step.
 */
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { createMemoryGroups, memoryPeerId } from '../../src/mesh/memory.ts';
import type { CollectiveOptions, ProcessGroup, ReduceOp } from '../../src/mesh/types.ts';
import { processGroupWorld } from '../../src/nn/world.ts';
import { BUCKET_CAP_BYTES, planBuckets } from '../../src/train/buckets.ts';
import { packState } from '../../src/train/moco-state.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import type { TrainConfig } from '../../src/train/types.ts';
import { SMALL_CONFIG, smallTrain } from './harness.ts';

/** Two hidden layers so there are several buckets: 64→48→40→16, 3 Linear layers. */
const CONFIG: TrainConfig = { ...SMALL_CONFIG, inputDim: 256, hiddenDims: [48, 40], mode: 'shuffle', workersPerTab: 2 };

/** A cap that the output Linear's gradients (40·16 + 16 floats) reach alone: one bucket per Linear. */
const OUTPUT_LAYER_BYTES = (40 * 16 + 16) * 4;

type AllReduce = (data: Float32Array, op?: ReduceOp, opts?: CollectiveOptions) => Promise<Float32Array>;

/** `group` with its allReduce replaced by `wrap(original)`. */
function withAllReduce(group: ProcessGroup, wrap: (original: AllReduce) => AllReduce): ProcessGroup {
  const allReduce = wrap(group.allReduce.bind(group));
  return new Proxy(group, {
    get(target, key) {
      if (key === 'allReduce') return allReduce;
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function twoTabs(bucketCapBytes: number, wrap?: (rank: number, original: AllReduce) => AllReduce, config: TrainConfig = CONFIG): Promise<MocoTrainer[]> {
  const groups = createMemoryGroups(2).map((g, r) => (wrap ? withAllReduce(g, (o) => wrap(r, o)) : g));
  const worlds = await Promise.all(groups.map((g) => processGroupWorld(g, config.workersPerTab)));
  const trainers = groups.map((group, r) => new MocoTrainer({ backend: createCpuBackend(), config, world: worlds[r]!, group, train: smallTrain(), bucketCapBytes }));
  await Promise.all(trainers.map((t) => t.broadcastParameters()));
  return trainers;
}

describe('bucket plan', () => {
  it('reverse parameter order, a bucket closes once it reaches the cap, tensors are never split', () => {
    // Sizes in floats; cap 400 bytes = 100 floats.
    expect(planBuckets([30, 200, 50, 60, 10], 400)).toEqual([[4, 3, 2], [1], [0]]);
    expect(planBuckets([30, 200, 50, 60, 10], Infinity)).toEqual([[4, 3, 2, 1, 0]]);
    expect(planBuckets([5, 5], 1)).toEqual([[1], [0]]);
    expect(planBuckets([], 400)).toEqual([]);
  });

  it("the demo encoder (256→512→512→128) gets one bucket per Linear layer at the default cap, the output layer's first", () => {
    const sizes = [256 * 512, 512, 512, 512, 512 * 512, 512, 512, 512, 512 * 128, 128];
    expect(planBuckets(sizes, BUCKET_CAP_BYTES)).toEqual([[9, 8], [7, 6, 5, 4], [3, 2, 1, 0]]);
  });
});

describe('bucketed gradient all-reduce (2 tabs, CPU backend)', () => {
  it('trains bit-identically to one all-reduce after backward, whatever the cap', async () => {
    const states: Float32Array[] = [];
    const losses: number[][] = [];
    for (const cap of [Infinity, 4096, 1]) {
      const trainers = await twoTabs(cap);
      const runLosses: number[] = [];
      for (let s = 0; s < 4; s++) runLosses.push((await Promise.all(trainers.map((t) => t.runStep())))[0]!.loss);
      states.push(packState(await trainers[1]!.state()));
      losses.push(runLosses);
      trainers.forEach((t) => t.destroy());
    }
    expect(losses[1]).toEqual(losses[0]);
    expect(losses[2]).toEqual(losses[0]);
    const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
    expect(bits(states[1]!)).toEqual(bits(states[0]!));
    expect(bits(states[2]!)).toEqual(bits(states[0]!));
  });

  it("a bucket's all-reduce starts before backward reaches the first layer", async () => {
    const events: string[] = [];
    const trainers = await twoTabs(OUTPUT_LAYER_BYTES, (rank, original) => (data, op, opts) => {
      if (rank === 0) events.push(`allReduce ${data.length}`);
      return original(data, op, opts);
    });
    const first = trainers[0]!.query.children[0]!;
    const backward = first.backward.bind(first);
    first.backward = (dy, ctx) => {
      events.push('backward of layer 0');
      return backward(dy, ctx);
    };
    await Promise.all(trainers.map((t) => t.runStep()));
    const layer0 = events.indexOf('backward of layer 0');
    // The output Linear (40→16 weights and bias: 656 floats) is the first bucket, sent before layer 0's backward.
    expect(events.slice(0, layer0)).toContain(`allReduce ${40 * 16 + 16}`);
    // Layer 0's own bucket (its BatchNorm's γ, β, then its bias and weights) can only follow it.
    expect(events.indexOf(`allReduce ${2 * 48 + 48 + 256 * 48}`)).toBeGreaterThan(layer0);
    trainers.forEach((t) => t.destroy());
  });

  it('a bad value in one bucket is refused on every tab naming its sender, and no trainer changes', async () => {
    const lastLayerBucket = 40 * 16 + 16;
    const trainers = await twoTabs(OUTPUT_LAYER_BYTES, (rank, original) => (data, op, opts) => {
      if (rank !== 1 || data.length !== lastLayerBucket) return original(data, op, opts);
      const bad = data.slice();
      bad[3] = 2e6; // finite, beyond GRADIENT_MAX_ABS
      return original(bad, op, opts);
    });
    const before = await Promise.all(trainers.map(async (t) => packState(await t.state())));
    const results = await Promise.allSettled(trainers.map((t) => t.runStep()));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as { code: string; peerId: string; message: string };
      expect(err.code).toBe('ERR_BAD_PEER_DATA');
      expect(err.peerId).toBe(memoryPeerId(1));
      expect(err.message).toContain('2000000');
    }
    const after = await Promise.all(trainers.map(async (t) => packState(await t.state())));
    expect(after).toEqual(before);
    expect(trainers.map((t) => t.step)).toEqual([0, 0]);
    trainers.forEach((t) => t.destroy());
  });

  it('with a 16-bit wire only the gradient buckets go in 16 bits, and both tabs stay identical', async () => {
    const seen: Array<{ length: number; wire: string }> = [];
    const states: Record<string, Float32Array[]> = {};
    const losses: Record<string, number[]> = {};
    for (const wire of ['f32', 'bf16'] as const) {
      const trainers = await twoTabs(OUTPUT_LAYER_BYTES, (rank, original) => (data, op, opts) => {
        if (rank === 0 && wire === 'bf16') seen.push({ length: data.length, wire: opts?.wire ?? 'f32' });
        return original(data, op, opts);
      }, { ...CONFIG, gradientWire: wire });
      losses[wire] = [];
      for (let s = 0; s < 3; s++) losses[wire]!.push((await Promise.all(trainers.map((t) => t.runStep())))[0]!.loss);
      states[wire] = await Promise.all(trainers.map(async (t) => packState(await t.state())));
      trainers.forEach((t) => t.destroy());
    }
    // Three buckets per step in bf16, then the step's figures (loss, accuracy, 2 compute slots) in f32.
    expect(seen.slice(0, 4)).toEqual([
      { length: 40 * 16 + 16, wire: 'bf16' },
      { length: 2 * 40 + 40 + 48 * 40, wire: 'bf16' },
      { length: 2 * 48 + 48 + 256 * 48, wire: 'bf16' },
      { length: 4, wire: 'f32' },
    ]);
    expect(states.bf16![1]).toEqual(states.bf16![0]);
    // The first step's loss precedes any update; later the rounded gradients change the trajectory a little.
    expect(losses.bf16![0]).toBe(losses.f32![0]);
    expect(states.bf16![0]).not.toEqual(states.f32![0]);
    expect(Math.abs(losses.bf16![2]! - losses.f32![2]!)).toBeLessThan(0.05);
  });
});
