/**
 * What the trainer needs to talk to the other tabs, with the time spent waiting on it measured:
 * the worker world (row gathers for BatchNorm statistics, keys and samples) and, when the world
 * spans several tabs, the process group (one all-reduce of gradients per step, the start-up
 * broadcast). Everything else the trainer does counts as compute.
 */
import type { ProcessGroup } from '../mesh/types.ts';
import type { WorkerWorld } from '../nn/world.ts';
import { realTimers, type Timers } from '../util/timers.ts';

/** Accumulates the milliseconds spent inside communication calls. */
export class CommTimer {
  /** Milliseconds spent communicating since the last `reset()`. */
  ms = 0;
  /** Communication calls in progress (what the status line reads as "exchanging"). */
  active = 0;
  /** `now` is injectable so tests and benchmarks control time. */
  constructor(readonly now: Timers['now'] = realTimers.now) {}

  reset(): void {
    this.ms = 0;
  }

  async time<T>(work: () => Promise<T>): Promise<T> {
    const start = this.now();
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      this.ms += this.now() - start;
    }
  }
}

/** The same world, with every gather timed. */
export function timedWorld(world: WorkerWorld, timer: CommTimer): WorkerWorld {
  return {
    worldSize: world.worldSize,
    firstWorker: world.firstWorker,
    localWorkers: world.localWorkers,
    tabOf: (worker) => world.tabOf(worker),
    gatherRows: (local, rowLen) => timer.time(() => world.gatherRows(local, rowLen)),
  };
}

/**
 * Element-wise sum over all tabs (identity when the world is one tab). `group` is null for a world
 * that lives in one tab (localWorld).
 */
export async function allReduceSum(group: ProcessGroup | null, data: Float32Array, timer: CommTimer): Promise<Float32Array> {
  if (!group || group.size === 1) return data;
  return timer.time(() => group.allReduce(data, 'sum', { priority: 'bulk' }));
}
