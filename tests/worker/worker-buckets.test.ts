/**
 * The compute worker's protocol carries the gradient bucket cap and the BN trace period to the
 * worker's trainer (src/worker/compute.ts → session-client.ts → protocol → session-host.ts). In Node:
 * two tabs, each the page's side as the app and the headless runs start it (startComputeWorker, its
 * group a memory process group) and a worker side (SessionHost with the worker's own session
 * factory, CPU backend) behind a stand-in Worker, each session on a real MessageChannel. With the cap
 * Infinity, a small cap and the default, the page's group sees exactly the all-reduces of that
 * bucket plan each step, and both tabs end bit-identical to each other and to the same run trained by
 * TrainingSessions on the page. Out-of-range values are refused by the worker with a stable code.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { createMemoryGroups } from '../../src/mesh/memory.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import { createDataset, type ShapeDataset } from '../../src/train/dataset.ts';
import { packState } from '../../src/train/moco-state.ts';
import { staticGroups, TrainingSession } from '../../src/train/session.ts';
import type { StepLog, TrainConfig } from '../../src/train/types.ts';
import type { SessionLike } from '../../src/app/ports.ts';
import { SMALL_CONFIG } from '../train/harness.ts';
import { standInCompute } from './stand-in-worker.ts';

/**
 * 256 → 256 → 256 → 16: two Linear layers of 256·256 weights (256 KiB each, the default cap), so the
 * default plan (2 buckets) differs from one bucket (Infinity) and from one bucket per Linear (3).
 */
const CONFIG: TrainConfig = { ...SMALL_CONFIG, inputDim: 256, hiddenDims: [256, 256], outputDim: 16, mode: 'shuffle', workersPerTab: 2, steps: 3 };

/** Each bucket's length in floats, in launch order (reverse parameter order: W, b, then BN's γ, β per layer). */
const OUTPUT_LINEAR = 256 * 16 + 16;
const HIDDEN_LAYER = 256 * 256 + 256 + 2 * 256;
/** The step's figures after the buckets: loss, accuracy and each of the 2 tabs' compute time. */
const FIGURES = 4;
const PLANS: Array<{ name: string; cap: number | undefined; buckets: number[] }> = [
  { name: 'Infinity: one all-reduce after backward', cap: Infinity, buckets: [OUTPUT_LINEAR + 2 * HIDDEN_LAYER] },
  { name: 'a cap the output Linear reaches alone: one bucket per Linear', cap: OUTPUT_LINEAR * 4, buckets: [OUTPUT_LINEAR, HIDDEN_LAYER, HIDDEN_LAYER] },
  { name: 'none given: the default 256 KiB', cap: undefined, buckets: [OUTPUT_LINEAR + HIDDEN_LAYER, HIDDEN_LAYER] },
];

