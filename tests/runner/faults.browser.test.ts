/**
 * End-to-end faults over the real mesh (headless Chromium tabs, WebRTC, WebGPU): a tab that closes
 * mid-training is dropped and the survivors continue from the last completed step with recomputed
 * ranks and permutation; a tab that joins mid-run receives the state and trains in step with the rest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWorker, HeadlessRoom, type HeadlessTab } from '../../scripts/lib/headless-run.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/train/types.ts';
import type { HeadlessRunOptions } from '../../src/train/headless-worker.ts';
import { FAULT_CONFIG, openFaultRoom, runFaultyPeerCase, type FaultTab } from '../../scripts/lib/fault-room.ts';

/** A small encoder so a step takes little time; the protocol under test is the same at any size. */
const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  mode: 'shuffle',
  steps: 14,
  batchPerWorker: 4,
  workersPerTab: 1,
  queueSize: 48,
  inputDim: 256,
  hiddenDims: [32],
  outputDim: 16,
  knnEvery: 0,
};

function runOpts(tabs: number): HeadlessRunOptions {
  return { config, tabs, backend: 'auto', traceEvery: 1, traceChannels: 4 };
}

function waitFor(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (condition() ? resolve() : setTimeout(check, 50));
    check();
  });
}

function waitForStep(tab: HeadlessTab, step: number): Promise<void> {
  return waitFor(() => tab.steps.some((s) => s.step >= step));
}

