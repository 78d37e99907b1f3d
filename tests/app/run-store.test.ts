/**
 * Saved run logs (src/app/run-store/): which runs the limits keep, what a batch does to a saved run,
 * and how the recorder batches a growing log into writes and turns a failing store into one notice.
 */
import { describe, expect, it } from 'vitest';
import { RunRecorder } from '../../src/app/run-store/recorder.ts';
import { MAX_SAVED_ROOMS, MAX_SAVED_RUNS_PER_ROOM, MemoryRunStore, runsToEvict, type RunKey, type RunStore } from '../../src/app/run-store/store.ts';
import { DEFAULT_CONFIG, type RunLog, type StepLog } from '../../src/train/types.ts';

function step(n: number, loss = 5 - n / 100): StepLog {
  return { step: n, loss, pretextAcc: 0.1, sourceOf: [1, 0], computeMs: 2, commMs: 1 };
}

function emptyLog(): RunLog {
  return { version: 1, config: { ...DEFAULT_CONFIG, hiddenDims: [...DEFAULT_CONFIG.hiddenDims] }, worldSize: 2, tabs: 1, backend: 'cpu', startedAt: '2026-11-30T10:00:00.000Z', steps: [] };
}

/** Timers the test advances by hand. */
function manualTimers() {
  let now = 0;
  const due: Array<{ at: number; fn: () => void; id: number }> = [];
  let nextId = 1;
  return {
    now: () => now,
    setTimeout: (fn: () => void, ms: number) => {
      const id = nextId++;
      due.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (id: unknown) => {
      const i = due.findIndex((d) => d.id === id);
      if (i >= 0) due.splice(i, 1);
    },
    advance(ms: number) {
      now += ms;
      for (const d of due.filter((d) => d.at <= now)) {
        due.splice(due.indexOf(d), 1);
        d.fn();
      }
    },
  };
}

describe('runsToEvict', () => {
  it(`keeps the ${MAX_SAVED_RUNS_PER_ROOM} most recently written runs of a room and the ${MAX_SAVED_ROOMS} most recently written rooms`, () => {
    const runs: RunKey[] = [];
    // Room "busy": 7 runs written at t = 1..7; rooms r0..r10: one run each, written at t = 100 + i.
    for (let t = 1; t <= 7; t++) runs.push({ roomId: 'busy', runId: `run-${t}`, updatedAt: t });
    for (let i = 0; i <= 10; i++) runs.push({ roomId: `r${i}`, runId: 'only', updatedAt: 100 + i });
    const evicted = runsToEvict(runs).map((r) => `${r.roomId}/${r.runId}`).sort();
    // 12 rooms: "busy" (newest write t = 7) and r0 (t = 100) are the two least recently written.
    expect(evicted).toEqual([...[1, 2, 3, 4, 5, 6, 7].map((t) => `busy/run-${t}`), 'r0/only'].sort());
    // Within the room limit only: the two oldest runs of the busy room go.
    const oneRoom = runs.filter((r) => r.roomId === 'busy');
    expect(runsToEvict(oneRoom).map((r) => r.runId).sort()).toEqual(['run-1', 'run-2']);
    expect(runsToEvict(oneRoom.slice(0, MAX_SAVED_RUNS_PER_ROOM))).toEqual([]);
  });
});

describe('MemoryRunStore', () => {
  it('a batch drops rolled-back steps, then puts its steps; a step written twice is saved once, the newer kept', async () => {
    const store = new MemoryRunStore();
    const header = (({ steps: _s, ...h }) => h)(emptyLog());
    await store.write('room', 'run', { header, dropFrom: null, steps: [0, 1, 2, 3, 4].map((n) => step(n)), stepCount: 5, lastStep: 4, updatedAt: 1 });
    await store.write('room', 'run', { header, dropFrom: 3, steps: [step(3, 9), step(4, 9), step(5, 9)], stepCount: 6, lastStep: 5, updatedAt: 2 });
    await store.write('room', 'run', { header, dropFrom: null, steps: [step(5, 8)], stepCount: 6, lastStep: 5, updatedAt: 3 });
    const log = await store.load('room', 'run');
    expect(log?.steps.map((s) => [s.step, s.loss])).toEqual([[0, 5], [1, 4.99], [2, 4.98], [3, 9], [4, 9], [5, 8]]);
    expect((await store.list('room')).map((r) => [r.runId, r.updatedAt])).toEqual([['run', 3]]);
    expect(await store.load('room', 'other')).toBeNull();
    expect(await store.list('other-room')).toEqual([]);
  });
});

describe('RunRecorder', () => {
  it('batches a run at 10 steps/s into one write per interval, and writes the rest when flushed', async () => {
    const store = new MemoryRunStore();
    const timers = manualTimers();
    const log = emptyLog();
    const recorder = new RunRecorder({ store, roomId: 'room', runId: 'run', log: () => log, onError: () => expect.fail('no error expected'), timers, intervalMs: 1000 });
    for (let n = 0; n < 35; n++) {
      log.steps.push(step(n));
      recorder.append([log.steps.at(-1)!]);
      timers.advance(100);
      await Promise.resolve();
    }
    await recorder.flush();
    // 3.5 s of steps: writes at 1 s, 2 s and 3 s, and the flush.
    expect(store.writes).toBe(4);
    expect((await store.load('room', 'run'))?.steps.map((s) => s.step)).toEqual(log.steps.map((s) => s.step));
  });

  it('a rollback removes pending and saved steps from the rolled-back step on', async () => {
    const store = new MemoryRunStore();
    const timers = manualTimers();
    const log = emptyLog();
    const recorder = new RunRecorder({ store, roomId: 'room', runId: 'run', log: () => log, onError: () => expect.fail('no error expected'), timers });
    recorder.append([0, 1, 2, 3].map((n) => step(n)));
    await recorder.flush();
    recorder.append([step(4), step(5)]);
    recorder.rollBack(2);
    recorder.append([step(2, 7), step(3, 7)]);
    await recorder.flush();
    expect((await store.load('room', 'run'))?.steps.map((s) => [s.step, s.loss])).toEqual([[0, 5], [1, 4.99], [2, 7], [3, 7]]);
  });

  it('a store that fails (quota) becomes one notice; nothing throws and no more writes are tried', async () => {
    let attempts = 0;
    const full: RunStore = {
      list: async () => [],
      load: async () => null,
      write: async () => {
        attempts++;
        throw Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
      },
    };
    const errors: Array<Error & { code: string }> = [];
    const timers = manualTimers();
    const recorder = new RunRecorder({ store: full, roomId: 'room', runId: 'run', log: emptyLog, onError: (e) => errors.push(e), timers });
    recorder.append([step(0)]);
    await recorder.flush();
    recorder.append([step(1)]);
    timers.advance(5000);
    await recorder.flush();
    expect(attempts).toBe(1);
    expect(errors.map((e) => e.code)).toEqual(['ERR_RUN_LOG_STORAGE']);
    expect(errors[0]!.message).toMatch(/storage for this site is full/);
  });
});
