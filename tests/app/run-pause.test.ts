/**
 * A room's pause at step S, as the app's Run forwards it: every tab's session completes exactly the
 * steps 0..S and then pauses, whether it computes on the page (TrainingSession) or in the compute
 * worker (RemoteSession over a MessageChannel to a SessionHost, tests/worker/stand-in-worker.ts), and
 * in a room mixing both. One tab gets the pause later than the other (as the room's message reaches
 * tabs at different times) and spends extra time before each step (a slower device). The pause
 * label reads the last step delivered before 'paused', which must be S; resume then trains both tabs
 * to the end, each step once. Two tabs, CPU backend, memory process groups.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { Run } from '../../src/app/run.ts';
import type { SessionFactory, SessionState } from '../../src/app/ports.ts';
import { createMemoryGroups } from '../../src/mesh/memory.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import { createDataset, type ShapeDataset } from '../../src/train/dataset.ts';
import { staticGroups, TrainingSession, type SessionFaults } from '../../src/train/session.ts';
import type { TrainConfig } from '../../src/train/types.ts';
import { SMALL_CONFIG } from '../train/harness.ts';
import { standInCompute } from '../worker/stand-in-worker.ts';

const CONFIG: TrainConfig = { ...SMALL_CONFIG, mode: 'shuffle', workersPerTab: 2, steps: 10 };
/** The agreed pause step (0-based): tabs must complete steps 0..PAUSE_STEP. */
const PAUSE_STEP = 6;
/** Extra time tab 1 spends before each of its steps (ms). */
const SLOW_TAB_DELAY_MS = 25;
/** A pause or a run that has not happened by then never will: the tabs are stuck in a collective. */
const WAIT_MS = 8_000;

/** Long enough for a step begun after the pause to enter its collectives (steps take ~10-40 ms here). */
const SETTLE_MS = 200;

type Place = 'page' | 'worker';

let dataset: ShapeDataset;
beforeAll(() => {
  dataset = createDataset({ seed: 1, trainPerClass: 20, testPerClass: 1 });
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

interface Tab {
  run: Run;
  /** What the page saw, in order: each batch's newest step, and each state. */
  seen: Array<['update', number] | ['state', SessionState]>;
  /** The session that really trains (on the page, or the worker's). */
  trainer(): TrainingSession;
  /** Collectives of this tab in flight. */
  inFlight(): number;
}

/**
 * `group`, counting its collectives in flight: a paused room must have none (a tab waiting in one
 * for a tab that paused before it stalls until the collective timeout fails the group).
 */
function countingInFlight(group: ProcessGroup): { group: ProcessGroup; inFlight(): number } {
  let inFlight = 0;
  const counted = new Proxy(group, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function') return value;
      if (!COLLECTIVES.has(key)) return (value as (...a: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        inFlight++;
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          inFlight--;
        }
      };
    },
  });
  return { group: counted, inFlight: () => inFlight };
}
const COLLECTIVES = new Set<PropertyKey>(['broadcast', 'allGather', 'exchange', 'allReduce', 'barrier']);

async function openTab(place: Place, memoryGroup: ProcessGroup, faults: SessionFaults | undefined): Promise<Tab> {
  const { group, inFlight } = countingInFlight(memoryGroup);
  let createSession: SessionFactory;
  let trainer: () => TrainingSession;
  let backend: { label: string };
  if (place === 'page') {
    let session: TrainingSession | null = null;
    backend = { label: 'float64 (page)' };
    createSession = ({ groups, config, trace }) => (session = new TrainingSession({ backend: createCpuBackend(), config, trace, dataset, ...(groups ? { groups } : {}), ...(faults ? { faults } : {}) }));
    trainer = () => session!;
  } else {
    const compute = await standInCompute({ dataset, ...(faults ? { faults } : {}) });
    cleanups.push(() => compute.worker.terminate());
    backend = (await compute.worker.backend(false)).backend;
    createSession = compute.worker.createSession;
    trainer = () => compute.inner()!;
  }
  const seen: Tab['seen'] = [];
  const run = new Run({
    id: 'run-1',
    config: CONFIG,
    backend,
    backendLabel: backend.label,
    groups: staticGroups(group),
    createSession,
    callbacks: {
      onUpdate: (u) => seen.push(['update', u.step]),
      onState: (state) => seen.push(['state', state]),
      onError: () => {},
    },
  });
  cleanups.push(() => run.destroy());
  return { run, seen, trainer, inFlight };
}

