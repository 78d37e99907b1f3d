/**
 * The real app trains in its compute worker: the page (mesh, UI) stays free while a CPU-backend run
 * steps, and the losses equal those of the same run computed on the page (`?compute=main`), on the
 * CPU backend and on WebGPU (SwiftShader here). Real page, real worker, dev server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openPage, startDevServer, type DevServer } from '../helpers/browser.ts';

/** A small run (the probe's verdict does not depend on how long a step takes). */
const SETTINGS = 'steps=24&hidden=256,256&queue=256&out=64&knn=0&workers=2&batch=16&seed=5';
const RUN_TIMEOUT_MS = 180_000;

let server: DevServer;
let browser: Browser;

beforeAll(async () => {
  server = await startDevServer();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

interface RunResult {
  losses: number[];
  badge: string;
  workers: string[];
  /** Step events the page received, and how many of them came after the page's own task queue had run. */
  probe: { steps: number; interleaved: number };
  notices: string[];
  /** The page's crossOriginIsolated and navigator.hardwareConcurrency. */
  isolated: boolean;
  cores: number;
}

type ProbeWindow = { __probe: { steps: number; interleaved: number; pending: boolean } };

/**
 * Counts the session's step events on the page and, after each, queues a task (setTimeout 0): when
 * the next step event arrives after that task has run, the page's thread was free between the two
 * steps. A causal order, not a timing, so a loaded machine does not change the verdict: the task is
 * queued long before the next step exists. (When the session computes on the page, its loop goes
 * from one step to the next without yielding, and no such task runs in between.)
 */
function installStepProbe(): void {
  const probe = { steps: 0, interleaved: 0, pending: false };
  (window as unknown as ProbeWindow).__probe = probe;
  const dispatch = EventTarget.prototype.dispatchEvent;
  EventTarget.prototype.dispatchEvent = function (this: EventTarget, ev: Event) {
    const detail = (ev as CustomEvent<{ loss?: unknown } | null>).detail;
    if (ev.type === 'step' && typeof detail?.loss === 'number') {
      if (probe.steps > 0 && !probe.pending) probe.interleaved++;
      probe.steps++;
      probe.pending = true;
      setTimeout(() => (probe.pending = false), 0);
    }
    return dispatch.call(this, ev);
  };
}

/** Opens the app with the settings, trains alone in the room it creates, and reads what ran. */
async function train(opts: { compute: 'worker' | 'main'; cpu: boolean; settings?: string }): Promise<RunResult> {
  const context = await browser.newContext();
  if (opts.cpu) await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
  await context.addInitScript(installStepProbe);
  const page = await openPage(context, `${server.url}/?${opts.settings ?? SETTINGS}${opts.compute === 'main' ? '&compute=main' : ''}`);
  try {
    await expect.poll(() => page.locator('sbn-room-link input').count(), { timeout: 60_000 }).toBe(1);
    await expect.poll(() => badgeOf(page), { timeout: 60_000 }).not.toMatch(/starting/);
    await page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => page.locator('sbn-controls .state').textContent(), { timeout: RUN_TIMEOUT_MS, interval: 500 }).toMatch(/^Done/);
    const exported = await page.evaluate(() => (document.querySelector('sbn-app') as unknown as { controller: { exportRun(f: string): { text: string } | null } }).controller.exportRun('json')!.text);
    const { steps, interleaved } = await page.evaluate(() => (window as unknown as ProbeWindow).__probe);
    return {
      losses: (JSON.parse(exported) as { steps: Array<{ loss: number }> }).steps.map((s) => s.loss),
      badge: await badgeOf(page),
      workers: page.workers().map((w) => w.url()),
      probe: { steps, interleaved },
      notices: await page.locator('sbn-errors li').evaluateAll((els) => els.map((e) => e.getAttribute('data-code')!)),
      isolated: await page.evaluate(() => crossOriginIsolated),
      cores: await page.evaluate(() => navigator.hardwareConcurrency),
    };
  } finally {
    await context.close();
  }
}

async function badgeOf(page: Page): Promise<string> {
  return (await page.locator('sbn-app [data-badge="backend"]').textContent()) ?? '';
}

describe('compute in a worker', () => {
  it('CPU backend: the run steps in the compute worker, the page runs its own tasks between steps, and the losses equal the run computed on the page', async () => {
    const inWorker = await train({ compute: 'worker', cpu: true });
    expect(inWorker.workers.filter((url) => /compute\.worker/.test(url))).toHaveLength(1);
    // The backend was chosen in the worker and reported to the page, notice included. The page is
    // cross-origin isolated (COOP/COEP from the dev server), so the worker runs the wasm kernels on a
    // pool of threads (one per core, at most 4), and the badge says how many.
    expect(inWorker.isolated).toBe(true);
    expect(inWorker.badge).toMatch(/^CPU/);
    expect(inWorker.badge).toContain(`· ${Math.min(inWorker.cores, 4)} thread`);
    expect(inWorker.notices).toContain('ERR_NO_WEBGPU');
    expect(inWorker.losses).toHaveLength(24);
    // The page ran tasks of its own between step events. Computed on the page, this run gives 0 of
    // 23 (its loop never yields between steps); in the worker 15 of 23 were seen on a loaded machine,
    // where the page at times lags the worker and takes two queued steps back to back: so ≥ 1, not 23.
    expect(inWorker.probe.steps).toBe(24);
    expect(inWorker.probe.interleaved).toBeGreaterThanOrEqual(1);

    const onPage = await train({ compute: 'main', cpu: true });
    expect(onPage.workers).toEqual([]);
    expect(onPage.badge).toMatch(/^CPU/);
    // The page's own thread may not block, so there the kernels run one thread, and the split run
    // (every row summed in one-thread order) gives the same losses bit for bit.
    expect(onPage.badge).toContain('1 thread (compute runs on the page, which may not block)');
    expect(inWorker.losses).toEqual(onPage.losses);
  });

  it('WebGPU: available in the worker, and the same losses as on the page', async () => {
    const settings = 'steps=6&hidden=32&queue=64&out=16&knn=0&workers=2&batch=4&seed=2';
    const inWorker = await train({ compute: 'worker', cpu: false, settings });
    expect(inWorker.badge).toMatch(/^WebGPU/);
    expect(inWorker.workers).toHaveLength(1);
    const onPage = await train({ compute: 'main', cpu: false, settings });
    expect(onPage.badge).toBe(inWorker.badge);
    expect(inWorker.losses).toHaveLength(6);
    expect(inWorker.losses).toEqual(onPage.losses);
  });
});