/** The last log of every step, in step order (a step re-run after a membership change replaces the earlier try). */
function finalSteps(tab: HeadlessTab) {
  const byStep = new Map<number, (typeof tab.steps)[number]>();
  for (const s of tab.steps) byStep.set(s.step, s);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

describe('faults across real tabs', () => {
  let room: HeadlessRoom;
  beforeAll(async () => {
    room = await HeadlessRoom.open();
  });
  afterAll(async () => {
    await room?.close();
  });

  it('drops a tab that closes mid-run; survivors recompute ranks and permutation and continue', async () => {
    const [a, b, c] = [await room.addTab(), await room.addTab(), await room.addTab()];
    // Open-ended: the tabs train until the test has seen enough and makes them leave.
    const open: HeadlessRunOptions = { ...runOpts(3), config: { ...config, steps: 1_000_000 } };
    const runs = [a.run(open), b.run(open).catch(() => null), c.run(open)];
    await waitForStep(a, 4);
    await b.close(); // the middle rank: c must move from rank 2 to rank 1
    const rebuilt = (t: HeadlessTab) => t.worlds.find((w) => w.worldSize === 2);
    await waitFor(() => [a, c].every((t) => rebuilt(t) !== undefined && t.steps.some((s) => s.step >= rebuilt(t)!.step + 5)));
    await Promise.all([callWorker(a.page, 'leave'), callWorker(c.page, 'leave')]);
    await Promise.all(runs);
    const resumedAt = rebuilt(a)!.step;
    expect(rebuilt(c)!.step).toBe(resumedAt);
    expect(resumedAt).toBeGreaterThanOrEqual(4);
    expect([rebuilt(a)!.rank, rebuilt(c)!.rank]).toEqual([0, 1]);
    expect([rebuilt(a)!.tabs, rebuilt(c)!.tabs]).toEqual([2, 2]);
    for (const tab of [a, c]) {
      const steps = finalSteps(tab);
      // No step lost or skipped: the survivors continue from rank 0's last completed step. (A tab
      // other than rank 0 may have seen the step before that fail where rank 0 completed it.)
      const numbers = steps.map((s) => s.step);
      const expected = [...Array(numbers.at(-1)! + 1).keys()];
      if (tab === a) expect(numbers).toEqual(expected);
      else expect(expected.filter((k) => !numbers.includes(k)).every((k) => k === resumedAt - 1)).toBe(true);
      for (const s of steps) {
        expect(Number.isFinite(s.loss)).toBe(true);
        // The permutation is recomputed for the new world size.
        expect(s.sourceOf).toHaveLength(s.step < resumedAt ? 3 : 2);
        if (s.step >= resumedAt) expect(s.sourceOf).toEqual([1, 0]);
      }
      expect(tab.errors.some((e) => ['ERR_PEER_LEFT', 'ERR_MEMBERSHIP_CHANGED', 'ERR_TIMEOUT'].includes(e.code))).toBe(true);
    }
    // Both survivors logged the same losses over the steps both completed (the loss is a world mean).
    const common = Math.min(finalSteps(a).length, finalSteps(c).length);
    expect(finalSteps(c).slice(0, common).map((s) => s.loss)).toEqual(finalSteps(a).slice(0, common).map((s) => s.loss));
  });

  it('a tab that joins mid-run receives parameters, queue and step, and trains in step', async () => {
    const fresh = await HeadlessRoom.open({ server: room.server, browser: room.browser });
    const [a, b] = [await fresh.addTab(), await fresh.addTab()];
    // Open-ended: the tabs train until the test has seen enough and makes them leave.
    const open = (tabs: number): HeadlessRunOptions => ({ ...runOpts(tabs), config: { ...config, steps: 1_000_000 } });
    const runs = [a.run(open(2)), b.run(open(2))];
    await waitForStep(a, 4);
    const c = await fresh.addTab();
    const rc = c.run(open(3));
    await waitFor(() => c.worlds.length > 0 && c.steps.length >= 6);
    await Promise.all([a, b, c].map((t) => callWorker(t.page, 'leave')));
    await Promise.all([...runs, rc]);
    const joinedAt = c.worlds[0]!.step;
    expect(joinedAt).toBeGreaterThanOrEqual(4);
    expect(c.worlds[0]!.worldSize).toBe(3);
    const fromC = finalSteps(c).slice(0, 5);
    const fromA = finalSteps(a).filter((s) => s.step >= joinedAt).slice(0, 5);
    expect(fromC.map((s) => s.step)).toEqual([0, 1, 2, 3, 4].map((i) => joinedAt + i));
    expect(fromC.map((s) => s.step)).toEqual(fromA.map((s) => s.step));
    // Same world, same state: the newcomer logs exactly the losses the others log.
    expect(fromC.map((s) => s.loss)).toEqual(fromA.map((s) => s.loss));
    for (const s of fromC) expect(s.sourceOf).toHaveLength(3);
    for (const s of finalSteps(a)) expect(Number.isFinite(s.loss)).toBe(true);
  });
});

/**
 * Unequal and faulty peers over real tabs (tests/runner/faulty-tab.page.ts plays the slow, stalling or
 * hostile tab). The other faulty-peer cases (Inf, huge and wrong-length gradients, NaN and
 * negative-variance BatchNorm sync rows, 16,000,000 workers claimed, 10,000 future-step messages) run
 * in `scripts/fault-room.ts`, which prints heap growth and time to resume; the same cases run on the
 * mesh logic in Node in tests/train/session-faults.test.ts and tests/mesh/limits.test.ts.
 */
describe('unequal and faulty peers across real tabs', () => {
  let room: HeadlessRoom;
  beforeAll(async () => {
    room = await HeadlessRoom.open();
  });
  afterAll(async () => {
    await room?.close();
  });

  /** Eight steps are enough to see the fault, the rebuild and the steps after it. */
  const SHORT = { ...FAULT_CONFIG, steps: 8 };

  async function closeTabs(tabs: FaultTab[]): Promise<void> {
    for (const t of tabs) await t.page.context().close().catch(() => {});
  }

  it('a one-off timeout mid-collective: all tabs re-form at one epoch and one step; losses equal an uninterrupted run', async () => {
    const reference = await openFaultRoom(room.server, room.browser, 2, 1_500);
    await Promise.all(reference.map((t) => t.run({ config: SHORT, tabs: 2, backend: 'auto' })));
    const expected = reference[0]!.finalSteps().map((s) => s.loss);
    await closeTabs(reference);
    expect(expected).toHaveLength(SHORT.steps);

    // Tab 1 stalls 3.5 s before its gradient at step 3; the all-reduce's base deadline is 1.5 s, and a
    // stall inside a collective is not compute, so its pace does not extend the others' wait.
    const tabs = await openFaultRoom(room.server, room.browser, 2, 1_500);
    const results = await Promise.all(tabs.map((t, i) => t.run({ config: SHORT, tabs: 2, backend: 'auto', ...(i === 1 ? { faults: { stallOnce: { step: 3, ms: 3_500 } } } : {}) })));
    await closeTabs(tabs);
    expect(tabs[0]!.errors.some((e) => e.code === 'ERR_TIMEOUT' && e.peerId === tabs[1]!.selfId)).toBe(true);
    const rebuilt = tabs.map((t) => t.worlds.at(-1)!);
    expect(tabs.every((t) => t.worlds.length >= 2)).toBe(true);
    expect(rebuilt[0]!.step).toBe(rebuilt[1]!.step);
    expect(rebuilt[0]!.epoch).toBe(rebuilt[1]!.epoch);
    expect(tabs[0]!.worlds.slice(0, -1).map((w) => w.epoch)).not.toContain(rebuilt[0]!.epoch);
    console.log(`one-off timeout: fault to rebuilt world ${rebuilt.map((w) => `${Math.round(w.recoveredInMs ?? NaN)} ms`).join(', ')} (ranks 0, 1)`);
    for (const t of tabs) {
      expect(t.finalSteps().map((s) => s.step)).toEqual([...Array(SHORT.steps).keys()]);
      expect(t.finalSteps().map((s) => s.loss)).toEqual(expected);
    }
    expect(results.map((r) => r.modelFinite)).toEqual([true, true]);
  });

  it('a tab slower than the base deadline for a few steps: everyone waits, the pace names it, the run goes on', async () => {
    const tabs = await openFaultRoom(room.server, room.browser, 2, 1_500);
    const slow = { slow: { from: 2, to: 3, delayMs: 3_500 } };
    await Promise.all(tabs.map((t, i) => t.run({ config: SHORT, tabs: 2, backend: 'auto', gatherTimeoutMs: 1_500, ...(i === 1 ? { faults: slow } : {}) })));
    // Errors while training only (closing the first tab is a departure for the second).
    const errors = tabs.map((t) => [...t.errors]);
    await closeTabs(tabs);
    for (const [i, t] of tabs.entries()) {
      expect(errors[i]).toEqual([]);
      expect(t.worlds).toHaveLength(1);
      expect(t.finalSteps().map((s) => s.step)).toEqual([...Array(SHORT.steps).keys()]);
    }
    const slowId = tabs[1]!.selfId;
    expect(tabs[0]!.paces.some((p) => p.slowest?.peerId === slowId && p.slowest.stepMs >= 2_500)).toBe(true);
    expect(tabs[0]!.paces.some((p) => p.waitingFor?.peerId === slowId && p.waitingFor.waitedMs > 1_500)).toBe(true);
  });

  it('a tab sending chunks that declare 512 MiB is excluded by name; heap growth of the others stays under 16 MiB', async () => {
    const result = await runFaultyPeerCase(room.server, room.browser, 'declare-512mib', { attack: 'declare-512mib' });
    for (const reason of result.reasons) {
      expect(reason?.code).toBe('ERR_PEER_OVER_LIMIT');
      expect(reason?.message).toContain(result.offender);
    }
    for (const growth of result.heapGrowth) expect(growth).toBeLessThan(16 * 1024 * 1024);
    expect(result.honestSteps[0]).toEqual([...Array(result.honestSteps[0]!.length).keys()]);
    expect(result.honestLosses[0]).toEqual(result.honestLosses[1]!.slice(0, result.honestLosses[0]!.length));
    expect(result.modelFinite.slice(0, 2)).toEqual([true, true]);
  });
});
