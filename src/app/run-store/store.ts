/**
 * Where a room's run logs outlive the tab: the `RunStore` interface the app writes through, its limits,
 * the eviction rule every implementation shares, and an in-memory implementation (tests, and browsers
 * without IndexedDB). The IndexedDB implementation is ./indexeddb.ts; ./recorder.ts batches a running
 * log's changes into writes.
 *
 * A saved run is keyed by (room id, run id) and holds the RunLog's header (everything but the steps)
 * and its steps keyed by step number, so writing a step twice replaces it: a stored log never holds
 * one step twice.
 */
import type { RunLog, StepLog } from '../../train/types.ts';

/** Runs kept per room, the most recently written first; older ones are deleted on the next write. */
export const MAX_SAVED_RUNS_PER_ROOM = 5;
/** Rooms kept, by their most recent write: a browser used for many rooms keeps only the latest ones. */
export const MAX_SAVED_ROOMS = 10;
/**
 * Steps saved per run (the recorder stops saving a run beyond it). A saved step is ~250 bytes of
 * scalars (~400 in compare mode), so a full run is ~25-40 MB and the store holds at most 50 runs.
 */
export const MAX_SAVED_STEPS_PER_RUN = 100_000;

/** A RunLog without its steps. */
export type RunLogHeader = Omit<RunLog, 'steps'>;

/** What the earlier-runs list shows of a saved run. */
export interface SavedRunInfo {
  roomId: string;
  runId: string;
  header: RunLogHeader;
  /** Steps saved, and the last one's 0-based number (-1: none). */
  stepCount: number;
  lastStep: number;
  /** Epoch ms of the last write (eviction order). */
  updatedAt: number;
}

/** One write: the header as it is now, then every saved step ≥ `dropFrom` removed, then `steps` put. */
export interface RunLogBatch {
  header: RunLogHeader;
  /** Steps from this one on were rolled back (null: none). */
  dropFrom: number | null;
  steps: StepLog[];
  /** The log's step count and last step after this batch (the list shows them without reading steps). */
  stepCount: number;
  lastStep: number;
  updatedAt: number;
}

export interface RunStore {
  /** The saved runs of a room, most recently written first. */
  list(roomId: string): Promise<SavedRunInfo[]>;
  /** One saved run with its steps in step order, or null. */
  load(roomId: string, runId: string): Promise<RunLog | null>;
  /**
   * Applies one batch in one transaction, then deletes what the limits no longer allow. Writes apply
   * in the order they are called, also when called before the previous one has finished; a write
   * called as the page goes away (pagehide) has its whole batch queued within that task (no wait on
   * anything but the open database), so it commits although the page is gone.
   */
  write(roomId: string, runId: string, batch: RunLogBatch): Promise<void>;
}

/** The identity and last write of a saved run: all that eviction needs. */
export type RunKey = Pick<SavedRunInfo, 'roomId' | 'runId' | 'updatedAt'>;

/**
 * The runs to delete so that at most `perRoom` runs per room and `rooms` rooms remain, keeping the
 * most recently written (ties: the larger run id, as run ids sort by start time).
 */
export function runsToEvict(runs: readonly RunKey[], perRoom = MAX_SAVED_RUNS_PER_ROOM, rooms = MAX_SAVED_ROOMS): RunKey[] {
  const newestFirst = [...runs].sort((a, b) => b.updatedAt - a.updatedAt || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0));
  const keptPerRoom = new Map<string, number>();
  const evict: RunKey[] = [];
  for (const run of newestFirst) {
    const kept = keptPerRoom.get(run.roomId);
    const roomAllowed = kept !== undefined || keptPerRoom.size < rooms;
    if (roomAllowed && (kept ?? 0) < perRoom) keptPerRoom.set(run.roomId, (kept ?? 0) + 1);
    else evict.push(run);
  }
  return evict;
}

/** Applies a batch to steps held in step order: the in-memory store's steps, keyed by step as in IndexedDB. */
export function applyBatch(steps: readonly StepLog[], batch: Pick<RunLogBatch, 'dropFrom' | 'steps'>): StepLog[] {
  const byStep = new Map<number, StepLog>();
  for (const s of steps) if (batch.dropFrom === null || s.step < batch.dropFrom) byStep.set(s.step, s);
  for (const s of batch.steps) byStep.set(s.step, s);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

interface MemoryRun {
  info: SavedRunInfo;
  steps: StepLog[];
}

/** A RunStore in memory: the same semantics as IndexedDB's, gone with the page. */
export class MemoryRunStore implements RunStore {
  private readonly runs = new Map<string, MemoryRun>();
  /** Batches written, for tests that check the batching. */
  writes = 0;

  async list(roomId: string): Promise<SavedRunInfo[]> {
    return [...this.runs.values()]
      .filter((r) => r.info.roomId === roomId)
      .map((r) => structuredClone(r.info))
      .sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async load(roomId: string, runId: string): Promise<RunLog | null> {
    const run = this.runs.get(key(roomId, runId));
    return run ? structuredClone({ ...run.info.header, steps: run.steps }) : null;
  }

  async write(roomId: string, runId: string, batch: RunLogBatch): Promise<void> {
    this.writes++;
    const k = key(roomId, runId);
    const steps = applyBatch(this.runs.get(k)?.steps ?? [], batch);
    const info: SavedRunInfo = { roomId, runId, header: batch.header, stepCount: batch.stepCount, lastStep: batch.lastStep, updatedAt: batch.updatedAt };
    this.runs.set(k, structuredClone({ info, steps }));
    for (const gone of runsToEvict([...this.runs.values()].map((r) => r.info))) this.runs.delete(key(gone.roomId, gone.runId));
  }
}

function key(roomId: string, runId: string): string {
  return `${roomId}\n${runId}`;
}
