/**
 * TrainingSession.pauseAfter: the loop begins no step after the one given, also when it learns of it
 * while it awaits between steps (a world rebuild); a step it has already completed, or -1, pauses at
 * once; resume cancels it; a bad step is refused with ERR_BAD_PAUSE_STEP. One tab, CPU backend.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import { createDataset, type ShapeDataset } from '../../src/train/dataset.ts';
import { checkPauseStep, SETTLE_MS, TrainingSession, type GroupSource } from '../../src/train/session.ts';
import type { StepLog, TrainConfig } from '../../src/train/types.ts';
import { SMALL_CONFIG } from './harness.ts';

const CONFIG: TrainConfig = { ...SMALL_CONFIG, mode: 'shuffle', workersPerTab: 2, steps: 8 };

let dataset: ShapeDataset;
beforeAll(() => {
  dataset = createDataset({ seed: 1, trainPerClass: 20, testPerClass: 1 });
});

const sessions: TrainingSession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.destroy();
});

function session(groups?: GroupSource): TrainingSession {
  const s = new TrainingSession({ backend: createCpuBackend(), config: CONFIG, dataset, ...(groups ? { groups } : { group: null }) });
  sessions.push(s);
  return s;
}

/** A state that has not come by then never will (these runs take well under a second). */
const WAIT_MS = 5_000;

/** Resolves at the session's next change to `state`; rejects after WAIT_MS. */
function next(s: TrainingSession, state: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${state}' within ${WAIT_MS} ms (state ${s.state}, ${s.step} steps completed)`)), WAIT_MS);
    const on = () => {
      if (s.state !== state) return;
      s.removeEventListener('state', on);
      clearTimeout(timer);
      resolve();
    };
    s.addEventListener('state', on);
  });
}

/** Calls `fn` on the event of step `step` (0-based). */
function onStep(s: TrainingSession, step: number, fn: () => void): void {
  s.addEventListener('step', (e) => {
    if ((e as CustomEvent<StepLog>).detail.step === step) fn();
  });
}

const steps = (n: number) => [...Array(n).keys()];
const logged = (s: TrainingSession) => s.logs.map((l) => l.step);

describe('TrainingSession.pauseAfter', () => {
  it('completes steps 0..S and pauses; a step given while paused changes nothing; resume trains to the end', async () => {
    const s = session();
    const paused = next(s, 'paused');
    const loop = s.start();
    s.pauseAfter(3);
    expect(s.state).toBe('running');
    await paused;
    expect([s.step, logged(s)]).toEqual([4, steps(4)]);
    s.pauseAfter(1);
    expect(s.state).toBe('paused');
    s.resume();
    await loop;
    expect([s.state, logged(s)]).toEqual(['done', steps(CONFIG.steps)]);
  });

  it('a step already completed pauses at once, as -1 does: the step in flight completes, no other begins', async () => {
    for (const late of [2, -1]) {
      const s = session();
      const states: string[] = [];
      onStep(s, 4, () => {
        s.pauseAfter(late);
        states.push(s.state);
      });
      const paused = next(s, 'paused');
      void s.start();
      await paused;
      expect([late, states, logged(s)]).toEqual([late, ['paused'], steps(5)]);
    }
  });

  it('resume cancels a pause step not reached yet', async () => {
    const s = session();
    const loop = s.start();
    s.pauseAfter(3);
    s.resume();
    await loop;
    expect([s.state, logged(s)]).toEqual(['done', steps(CONFIG.steps)]);
  });

  it('a pause that arrives while the loop rebuilds its world between steps S and S+1 begins no step after S', async () => {
    for (const how of ['pauseAfter(S)', 'pause()'] as const) {
      const listeners: Array<(g: ProcessGroup | null, complete: boolean) => void> = [];
      const groups: GroupSource = { current: () => null, subscribe: (l) => (listeners.push(l), () => {}) };
      const s = session(groups);
      const worlds: number[] = [];
      s.addEventListener('world', (e) => worlds.push((e as CustomEvent<{ step: number }>).detail.step));
      // A membership change just after step 2: the loop waits SETTLE_MS for more before rebuilding.
      onStep(s, 2, () => {
        for (const l of listeners) l(null, true);
        setTimeout(() => (how === 'pause()' ? s.pause() : s.pauseAfter(2)), SETTLE_MS / 4);
      });
      const paused = next(s, 'paused');
      void s.start();
      await paused;
      // Past the rebuild (SETTLE_MS after the change): a step begun after it would have completed by now.
      await new Promise((r) => setTimeout(r, SETTLE_MS * 2));
      expect([how, worlds, s.step, logged(s)]).toEqual([how, [0, 3], 3, steps(3)]);
    }
  });

  it('refuses a step that is not a whole number ≥ -1 (ERR_BAD_PAUSE_STEP) and keeps running', () => {
    for (const bad of [1.5, -2, NaN, Infinity, '3', null]) {
      expect(() => checkPauseStep(bad), String(bad)).toThrow(expect.objectContaining({ code: 'ERR_BAD_PAUSE_STEP' }));
    }
    expect([0, 7, -1].map(checkPauseStep)).toEqual([0, 7, -1]);
    const s = session();
    void s.start();
    expect(() => s.pauseAfter(2.5)).toThrow(expect.objectContaining({ code: 'ERR_BAD_PAUSE_STEP', message: expect.stringContaining('-1 for at once') }));
    expect(s.state).toBe('running');
  });
});
