/**
 * The page's longest task while it trains: opens the real app in headless Chromium, trains N steps
 * alone in a room on each backend (WebGPU, here SwiftShader; and the CPU backend, i.e. wasm, by
 * hiding WebGPU from the page), once with compute in the compute worker (the app as shipped) and once
 * on the page (`?compute=main`), and prints the longest main-thread task seen by a
 * PerformanceObserver('longtask') from Start to the last step. Asserts nothing.
 *
 *   npm run bench:longtask         (BENCH_STEPS=10 BENCH_BACKENDS=webgpu,cpu to change)
 */
import type { Browser } from 'playwright-core';
import { launchBrowser, openPage, startDevServer, type DevServer } from '../scripts/lib/browser.ts';
import { acceptNoArguments } from '../scripts/lib/cli.ts';

acceptNoArguments(`usage: npm run bench:longtask
  The page's longest task (PerformanceObserver 'longtask') while the app trains, with compute in the
  compute worker and on the page (?compute=main), on WebGPU and on the CPU backend. Prints a table;
  asserts nothing.
  BENCH_STEPS=N            steps per run                         [10]
  BENCH_BACKENDS=webgpu,cpu
  BENCH_SETTINGS=...       extra link settings (e.g. hidden=256,256)  [the app's default model]`);

const STEPS = Number(process.env.BENCH_STEPS ?? 10);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'webgpu,cpu').split(',') as Array<'webgpu' | 'cpu'>;
const EXTRA = process.env.BENCH_SETTINGS ? `&${process.env.BENCH_SETTINGS}` : '';
/** A run on the page's thread blocks the page for the whole run; allow for a slow, loaded machine. */
const RUN_TIMEOUT_MS = 30 * 60_000;

interface Row {
  backend: string;
  compute: 'worker' | 'page';
  longestMs: number;
  count: number;
  totalMs: number;
  runS: number;
  steps: number;
}

type LongTaskWindow = { __longTasks: Array<{ start: number; duration: number }> };

/** The page sees no WebGPU: the app trains on the CPU backend (wasm), in the worker too. */
const HIDE_WEBGPU = `Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });`;
/** Every long task (> 50 ms) of the page's main thread, from the start. */
const OBSERVE_LONG_TASKS = `{
  const tasks = [];
  window.__longTasks = tasks;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) tasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
}`;

async function measure(browser: Browser, server: DevServer, backend: 'webgpu' | 'cpu', compute: 'worker' | 'page'): Promise<Row> {
  const context = await browser.newContext();
  try {
    // Init scripts as strings: tsx would wrap functions in a helper the page does not have.
    if (backend === 'cpu') await context.addInitScript(HIDE_WEBGPU);
    await context.addInitScript(OBSERVE_LONG_TASKS);
    const page = await openPage(context, `${server.url}/?steps=${STEPS}&knn=0${EXTRA}${compute === 'page' ? '&compute=main' : ''}`);
    page.setDefaultTimeout(RUN_TIMEOUT_MS);
    const badge = page.locator('sbn-app [data-badge="backend"]');
    for (const started = Date.now(); /starting|^$/.test((await badge.textContent()) ?? ''); ) {
      if (Date.now() - started > 120_000) throw new Error('the backend did not start');
      await page.waitForTimeout(250);
    }
    const label = ((await badge.textContent()) ?? '').trim();
    await page.locator('sbn-room-link input').waitFor();
    const t0 = await page.evaluate(() => performance.now());
    const wall = Date.now();
    await page.getByRole('button', { name: 'Start' }).click();
    await page.locator('sbn-controls .state', { hasText: /^Done/ }).waitFor({ timeout: RUN_TIMEOUT_MS });
    const runS = (Date.now() - wall) / 1000;
    const t1 = await page.evaluate(() => performance.now());
    // Long tasks reported up to now that overlap the run (the observer reports a task once it ends).
    await page.waitForTimeout(200);
    const tasks = (await page.evaluate(() => (window as unknown as LongTaskWindow).__longTasks)).filter((t) => t.start + t.duration >= t0 && t.start <= t1);
    const steps = Number((await page.locator('sbn-controls .state').textContent())?.match(/(\d+) steps/)?.[1] ?? NaN);
    return {
      backend: label,
      compute,
      longestMs: tasks.reduce((m, t) => Math.max(m, t.duration), 0),
      count: tasks.length,
      totalMs: tasks.reduce((s, t) => s + t.duration, 0),
      runS,
      steps,
    };
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  console.log(`bench:longtask — the app's default model, ${STEPS} steps alone in a room${EXTRA ? ` (${EXTRA.slice(1)})` : ''}`);
  const server = await startDevServer();
  const browser = await launchBrowser();
  const rows: Row[] = [];
  try {
    for (const backend of BACKENDS) {
      for (const compute of ['worker', 'page'] as const) {
        rows.push(await measure(browser, server, backend, compute));
        console.log(`  measured ${backend}, compute on the ${compute}`);
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
  console.log('\n| backend | compute | longest task ms | long tasks | long-task ms in all | run s | steps |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.backend} | ${r.compute} | ${r.longestMs.toFixed(0)} | ${r.count} | ${r.totalMs.toFixed(0)} | ${r.runS.toFixed(1)} | ${r.steps} |`);
  for (const backend of new Set(rows.map((r) => r.backend))) {
    const [w, p] = (['worker', 'page'] as const).map((c) => rows.find((r) => r.backend === backend && r.compute === c));
    if (w && p && w.longestMs > 0) console.log(`${backend}: longest task on the page ${(p.longestMs / w.longestMs).toFixed(1)}× shorter with compute in the worker`);
    else if (w && p) console.log(`${backend}: no long task (> 50 ms) on the page with compute in the worker; ${p.longestMs.toFixed(0)} ms with compute on the page`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