/** Resolves when every tab's run is in `state`; rejects after WAIT_MS naming where each tab is. */
async function allIn(tabs: Tab[], state: SessionState): Promise<void> {
  const started = Date.now();
  while (!tabs.every((t) => t.run.state === state)) {
    if (Date.now() - started > WAIT_MS) {
      const where = tabs.map((t, i) => `tab ${i}: ${t.run.state}, last step ${t.run.lastStep}, session completed ${t.trainer().step}`).join('; ');
      throw new Error(`not every tab is ${state} after ${WAIT_MS} ms (${where})`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  // Events a worker sent before its state change have arrived with it; let late ones (and a step
  // begun after the pause) show.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
}

const steps = (n: number) => [...Array(n).keys()];

describe('a pause at step S stops every tab after exactly S (2 tabs)', () => {
  const rooms: Array<[Place, Place]> = [
    ['page', 'page'],
    ['worker', 'worker'],
    ['page', 'worker'],
    ['worker', 'page'],
  ];
  for (const places of rooms) {
    it(`tab 0 on the ${places[0]}, tab 1 on the ${places[1]} (slower, and told later)`, async () => {
      const groups = createMemoryGroups(2, { timeoutMs: 30_000 });
      const tabs = await Promise.all(places.map((place, rank) => openTab(place, groups[rank]!, rank === 1 ? { stepDelayMs: () => SLOW_TAB_DELAY_MS } : undefined)));
      // The room's pause reaches tab 0 at once and tab 1 only once tab 0 has shown its first step.
      let told = false;
      const tellLate = () => {
        if (told || tabs[0]!.seen.every(([kind]) => kind !== 'update')) return;
        told = true;
        tabs[1]!.run.pauseAfter(PAUSE_STEP);
      };
      const poll = setInterval(tellLate, 1);
      cleanups.push(() => clearInterval(poll));
      for (const tab of tabs) tab.run.start();
      tabs[0]!.run.pauseAfter(PAUSE_STEP);
      await allIn(tabs, 'paused');
      expect(told).toBe(true);

      // Each tab: what really trained (the session's completed steps and its log), what the page holds
      // (its run log), the step delivered last before 'paused' (the label reads it) and anything after.
      const facts = tabs.map((tab) => {
        const pausedAt = tab.seen.findIndex(([kind, value]) => kind === 'state' && value === 'paused');
        return {
          inFlight: tab.inFlight(),
          completed: tab.trainer().step,
          sessionLog: tab.trainer().logs.map((l) => l.step),
          runLog: tab.run.log.steps.map((s) => s.step),
          shownWhenPaused: tab.seen.slice(0, pausedAt).filter(([kind]) => kind === 'update').at(-1)?.[1],
          afterPaused: tab.seen.slice(pausedAt + 1),
        };
      });
      const expected = { inFlight: 0, completed: PAUSE_STEP + 1, sessionLog: steps(PAUSE_STEP + 1), runLog: steps(PAUSE_STEP + 1), shownWhenPaused: PAUSE_STEP, afterPaused: [] };
      expect(facts).toEqual([expected, expected]);

      // Resume clears the pause: both tabs train to the end, each step once, and agree.
      for (const tab of tabs) tab.run.resume();
      await allIn(tabs, 'done');
      for (const [i, tab] of tabs.entries()) {
        expect(tab.run.log.steps.map((s) => s.step), `tab ${i}: run log after resume`).toEqual(steps(CONFIG.steps));
      }
      expect(tabs[1]!.run.log.steps.map((s) => s.loss)).toEqual(tabs[0]!.run.log.steps.map((s) => s.loss));
    });
  }
});

describe('the pause step is chosen from the furthest step the page knows of', () => {
  it('a session ahead of its step events (a compute worker) counts: completedStep reads its own count', () => {
    const session = Object.assign(new EventTarget(), {
      step: 0,
      state: 'running' as SessionState,
      start: () => Promise.resolve(),
      pause: () => {},
      pauseAfter: () => {},
      resume: () => {},
      reset: () => {},
      destroy: () => {},
    });
    const run = new Run({
      id: 'run-1',
      config: CONFIG,
      backend: { label: 'stand-in' },
      backendLabel: 'stand-in',
      groups: null,
      createSession: () => session,
      callbacks: { onUpdate: () => {}, onState: () => {}, onError: () => {} },
    });
    cleanups.push(() => run.destroy());
    expect(run.completedStep).toBe(-1);
    // The worker reports 3 steps completed; their events have not reached the page yet.
    session.step = 3;
    expect([run.lastStep, run.completedStep]).toEqual([-1, 2]);
  });
});
