/**
 * The set of workers one tab takes part in. A world of W workers is spread over tabs in rank order:
 * tab r owns the contiguous global worker indices [firstWorker, firstWorker + localWorkers). All
 * BatchNorm communication goes through `gatherRows`, so layers do not care how the workers are placed.
 */
import type { CollectiveOptions, ProcessGroup } from '../mesh/types.ts';
import { NnError } from './errors.ts';

export interface WorkerWorld {
  /** Workers in the whole world (all tabs). */
  readonly worldSize: number;
  /** Global index of this tab's first worker. */
  readonly firstWorker: number;
  /** Workers (batch groups) this tab runs. */
  readonly localWorkers: number;
  /**
   * Takes this tab's rows `[localWorkers, rowLen]` and returns every worker's rows
   * `[worldSize, rowLen]` ordered by global worker index, identical on every tab. Every tab must
   * call it the same number of times in the same order, with the same rowLen.
   */
  gatherRows(local: Float32Array, rowLen: number): Promise<Float32Array>;
}

function assertLocalRows(local: Float32Array, rows: number, rowLen: number): void {
  if (!Number.isInteger(rowLen) || rowLen < 0 || local.length !== rows * rowLen) {
    throw new NnError('ERR_SHAPE', `gatherRows expected ${rows} rows × ${rowLen} values, got ${local.length} values`);
  }
}

/** A world that lives entirely in one tab: `workers` virtual workers, gathering is a copy. */
export function localWorld(workers: number): WorkerWorld {
  if (!Number.isInteger(workers) || workers < 1) throw new NnError('ERR_SHAPE', `a world needs at least one worker, got ${workers}`);
  return {
    worldSize: workers,
    firstWorker: 0,
    localWorkers: workers,
    async gatherRows(local, rowLen) {
      assertLocalRows(local, workers, rowLen);
      return local.slice();
    },
  };
}

/**
 * A world spread over the tabs of a process group, this tab running `localWorkers` workers. The
 * per-tab worker counts are exchanged once here (so tabs may run different numbers of workers);
 * build a new world whenever the group's membership (epoch) changes.
 */
export async function processGroupWorld(group: ProcessGroup, localWorkers: number, opts: CollectiveOptions = {}): Promise<WorkerWorld> {
  if (!Number.isInteger(localWorkers) || localWorkers < 1) {
    throw new NnError('ERR_SHAPE', `a tab needs at least one worker, got ${localWorkers}`);
  }
  const counts = (await group.allGather(Float32Array.of(localWorkers), { priority: 'stats', ...opts })).map((c) => c[0]!);
  if (counts.length !== group.size || counts.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new NnError('ERR_SHAPE', `bad worker counts from the group: [${counts.join(', ')}]`);
  }
  const firstWorker = counts.slice(0, group.rank).reduce((a, b) => a + b, 0);
  const worldSize = counts.reduce((a, b) => a + b, 0);
  return {
    worldSize,
    firstWorker,
    localWorkers,
    async gatherRows(local, rowLen) {
      assertLocalRows(local, localWorkers, rowLen);
      // Priority left to the group's size rule: BN statistics are small, gathered keys are bulk.
      const parts = await group.allGather(local, opts);
      const out = new Float32Array(worldSize * rowLen);
      let offset = 0;
      parts.forEach((part, rank) => {
        if (part.length !== counts[rank]! * rowLen) {
          throw new NnError('ERR_SHAPE', `rank ${rank} sent ${part.length} values, expected ${counts[rank]! * rowLen}`);
        }
        out.set(part, offset);
        offset += part.length;
      });
      return out;
    },
  };
}
