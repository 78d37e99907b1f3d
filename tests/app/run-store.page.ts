/**
 * Page side of tests/ui/reload.browser.test.ts: the IndexedDB RunStore in a real browser, on a fresh
 * database per call. Returns what was read back; the test compares it with what was written.
 */
import { IndexedDbRunStore } from '../../src/app/run-store/indexeddb.ts';
import { MAX_SAVED_RUNS_PER_ROOM } from '../../src/app/run-store/store.ts';
import { DEFAULT_CONFIG, type RunLog, type StepLog } from '../../src/train/types.ts';

function step(n: number, loss: number): StepLog {
  return { step: n, loss, pretextAcc: 0.5, sourceOf: [1, 0], computeMs: 1, commMs: 1 };
}

const header: Omit<RunLog, 'steps'> = { version: 1, config: { ...DEFAULT_CONFIG, hiddenDims: [...DEFAULT_CONFIG.hiddenDims] }, worldSize: 2, tabs: 1, backend: 'cpu', startedAt: '2026-11-30T10:00:00.000Z' };

export async function indexedDbRoundTrip(dbName: string) {
  const store = new IndexedDbRunStore(indexedDB, dbName);
  // Steps 0..11 (two-digit numbers sort numerically, not as text), then steps 9.. rolled back and repeated.
  await store.write('room-a', 'run-1', { header, dropFrom: null, steps: Array.from({ length: 12 }, (_, n) => step(n, n)), stepCount: 12, lastStep: 11, updatedAt: 1 });
  await store.write('room-a', 'run-1', { header, dropFrom: 9, steps: [step(9, 90), step(10, 100)], stepCount: 11, lastStep: 10, updatedAt: 2 });
  await store.write('room-a', 'run-1', { header, dropFrom: null, steps: [step(10, 101)], stepCount: 11, lastStep: 10, updatedAt: 3 });
  // More runs in the room than the limit, and one in another room.
  for (let i = 2; i <= MAX_SAVED_RUNS_PER_ROOM + 2; i++) await store.write('room-a', `run-${i}`, { header, dropFrom: null, steps: [step(0, i)], stepCount: 1, lastStep: 0, updatedAt: 10 + i });
  await store.write('room-b', 'run-1', { header, dropFrom: null, steps: [step(0, 7)], stepCount: 1, lastStep: 0, updatedAt: 100 });
  const listA = await store.list('room-a');
  const listB = await store.list('room-b');
  const evicted = await store.load('room-a', 'run-1');
  const kept = await store.load('room-a', `run-${MAX_SAVED_RUNS_PER_ROOM + 2}`);
  await store.close();

  // A second store on the same database (a reloaded page) reads the same.
  const reopened = new IndexedDbRunStore(indexedDB, dbName);
  const again = await reopened.load('room-b', 'run-1');
  await reopened.close();
  return {
    listA: listA.map((r) => r.runId),
    listB: listB.map((r) => r.runId),
    evicted,
    kept: kept?.steps.map((s) => [s.step, s.loss]),
    again: again?.steps.map((s) => [s.step, s.loss]),
  };
}

/**
 * The same writes, read back before eviction: run-1's steps after the rollback. The last three are
 * made back to back without waiting, as the recorder does on pagehide: they must apply in order.
 */
export async function indexedDbRollback(dbName: string) {
  const store = new IndexedDbRunStore(indexedDB, dbName);
  await Promise.all([
    store.write('room-a', 'run-1', { header, dropFrom: null, steps: Array.from({ length: 12 }, (_, n) => step(n, n)), stepCount: 12, lastStep: 11, updatedAt: 1 }),
    store.write('room-a', 'run-1', { header, dropFrom: 9, steps: [step(9, 90), step(10, 100)], stepCount: 11, lastStep: 10, updatedAt: 2 }),
    store.write('room-a', 'run-1', { header, dropFrom: null, steps: [step(10, 101)], stepCount: 11, lastStep: 10, updatedAt: 3 }),
  ]);
  const log = await store.load('room-a', 'run-1');
  await store.close();
  return { steps: log?.steps.map((s) => [s.step, s.loss]), header: log && { ...log, steps: undefined } };
}