let dataset: ShapeDataset;
beforeAll(() => {
  dataset = createDataset({ seed: 1, trainPerClass: 20, testPerClass: 1 });
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** `group` recording the length of every allReduce it is asked for. */
function countingAllReduce(group: ProcessGroup, lengths: number[]): ProcessGroup {
  return new Proxy(group, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (key === 'allReduce') {
        return (data: Float32Array, ...rest: unknown[]) => {
          lengths.push(data.length);
          return (value as (...a: unknown[]) => unknown).call(target, data, ...rest);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

interface WorkerTab {
  /** The page's side, driven as the app drives it. */
  session: SessionLike;
  /** The session the worker built (read directly for its parameters: no copy crossed the port). */
  inner(): TrainingSession;
  logs: StepLog[];
}

/** One tab computing in the "worker": the page's ComputeWorker, and the worker's side behind it. */
async function workerTab(group: ProcessGroup, opts: { config?: TrainConfig; trace?: boolean; traceEvery?: number; bucketCapBytes?: unknown }): Promise<WorkerTab> {
  const { worker, inner } = await standInCompute({ dataset });
  const choice = await worker.backend(false);
  const session = worker.createSession({
    backend: choice.backend,
    groups: staticGroups(group),
    config: opts.config ?? CONFIG,
    trace: opts.trace ?? false,
    ...(opts.traceEvery !== undefined ? { traceEvery: opts.traceEvery } : {}),
    // Bad values on purpose in the refusal tests: the worker must check what arrives.
    ...(opts.bucketCapBytes !== undefined ? { bucketCapBytes: opts.bucketCapBytes as number } : {}),
  });
  const logs: StepLog[] = [];
  session.addEventListener('step', (e) => logs.push((e as CustomEvent<StepLog>).detail));
  cleanups.push(() => {
    session.destroy();
    worker.terminate();
  });
  return { session, inner: () => inner()!, logs };
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

async function stateBits(session: TrainingSession): Promise<number[]> {
  const state = await session.snapshot();
  return bits(packState(state![0]!));
}

describe('the bucket cap crosses to the worker’s trainer (2 tabs, CPU backend)', () => {
  for (const plan of PLANS) {
    it(`${plan.name}: ${plan.buckets.length} all-reduce(s) of gradients a step, bit-identical to the page-path trainer`, async () => {
      const seen: number[][] = [[], []];
      const groups = createMemoryGroups(2).map((g, r) => countingAllReduce(g, seen[r]!));
      const tabs = await Promise.all(groups.map((g) => workerTab(g, plan.cap === undefined ? {} : { bucketCapBytes: plan.cap })));
      await Promise.all(tabs.map((t) => t.session.start()));
      expect(tabs.map((t) => t.session.state)).toEqual(['done', 'done']);

      // Every step: the plan's buckets in launch order, then the step's figures; nothing else.
      const expected = Array.from({ length: CONFIG.steps }, () => [...plan.buckets, FIGURES]).flat();
      expect(seen[0]).toEqual(expected);
      expect(seen[1]).toEqual(expected);

      // The same run on the page, the cap given to the trainer directly.
      const reference = createMemoryGroups(2).map(
        (group) => new TrainingSession({ backend: createCpuBackend(), config: CONFIG, group, dataset, ...(plan.cap === undefined ? {} : { bucketCapBytes: plan.cap }) }),
      );
      cleanups.push(() => reference.forEach((s) => s.destroy()));
      await Promise.all(reference.map((s) => s.start()));

      const workerStates = await Promise.all(tabs.map((t) => stateBits(t.inner())));
      const pageStates = await Promise.all(reference.map((s) => stateBits(s)));
      expect(workerStates[1]).toEqual(workerStates[0]);
      expect(workerStates[0]).toEqual(pageStates[0]);
      expect(pageStates[1]).toEqual(pageStates[0]);
      expect(tabs[0]!.logs.map((l) => l.loss)).toEqual(reference[0]!.logs.map((l) => l.loss));
      expect(tabs[0]!.logs.map((l) => l.step)).toEqual([0, 1, 2]);
    });
  }

  it('the trace period reaches the worker’s session: BN statistics on steps 0 and 2 of 3 with traceEvery 2', async () => {
    const groups = createMemoryGroups(2);
    const tabs = await Promise.all(groups.map((g) => workerTab(g, { config: { ...CONFIG, hiddenDims: [32] }, trace: true, traceEvery: 2 })));
    await Promise.all(tabs.map((t) => t.session.start()));
    for (const tab of tabs) expect(tab.logs.map((l) => [l.step, Array.isArray(l.bn) && l.bn.length > 0])).toEqual([[0, true], [1, false], [2, true]]);
  });
});

describe('the worker refuses options out of range, and trains nothing', () => {
  const badCaps: unknown[] = [0, -4096, 1.5, NaN, -Infinity, null, '262144'];
  for (const cap of badCaps) {
    it(`bucket cap ${String(cap)}${typeof cap === 'string' ? ' (a string)' : ''}: ERR_BAD_BUCKET_CAP`, async () => {
      const calls: number[] = [];
      const [group] = createMemoryGroups(1).map((g) => countingAllReduce(g, calls));
      const tab = await workerTab(group!, { bucketCapBytes: cap });
      await expect(tab.session.start()).rejects.toMatchObject({ code: 'ERR_BAD_BUCKET_CAP', message: expect.stringContaining('Infinity for one all-reduce after backward') });
      expect(tab.session.state).toBe('error');
      expect([tab.logs.length, calls.length]).toEqual([0, 0]);
    });
  }

  for (const every of [0, 2.5, -1]) {
    it(`trace period ${every}: ERR_BAD_TRACE_PERIOD`, async () => {
      const [group] = createMemoryGroups(1);
      const tab = await workerTab(group!, { trace: true, traceEvery: every });
      await expect(tab.session.start()).rejects.toMatchObject({ code: 'ERR_BAD_TRACE_PERIOD' });
      expect(tab.logs).toEqual([]);
    });
  }
});
