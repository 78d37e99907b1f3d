/**
 * End-to-end faults over the real mesh (headless Chromium tabs, WebRTC, WebGPU): a tab that closes
 * mid-training is dropped and the survivors continue from the last completed step with recomputed
 * ranks and permutation; a tab that joins mid-run receives the state and trains in step with the rest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWorker, HeadlessRoom, type HeadlessTab } from '../../scripts/lib/headless-run.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/train/types.ts';
import type { HeadlessRunOptions } from '../../src/train/headless-worker.ts';

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

  it('drops a tab that closes mid-run; survivors recompute ranks and permutation and finish', async () => {
    const [a, b, c] = [await room.addTab(), await room.addTab(), await room.addTab()];
    const runs = [a.run(runOpts(3)), b.run(runOpts(3)), c.run(runOpts(3)).catch(() => null)];
    await waitForStep(a, 4);
    await c.close();
    const [ra, rb] = await Promise.all([runs[0], runs[1]]);
    expect(ra!.steps).toBe(config.steps);
    expect(rb!.steps).toBe(config.steps);
    for (const tab of [a, b]) {
      const steps = finalSteps(tab);
      expect(steps.map((s) => s.step)).toEqual([...Array(config.steps).keys()]);
      for (const s of steps) expect(Number.isFinite(s.loss)).toBe(true);
      // The world was rebuilt with 2 workers; afterwards every permutation is over 2 workers.
      const last = tab.worlds[tab.worlds.length - 1]!;
      expect(last.worldSize).toBe(2);
      expect(last.tabs).toBe(2);
      expect(steps[steps.length - 1]!.sourceOf).toEqual([1, 0]);
      expect(steps[0]!.sourceOf).toHaveLength(3);
      expect(tab.errors.some((e) => e.code === 'ERR_PEER_LEFT' || e.code === 'ERR_MEMBERSHIP_CHANGED' || e.code === 'ERR_TIMEOUT')).toBe(true);
    }
    // Ranks recomputed: the survivors are ranks 0 and 1 of the new world.
    expect(new Set([a.worlds.at(-1)!.rank, b.worlds.at(-1)!.rank])).toEqual(new Set([0, 1]));
    // Both survivors logged the same losses (the loss is reduced over the whole world).
    expect(finalSteps(b).map((s) => s.loss)).toEqual(finalSteps(a).map((s) => s.loss));
    await Promise.all([callWorker(a.page, 'leave'), callWorker(b.page, 'leave')]);
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
