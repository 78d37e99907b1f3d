/**
 * Mesh benchmark (run inside the test network namespace: `bash scripts/in-netns.sh npx tsx bench/mesh.ts`):
 * headless Chromium tabs on one machine, real WebRTC data channels over loopback. Prints a table; asserts
 * nothing about speed.
 *   - raw data-channel throughput (64 KiB frames on the bulk channel) and ping RTT between two tabs
 *   - allReduce of 1, 4, 16 MiB on 2 and 4 tabs; bus bandwidth = 2(n−1)/n · bytes / time
 *   - one statistics exchange (2 × 512 floats along a permutation): idle, and while an allReduce runs
 * Targets: bus bandwidth ≥ 70% of raw throughput; stats exchange ≤ 2× ping RTT idle, ≤ 3 ms under load.
 */
import type { Browser, Page } from 'playwright-core';
import { cpus, loadavg } from 'node:os';
import { harnessUrl, launchBrowser, openPage, startDevServer } from '../tests/helpers/browser.ts';
import { acceptNoArguments } from '../scripts/lib/cli.ts';

acceptNoArguments(`usage: npm run bench:mesh
  Data-channel throughput and RTT between headless tabs, allReduce bus bandwidth on 2 and 4 tabs, and
  the statistics-exchange latency, idle and under load. Prints a table; asserts nothing.
  BENCH_REPS=N   repetitions per measurement [3]`);

type PageModule = typeof import('../tests/mesh/mesh.page.ts');
const PAGE_MODULE = '/tests/mesh/mesh.page.ts';
const MIB = 1024 * 1024;
const RAW_BYTES = 32 * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 3);

async function call<K extends keyof PageModule>(page: Page, fn: K, ...args: unknown[]): Promise<Awaited<ReturnType<Extract<PageModule[K], (...a: never[]) => unknown>>>> {
  return page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m[${JSON.stringify(fn)}](...${JSON.stringify(args)}))`) as never;
}

/**
 * Loads the page module, reloading once if Vite answers "504 Outdated Optimize Dep" (its dependency
 * cache was refreshed by another dev server on this machine while this page loaded).
 */
async function loadPageModule(page: Page): Promise<void> {
  const load = () => page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then(() => true)`);
  try {
    await load();
  } catch {
    await page.reload();
    await load();
  }
}

async function formMesh(browser: Browser, url: string, tabs: number): Promise<Page[]> {
  const pages = [await openPage(browser, url)];
  await loadPageModule(pages[0]!);
  const { roomId } = await call(pages[0]!, 'join');
  for (let i = 1; i < tabs; i++) {
    const page = await openPage(browser, url);
    await loadPageModule(page);
    await call(page, 'join', roomId);
    pages.push(page);
  }
  await Promise.all(pages.map((p) => call(p, 'waitForSize', tabs, 90_000)));
  return pages;
}

const rows: Array<[string, string]> = [];
const row = (what: string, value: string) => {
  rows.push([what, value]);
  console.log(`${what.padEnd(52)} ${value}`);
};
const max = (xs: number[]) => Math.max(...xs);

const server = await startDevServer();
const browser = await launchBrowser();
try {
  const url = harnessUrl(server);
  let rawMBps = NaN;
  let pingMs = NaN;
  for (const tabs of [2, 4]) {
    const pages = await formMesh(browser, url, tabs);
    if (tabs === 2) {
      pingMs = await call(pages[0]!, 'pingMedian', 50);
      row('ping RTT, stats channel (median of 50)', `${pingMs.toFixed(3)} ms`);
      await call(pages[0]!, 'rawThroughput', 4 * MIB); // warm-up
      rawMBps = await call(pages[0]!, 'rawThroughput', RAW_BYTES);
      row(`raw throughput, one bulk channel (${RAW_BYTES / MIB} MiB)`, `${rawMBps.toFixed(1)} MB/s`);
      // A ring sends and receives at once on every tab: the same measurement in both directions together.
      const duplex = await Promise.all(pages.map((p) => call(p, 'rawThroughput', RAW_BYTES)));
      row('raw throughput, both directions at once (per direction)', `${Math.min(...duplex).toFixed(1)} MB/s`);
      const idle = max(await Promise.all(pages.map((p) => call(p, 'statsIdleMs', 30))));
      row('stats exchange 2×512 floats, idle (median, slowest tab)', `${idle.toFixed(3)} ms  (${(idle / pingMs).toFixed(2)}× ping; target ≤ 2×)`);
    }
    for (const mib of [1, 4, 16]) {
      const ms = max(await Promise.all(pages.map((p) => call(p, 'allReduceMs', mib * MIB, REPS))));
      const busMBps = ((2 * (tabs - 1)) / tabs) * (mib * MIB) / (ms / 1000) / 1e6;
      row(`allReduce ${mib} MiB, ${tabs} tabs (median of ${REPS})`, `${ms.toFixed(1)} ms  bus ${busMBps.toFixed(1)} MB/s = ${((100 * busMBps) / rawMBps).toFixed(0)}% of raw`);
    }
    const loaded = await Promise.all(pages.map((p) => call(p, 'statsUnderLoadMs', 16 * MIB, 40)));
    const worst = max(loaded.map((l) => l.medianMs));
    row(`stats exchange during a 16 MiB allReduce, ${tabs} tabs`, `${worst.toFixed(3)} ms median (slowest tab; ${Math.min(...loaded.map((l) => l.during))}+ samples/tab; target ≤ 3 ms)`);
    for (const p of pages) {
      await call(p, 'leave');
      await p.close();
    }
  }
  // Figures depend on what else runs: print the machine's load next to them.
  row('machine', `${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min)`);
  console.log('\n| measurement | value |\n|---|---|');
  for (const [what, value] of rows) console.log(`| ${what} | ${value} |`);
} finally {
  await browser.close();
  await server.close();
}
