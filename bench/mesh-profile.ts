/**
 * Where the receiving page's main thread spends a bulk transfer (run inside the test network namespace:
 * `bash scripts/in-netns.sh npx tsx bench/mesh-profile.ts`). Two tabs with split links and a fixed
 * window (BENCH_FIXED_KIB, default 1024); tab A sends BENCH_PROFILE_MIB of padding frames (or an
 * allReduce with BENCH_PROFILE_ALLREDUCE=1) while the CDP profiler samples tab B. Prints self time by
 * function (top 25) and per bulk frame received. BENCH_BULK_WORKER=1: bulk channels in the bulk worker
 * (then the profile is the page's main thread only, not the worker's).
 */
import { harnessUrl, launchBrowser, openPage, startDevServer } from '../tests/helpers/browser.ts';
import type { Page } from 'playwright-core';
import { acceptNoArguments } from '../scripts/lib/cli.ts';

acceptNoArguments(`usage: bash scripts/in-netns.sh npx tsx bench/mesh-profile.ts
  CDP profile of the receiving tab's main thread during a bulk transfer between two split-link tabs;
  prints self time by function, total and per 16 KiB bulk frame. Asserts nothing.
  BENCH_FIXED_KIB=N           fixed bulk window, KiB (it resumes at half) [1024]
  BENCH_PROFILE_MIB=N         padding sent while profiling, MiB [64]
  BENCH_PROFILE_ALLREDUCE=1   profile an allReduce of that size on both tabs instead
  BENCH_BULK_WORKER=1         bulk channels in the bulk worker [on the page]`);

const PAGE_MODULE = '/tests/mesh/mesh.page.ts';
const MIB = 1024 * 1024;
const FIXED_KIB = Number(process.env.BENCH_FIXED_KIB ?? 1024);
const BYTES = Number(process.env.BENCH_PROFILE_MIB ?? 64) * MIB;
const ALLREDUCE = process.env.BENCH_PROFILE_ALLREDUCE === '1';
const BULK_WORKER = process.env.BENCH_BULK_WORKER === '1';

const call = (page: Page, fn: string, ...args: unknown[]) =>
  page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m[${JSON.stringify(fn)}](...${JSON.stringify(args)}))`) as Promise<unknown>;

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const server = await startDevServer();
const browser = await launchBrowser();
try {
  const url = harnessUrl(server);
  const a = await openPage(browser, url);
  await call(a, 'noop').catch(() => {});
  const { roomId } = (await call(a, 'join', undefined, undefined, { mode: 'fixed', highBytes: FIXED_KIB * 1024, lowBytes: (FIXED_KIB * 1024) / 2 }, true, BULK_WORKER)) as { roomId: string };
  const b = await openPage(browser, url);
  await call(b, 'join', roomId, undefined, { mode: 'fixed', highBytes: FIXED_KIB * 1024, lowBytes: (FIXED_KIB * 1024) / 2 }, true, BULK_WORKER);
  await Promise.all([a, b].map((p) => call(p, 'waitForSize', 2, 90_000)));
  await call(a, 'rawThroughput', 4 * MIB);
  const cdp = await b.context().newCDPSession(b);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  const t0 = Date.now();
  if (ALLREDUCE) await Promise.all([a, b].map((p) => call(p, 'allReduceMs', BYTES, 1, null, false)));
  else console.log(`raw ${(await call(a, 'rawThroughput', BYTES) as number).toFixed(1)} MB/s`);
  const wallMs = Date.now() - t0;
  const { profile } = (await cdp.send('Profiler.stop')) as unknown as { profile: Profile };
  const self = new Map<string, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)!;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const f = node.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(src|tests|node_modules)\//, '$1/').replace(/\?.*$/, '')}:${f.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + dt / 1000);
    total += dt / 1000;
  }
  const frames = BYTES / (16 * 1024);
  console.log(`profiled ${total.toFixed(0)} ms of ${wallMs} ms wall; ~${frames} bulk frames; per frame: ${((1000 * total) / frames).toFixed(1)} µs sampled`);
  for (const [name, ms] of [...self].sort((p, q) => q[1] - p[1]).slice(0, 25)) {
    console.log(`${ms.toFixed(1).padStart(8)} ms ${((1000 * ms) / frames).toFixed(1).padStart(7)} µs/frame  ${name}`);
  }
} finally {
  await browser.close();
  await server.close();
}
