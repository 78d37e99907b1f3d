/**
 * The RunStore in the browser's IndexedDB (per origin, so per server address): survives a reload and
 * a browser restart, until the limits of ./store.ts evict it or the person clears site data.
 *
 * Database `shufflebn-run-logs`, version 1:
 *
 * | object store | key                       | value                        |
 * |--------------|---------------------------|------------------------------|
 * | `runs`       | [roomId, runId] (inline)  | SavedRunInfo (header, counts) |
 * | `steps`      | [roomId, runId, step]     | StepLog (scalars only)        |
 *
 * Array keys sort element by element, numbers numerically, so one key range reads a run's steps in
 * step order and one deletes every step from a rolled-back step on.
 */
import type { RunLog, StepLog } from '../../train/types.ts';
import { runsToEvict, type RunLogBatch, type RunStore, type SavedRunInfo } from './store.ts';

export const RUN_LOG_DB = 'shufflebn-run-logs';
const DB_VERSION = 1;
const RUNS = 'runs';
const STEPS = 'steps';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

/** Resolves when the transaction commits; rejects with its error (QuotaExceededError, …) when it aborts. */
function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
  });
}

/** Every step key of one run from `from` on. */
function stepRange(roomId: string, runId: string, from = -Infinity): IDBKeyRange {
  return IDBKeyRange.bound([roomId, runId, from], [roomId, runId, Infinity]);
}

export class IndexedDbRunStore implements RunStore {
  private db: Promise<IDBDatabase> | null = null;

  constructor(
    private readonly factory: IDBFactory,
    private readonly name: string = RUN_LOG_DB,
  ) {}

  async list(roomId: string): Promise<SavedRunInfo[]> {
    const db = await this.open();
    const tx = db.transaction(RUNS, 'readonly');
    const runs = await request(tx.objectStore(RUNS).getAll(IDBKeyRange.bound([roomId, ''], [roomId, '\uffff'])));
    return (runs as SavedRunInfo[]).sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async load(roomId: string, runId: string): Promise<RunLog | null> {
    const db = await this.open();
    const tx = db.transaction([RUNS, STEPS], 'readonly');
    const [info, steps] = await Promise.all([
      request(tx.objectStore(RUNS).get([roomId, runId])) as Promise<SavedRunInfo | undefined>,
      request(tx.objectStore(STEPS).getAll(stepRange(roomId, runId))) as Promise<StepLog[]>,
    ]);
    return info ? { ...info.header, steps } : null;
  }

  async write(roomId: string, runId: string, batch: RunLogBatch): Promise<void> {
    const db = await this.open();
    const tx = db.transaction([RUNS, STEPS], 'readwrite');
    const committed = done(tx);
    const steps = tx.objectStore(STEPS);
    if (batch.dropFrom !== null) steps.delete(stepRange(roomId, runId, batch.dropFrom));
    for (const step of batch.steps) steps.put(step, [roomId, runId, step.step]);
    const info: SavedRunInfo = { roomId, runId, header: batch.header, stepCount: batch.stepCount, lastStep: batch.lastStep, updatedAt: batch.updatedAt };
    tx.objectStore(RUNS).put(info);
    // Nothing more comes: commit now rather than when the page's task ends (it may be the last one).
    tx.commit?.();
    await committed;
    await this.evict(db);
  }

  /** Deletes the runs the limits no longer allow (a transaction of its own: the batch is safe first). */
  private async evict(db: IDBDatabase): Promise<void> {
    const tx = db.transaction([RUNS, STEPS], 'readwrite');
    const committed = done(tx);
    const runs = tx.objectStore(RUNS);
    const all = (await request(runs.getAll())) as SavedRunInfo[];
    for (const gone of runsToEvict(all)) {
      runs.delete([gone.roomId, gone.runId]);
      tx.objectStore(STEPS).delete(stepRange(gone.roomId, gone.runId));
    }
    await committed;
  }

  /** Closes the database (tests; a page just goes away). */
  async close(): Promise<void> {
    if (this.db) (await this.db.catch(() => null))?.close();
    this.db = null;
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = this.factory.open(this.name, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains(RUNS)) db.createObjectStore(RUNS, { keyPath: ['roomId', 'runId'] });
        if (!db.objectStoreNames.contains(STEPS)) db.createObjectStore(STEPS);
      };
      req.onsuccess = () => {
        const db = req.result;
        // Another tab of a newer version wants to upgrade: step aside instead of blocking it.
        db.onversionchange = () => db.close();
        resolve(db);
      };
      req.onerror = () => reject(req.error ?? new Error('IndexedDB cannot be opened'));
      req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab of this site'));
    });
    // A failed open is retried on the next call (private mode, storage switched off…).
    this.db.catch(() => (this.db = null));
    return this.db;
  }
}

/** The browser's IndexedDB store, or null where there is none (Node, some private modes). */
export function openIndexedDbRunStore(): RunStore | null {
  return typeof indexedDB === 'undefined' ? null : new IndexedDbRunStore(indexedDB);
}
