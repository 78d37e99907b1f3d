/**
 * The pause step across the compute bridge (s.pause-after): the page's RemoteSession sends the step
 * as it is, the worker checks it. A bad step is reported with ERR_BAD_PAUSE_STEP and the worker's
 * session pauses at once (a pause was asked for; a tab training on would stall the room); a pending
 * pause is cancelled by resume. One tab, CPU backend, stand-in worker over MessageChannels.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SessionLike } from '../../src/app/ports.ts';
import { createDataset, type ShapeDataset } from '../../src/train/dataset.ts';
import type { StepLog, TrainConfig } from '../../src/train/types.ts';
import { SMALL_CONFIG } from '../train/harness.ts';
import { standInCompute, type StandInCompute } from './stand-in-worker.ts';

const CONFIG: TrainConfig = { ...SMALL_CONFIG, mode: 'shuffle', workersPerTab: 2, steps: 8 };
/** Extra time before each step (ms): a pause sent while step 0 runs arrives long before the end. */
const STEP_DELAY_MS = 20;

let dataset: ShapeDataset;
beforeAll(() => {
  dataset = createDataset({ seed: 1, trainPerClass: 20, testPerClass: 1 });
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function workerSession(): Promise<{ session: SessionLike; compute: StandInCompute; steps: number[]; errors: Array<Error & { code?: string }> }> {
  const compute = await standInCompute({ dataset, faults: { stepDelayMs: () => STEP_DELAY_MS } });
  const { backend } = await compute.worker.backend(false);
  const session = compute.worker.createSession({ backend, groups: null, config: CONFIG, trace: false });
  const steps: number[] = [];
  const errors: Array<Error & { code?: string }> = [];
  session.addEventListener('step', (e) => steps.push((e as CustomEvent<StepLog>).detail.step));
  session.addEventListener('error', (e) => errors.push((e as CustomEvent<Error & { code?: string }>).detail));
  cleanups.push(() => {
    session.destroy();
    compute.worker.terminate();
  });
  return { session, compute, steps, errors };
}

async function until(done: () => boolean, what: string, limitMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!done()) {
    if (Date.now() - started > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the pause step crosses to the worker’s loop', () => {
  it('the worker pauses after exactly the step sent, then the page shows paused', async () => {
    const t = await workerSession();
    void t.session.start();
    t.session.pauseAfter(2);
    expect(t.session.state).toBe('running');
    await until(() => t.session.state === 'paused', 'paused');
    expect([t.compute.inner()!.step, t.steps]).toEqual([3, [0, 1, 2]]);
  });

  for (const bad of [2.5, -3, Number.NaN]) {
    it(`a pause step of ${bad} is refused (ERR_BAD_PAUSE_STEP) and the worker pauses at once`, async () => {
      const t = await workerSession();
      void t.session.start();
      await until(() => t.steps.length > 0, 'first step');
      t.session.pauseAfter(bad);
      await until(() => t.session.state === 'paused', 'paused');
      expect(t.errors.map((e) => e.code)).toEqual(['ERR_BAD_PAUSE_STEP']);
      expect(t.errors[0]!.message).toContain('-1 for at once');
      const inner = t.compute.inner()!;
      expect(inner.state).toBe('paused');
      // At once: the step in flight when the command arrived completes, and no other.
      await new Promise((r) => setTimeout(r, 5 * STEP_DELAY_MS));
      expect(inner.step).toBeLessThan(CONFIG.steps);
      expect(t.steps).toEqual([...Array(inner.step).keys()]);
    });
  }

  it('resume cancels a pause step the worker has not reached', async () => {
    const t = await workerSession();
    void t.session.start();
    t.session.pauseAfter(4);
    t.session.resume();
    await until(() => t.session.state === 'done', 'done');
    expect([t.session.state, t.steps]).toEqual(['done', [...Array(CONFIG.steps).keys()]]);
  });
});
