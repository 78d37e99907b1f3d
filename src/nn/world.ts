/**
 * The set of workers one tab takes part in. A world of W workers is spread over tabs in rank order:
 * tab r owns the contiguous global worker indices [firstWorker, firstWorker + localWorkers). All
 * BatchNorm communication goes through `gatherRows`, so layers do not care how the workers are placed.
 */
import { NnError } from './errors.ts';

/**
 * Tabs a world may span: the signaling server's room cap (MAX_PEERS_PER_ROOM in src/server/config.ts),
 * restated here because nn sits below the server and must not import it.
 */
export const MAX_TABS = 16;
/**
 * Workers one tab may declare: the most the room settings, the signaling protocol and the runner
 * offer (src/app/room-config.ts re-exports this one). A peer's claim
 * sizes every tab's gather buffers (worldSize × row length), so it is capped before anything is
 * allocated: at 16 × 64 = 1024 workers a BatchNorm row gather of 512 channels is 4 MiB.
 */
export const MAX_WORKERS_PER_TAB = 64;
/** The largest world: MAX_TABS × MAX_WORKERS_PER_TAB workers. */
export const MAX_WORLD_WORKERS = MAX_TABS * MAX_WORKERS_PER_TAB;

/** Options of one gather: traffic class and timeout (the mesh's CollectiveOptions fits). */
export interface GatherOptions {
  priority?: 'stats' | 'bulk';
  timeoutMs?: number;
}

/**
 * The one collective a world needs: what nn asks of the tabs' process group (src/mesh's ProcessGroup
 * satisfies it). `allGather` returns every rank's contribution in rank order.
 */
export interface GatherGroup {
  readonly rank: number;
  readonly size: number;
  allGather(data: Float32Array, opts?: GatherOptions): Promise<Float32Array[]>;
}

export interface WorkerWorld {
  /** Workers in the whole world (all tabs). */
  readonly worldSize: number;
  /** Global index of this tab's first worker. */
  readonly firstWorker: number;
  /** Workers (batch groups) this tab runs. */
  readonly localWorkers: number;
  /** The tab rank that runs global worker `worker` (errors name it so a bad peer can be dropped). */
  tabOf(worker: number): number;
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

function assertWorkerCount(workers: number, what: string): void {
  if (!Number.isInteger(workers) || workers < 1) throw new NnError('ERR_SHAPE', `${what} needs at least one worker, got ${workers}`);
  if (workers > MAX_WORKERS_PER_TAB) {
    throw new NnError('ERR_WORLD_TOO_LARGE', `${what} asks for ${workers} workers; at most ${MAX_WORKERS_PER_TAB} per tab are allowed`);
  }
}

/** A world that lives entirely in one tab: `workers` virtual workers, gathering is a copy. */
export function localWorld(workers: number): WorkerWorld {
  // No cap: nobody else's claim sizes anything here.
  if (!Number.isInteger(workers) || workers < 1) throw new NnError('ERR_SHAPE', `a world needs at least one worker, got ${workers}`);
  return {
    worldSize: workers,
    firstWorker: 0,
    localWorkers: workers,
    tabOf: () => 0,
    async gatherRows(local, rowLen) {
      assertLocalRows(local, workers, rowLen);
      return local.slice();
    },
  };
}

/**
 * A world spread over the tabs of a process group, this tab running `localWorkers` workers. The
 * per-tab worker counts are exchanged once here (so tabs may run different numbers of workers) and
 * checked against MAX_WORKERS_PER_TAB before anything is sized by them; build a new world whenever
 * the group's membership (epoch) changes.
 */
export async function processGroupWorld(group: GatherGroup, localWorkers: number, opts: GatherOptions = {}): Promise<WorkerWorld> {
  assertWorkerCount(localWorkers, 'a tab');
  if (group.size > MAX_TABS) throw new NnError('ERR_WORLD_TOO_LARGE', `a world spans at most ${MAX_TABS} tabs, the group has ${group.size}`);
  const parts = await group.allGather(Float32Array.of(localWorkers), { priority: 'stats', ...opts });
  if (parts.length !== group.size) throw new NnError('ERR_SHAPE', `worker counts from ${parts.length} tabs, the group has ${group.size}`);
  const counts = parts.map((part, rank) => {
    const count = part.length === 1 ? part[0]! : NaN;
    if (!Number.isInteger(count) || count < 1 || count > MAX_WORKERS_PER_TAB) {
      throw new NnError('ERR_WORLD_TOO_LARGE', `tab ${rank} declared ${part.length === 1 ? count : `${part.length} values`} as its worker count; a tab runs 1 to ${MAX_WORKERS_PER_TAB} workers`, { rank });
    }
    return count;
  });
  const firstWorker = counts.slice(0, group.rank).reduce((a, b) => a + b, 0);
  const worldSize = counts.reduce((a, b) => a + b, 0);
  const firstOf = counts.map((_, r) => counts.slice(0, r).reduce((a, b) => a + b, 0));
  return {
    worldSize,
    firstWorker,
    localWorkers,
    tabOf(worker) {
      let rank = 0;
      while (rank + 1 < counts.length && firstOf[rank + 1]! <= worker) rank++;
      return rank;
    },
    async gatherRows(local, rowLen) {
      assertLocalRows(local, localWorkers, rowLen);
      // Priority left to the group's size rule: BN statistics are small, gathered keys are bulk.
      const parts = await group.allGather(local, opts);
      const out = new Float32Array(worldSize * rowLen);
      let offset = 0;
      parts.forEach((part, rank) => {
        if (part.length !== counts[rank]! * rowLen) {
          throw new NnError('ERR_SHAPE', `rank ${rank} sent ${part.length} values, expected ${counts[rank]! * rowLen}`, { rank });
        }
        out.set(part, offset);
        offset += part.length;
      });
      return out;
    },
  };
}
