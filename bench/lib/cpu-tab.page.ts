/**
 * Page side of bench:cpu's real-tab rows: the app's compute worker (src/worker/compute.ts, the page
 * hiding WebGPU so that it picks the wasm backend) trains the anchor workload alone, one session as
 * the app runs one, and the page times the steps as they arrive. `threads` is passed to the worker as
 * `compute.worker.ts?wasmThreads=N` (src/backend/wasm/index.ts).
 */
import { startComputeWorker } from '../../src/worker/compute.ts';
import type { StepLog } from '../../src/train/types.ts';
import { anchorConfig } from './step-phases.ts';

export interface TabSteps {
  label: string;
  isolated: boolean;
  /** Page-side time between consecutive step events, ms (after warm-up). */
  stepMs: number[];
  /** The session's own compute time of each step, ms (StepLog.computeMs). */
  computeMs: number[];
}

export async function trainInComputeWorker(threads: number, steps: number, warmup: number): Promise<TabSteps> {
  Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
  const url = new URL(`/src/worker/compute.worker.ts?wasmThreads=${threads}`, location.origin);
  const compute = await startComputeWorker(() => new Worker(url, { type: 'module', name: 'shufflebn-compute' }));
  try {
    const choice = await compute.backend();
    const session = compute.createSession({ backend: choice.backend, groups: null, config: anchorConfig(steps + warmup), trace: false });
    const stamps: number[] = [];
    const computeMs: number[] = [];
    session.addEventListener('step', (e) => {
      stamps.push(performance.now());
      computeMs.push((e as CustomEvent<StepLog>).detail.computeMs);
    });
    await session.start();
    const timed = stamps.slice(warmup - 1);
    return {
      label: choice.backend.label,
      isolated: crossOriginIsolated,
      stepMs: timed.slice(1).map((t, i) => t - timed[i]!),
      computeMs: computeMs.slice(warmup),
    };
  } finally {
    compute.terminate();
  }
}
