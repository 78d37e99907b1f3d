/**
 * Mesh benchmark (run inside the test network namespace: `npm run bench:mesh`): headless Chromium tabs
 * on one machine, real WebRTC data channels over loopback. Prints a table; asserts nothing about speed.
 * Our bulk flow control runs with the fixed window (32/16 KiB) and the adaptive one (send-window.ts)
 * on the same links, switched in turns (fixed, adaptive, adaptive, fixed, …) so the machine's load
 * weighs on both alike:
 *   - the ceiling: plain RTCDataChannels between the same two tabs (bench/lib/plain-channel.page.ts),
 *     the best of several message sizes, taken in the same turns as our raw rate
 *   - our raw throughput (padding frames on the bulk channel: all our framing and flow control)
 *   - allReduce of 1, 4, 16 MiB on 2 and 4 tabs; bus bandwidth = 2(n−1)/n · bytes / time
 *   - one statistics exchange (2 × 512 floats along a permutation): idle, and while a 16 MiB allReduce
 *     runs, with where its time can go (a stats ping beside plain bulk and beside ours, the page's
 *     longest main-thread turns)
 * Targets: raw ≥ 90% of the ceiling; allReduce bus bandwidth ≥ 70% of raw on 2 and 4 tabs; stats
 * exchange ≤ 3 ms during a 16 MiB allReduce on 2 tabs.
 */
import type { Browser, Page } from 'playwright-core';
import { cpus, loadavg } from 'node:os';
import { harnessUrl, launchBrowser, loadPageModule, openPage, startDevServer } from '../tests/helpers/browser.ts';
import { acceptNoArguments } from '../scripts/lib/cli.ts';
import type { SendWindowOption } from '../src/mesh/send-window.ts';
import { compareBulkPlacement } from './lib/bulk-ab.ts';

acceptNoArguments(`usage: npm run bench:mesh
  Data-channel throughput against the plain-channel ceiling, allReduce bus bandwidth on 2 and 4 tabs,
  and the statistics-exchange latency idle and under load, each with the fixed and the adaptive bulk
  window in turns. Prints a table and the target ratios; asserts nothing.
  BENCH_REPS=N        turns per window and measurement [3]
  BENCH_CHUNK_KIB=N   bulk frame payload, KiB [the mesh's default, 16]
  BENCH_FIXED_KIB=N   the fixed window's high mark, KiB (it resumes at half) [32]
  BENCH_SPLIT=1       statistics on a peer connection of their own (split links) [one connection]
  BENCH_BULK_WORKER=1 bulk channels in each page's bulk worker (src/mesh/bulk-worker/); 0: on the
                      page's main thread; ab: only the comparison of the two on 2 tabs, both
                      windows, in turns (bench/lib/bulk-ab.ts) [the mesh's default]`);

type PageModule = typeof import('../tests/mesh/mesh.page.ts');
type PlainModule = typeof import('./lib/plain-channel.page.ts');
const PAGE_MODULE = '/tests/mesh/mesh.page.ts';
const PLAIN_MODULE = '/bench/lib/plain-channel.page.ts';
const KIB = 1024;
const MIB = 1024 * KIB;
const RAW_BYTES = 16 * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 3);
/** Bulk frame payload for every tab (undefined: the mesh's default). */
const CHUNK_BYTES = process.env.BENCH_CHUNK_KIB ? Number(process.env.BENCH_CHUNK_KIB) * 1024 : undefined;
/** Plain-channel message sizes tried for the ceiling (the best one is the ceiling). */
const PLAIN_MESSAGE_SIZES = [16 * KIB, 32 * KIB, 64 * KIB, 256 * KIB];
/** Plain sender pauses above this many buffered bytes (resumes at a quarter of it). */
const PLAIN_HIGH_BYTES = 1 * MIB;
const PLAIN_PROBE_BYTES = 16 * MIB;
/** The all-reduce size the targets name. */
const LOAD_BYTES = 16 * MIB;
const FIXED_KIB = process.env.BENCH_FIXED_KIB ? Number(process.env.BENCH_FIXED_KIB) : undefined;
const WINDOWS: Record<'fixed' | 'adaptive', SendWindowOption> = {
  fixed: FIXED_KIB ? { mode: 'fixed', highBytes: FIXED_KIB * 1024, lowBytes: (FIXED_KIB * 1024) / 2 } : { mode: 'fixed' },
  adaptive: { mode: 'adaptive' },
};
/** Every tab's links carry statistics on a peer connection of their own (src/mesh/split-link.ts). */
const SPLIT = process.env.BENCH_SPLIT === '1';
/** Where bulk channels run: true in the bulk worker, false on the page, undefined: the mesh's default. */
const BULK_WORKER = process.env.BENCH_BULK_WORKER === undefined ? undefined : process.env.BENCH_BULK_WORKER === '1';
const BULK_AB = process.env.BENCH_BULK_WORKER === 'ab';
type Variant = keyof typeof WINDOWS;
const VARIANTS: readonly Variant[] = ['fixed', 'adaptive'];

async function call<K extends keyof PageModule>(page: Page, fn: K, ...args: unknown[]): Promise<Awaited<ReturnType<Extract<PageModule[K], (...a: never[]) => unknown>>>> {
  return page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m[${JSON.stringify(fn)}](...${JSON.stringify(args)}))`) as never;
}
async function plain<K extends keyof PlainModule>(page: Page, fn: K, ...args: unknown[]): Promise<Awaited<ReturnType<Extract<PlainModule[K], (...a: never[]) => unknown>>>> {
  return page.evaluate(`import(${JSON.stringify(PLAIN_MODULE)}).then((m) => m[${JSON.stringify(fn)}](...${JSON.stringify(args)}))`) as never;
}

/** Connects plain channels between two tabs; the SDP goes through this script (no signaling server). */
async function connectPlain(a: Page, b: Page, separate = false): Promise<void> {
  const offer = await plain(a, 'plainOffer', separate);
  const answer = await plain(b, 'plainAnswer', offer);
  await plain(a, 'plainAccept', answer);
  await Promise.all([plain(a, 'plainWaitOpen'), plain(b, 'plainWaitOpen')]);
}

async function formMesh(browser: Browser, url: string, tabs: number, bulkWorker = BULK_WORKER): Promise<Page[]> {
  const pages = [await openPage(browser, url)];
  await loadPageModule(pages[0]!, PAGE_MODULE);
  const { roomId } = await call(pages[0]!, 'join', undefined, CHUNK_BYTES, undefined, SPLIT, bulkWorker);
  for (let i = 1; i < tabs; i++) {
    const page = await openPage(browser, url);
    await loadPageModule(page, PAGE_MODULE);
    await call(page, 'join', roomId, CHUNK_BYTES, undefined, SPLIT, bulkWorker);
    pages.push(page);
  }
  await Promise.all(pages.map((p) => call(p, 'waitForSize', tabs, 90_000)));
  return pages;
}

const rows: Array<[string, string]> = [];
const row = (what: string, value: string) => {
  rows.push([what, value]);
  console.log(`${what.padEnd(64)} ${value}`);
};
const max = (xs: number[]) => Math.max(...xs);
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
const pct = (ratio: number) => `${(100 * ratio).toFixed(0)}%`;
const load = () => loadavg()[0]!.toFixed(1);

/**
 * Every tab's links switch to `variant`'s window; a fresh adaptive window learns its base round trip
 * in a 1 MiB allReduce before anything is measured (in training it keeps learning from step to step).
 */
async function use(pages: Page[], variant: Variant): Promise<void> {
  await Promise.all(pages.map((p) => call(p, 'setSendWindow', WINDOWS[variant])));
  await Promise.all(pages.map((p) => call(p, 'allReduceMs', MIB, 1, null, false)));
}

/** `measure` REPS times per window, in turns (fixed, adaptive, adaptive, fixed, …); per-window samples. */
async function inTurns(pages: Page[], measure: (variant: Variant) => Promise<number>): Promise<Record<Variant, number[]>> {
  const out: Record<Variant, number[]> = { fixed: [], adaptive: [] };
  for (let i = 0; i < REPS; i++) {
    for (const variant of i % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
      await use(pages, variant);
      out[variant].push(await measure(variant));
    }
  }
  return out;
}

/** The windows the links reached (bytes), smallest and largest over all tabs. */
async function windowsReached(pages: Page[]): Promise<string> {
  const all = (await Promise.all(pages.map((p) => call(p, 'sendWindows')))).flat();
  return `${(Math.min(...all) / KIB).toFixed(0)}-${(Math.max(...all) / KIB).toFixed(0)} KiB`;
}

const busMBps = (tabs: number, bytes: number, ms: number) => (((2 * (tabs - 1)) / tabs) * bytes) / (ms / 1000) / 1e6;

const server = await startDevServer();
const browser = await launchBrowser();
try {
  const url = harnessUrl(server);
  const raw = { fixed: NaN, adaptive: NaN } as Record<Variant, number>;
  let ceilingMBps = NaN;
  const targets: string[] = [];
  if (BULK_AB) {
    targets.push(
      ...(await compareBulkPlacement(browser, {
        call,
        plain,
        formPair: async (b, bulkWorker) => (await formMesh(b, url, 2, bulkWorker)) as [Page, Page],
        connectPlain: (a, b, separate) => connectPlain(a, b, separate),
        windows: WINDOWS,
        reps: REPS,
        rawBytes: RAW_BYTES,
        loadBytes: LOAD_BYTES,
        plainMessageBytes: 16 * KIB, // the best size in every run so far (bench:mesh probes all of them)
        plainHighBytes: PLAIN_HIGH_BYTES,
        row,
      })),
    );
  }
  for (const tabs of BULK_AB ? [] : [2, 4]) {
    const pages = await formMesh(browser, url, tabs);
    if (tabs === 2) {
      const status = await call(pages[0]!, 'bulkStatus');
      row('bulk channels', status.inWorker > 0 ? `in the bulk worker (${status.inWorker} per tab)` : `on the page's main thread${status.fallbackReason ? ` (${status.fallbackReason})` : ''}`);
      const [a, b] = pages as [Page, Page];
      const pingMs = await call(a, 'pingMedian', 50);
      row('ping RTT, stats channel (median of 50)', `${pingMs.toFixed(3)} ms`);
      await connectPlain(a, b);
      await plain(a, 'plainThroughput', 4 * MIB, 32 * KIB, PLAIN_HIGH_BYTES); // warm-up
      let best = { size: 0, MBps: 0 };
      for (const size of PLAIN_MESSAGE_SIZES) {
        const MBps = await plain(a, 'plainThroughput', PLAIN_PROBE_BYTES, size, PLAIN_HIGH_BYTES);
        row(`plain channel, ${size / KIB} KiB messages (${PLAIN_PROBE_BYTES / MIB} MiB)`, `${MBps.toFixed(1)} MB/s`);
        if (MBps > best.MBps) best = { size, MBps };
      }
      await call(a, 'rawThroughput', 4 * MIB); // warm-up
      // Each turn: our raw rate with one window, then the ceiling, so all three share the load's swings.
      const ceiling: number[] = [];
      const ours = await inTurns(pages, async () => {
        const MBps = await call(a, 'rawThroughput', RAW_BYTES);
        ceiling.push(await plain(a, 'plainThroughput', RAW_BYTES, best.size, PLAIN_HIGH_BYTES));
        return MBps;
      });
      ceilingMBps = median(ceiling);
      row(`ceiling: plain channel, ${best.size / KIB} KiB messages (${RAW_BYTES / MIB} MiB, median of ${ceiling.length})`, `${ceilingMBps.toFixed(1)} MB/s  (load ${load()})`);
      for (const variant of VARIANTS) {
        raw[variant] = median(ours[variant]);
        row(`raw throughput, ${variant} window (${RAW_BYTES / MIB} MiB, median of ${REPS})`, `${raw[variant].toFixed(1)} MB/s = ${pct(raw[variant] / ceilingMBps)} of the ceiling (target ≥ 90%)`);
        targets.push(`raw / ceiling, ${variant}: ${pct(raw[variant] / ceilingMBps)} (≥ 90%)`);
      }
      row('raw throughput, adaptive / fixed', `${(raw.adaptive / raw.fixed).toFixed(2)}×  (window reached ${await windowsReached(pages)})`);
      // A ring sends and receives at once on every tab: the same measurements in both directions together.
      const plainDuplex = await Promise.all([a, b].map((p) => plain(p, 'plainThroughput', RAW_BYTES, best.size, PLAIN_HIGH_BYTES)));
      row('ceiling, both directions at once (per direction)', `${Math.min(...plainDuplex).toFixed(1)} MB/s`);
      const plainStats = await plain(a, 'plainPingDuringBulk', PLAIN_PROBE_BYTES, best.size, PLAIN_HIGH_BYTES);
      row('stats ping beside plain bulk (SCTP alone)', `${plainStats.medianMs.toFixed(3)} ms median (${plainStats.samples} samples)`);
      // The same with statistics on a second RTCPeerConnection: does a stats message still wait behind
      // bulk when the two no longer share an SCTP association (only the pages and the machine)?
      await Promise.all([a, b].map((p) => plain(p, 'plainClose')));
      await connectPlain(a, b, true);
      const apart = await plain(a, 'plainPingDuringBulk', PLAIN_PROBE_BYTES, best.size, PLAIN_HIGH_BYTES);
      row('stats ping beside plain bulk, stats on its own connection', `${apart.medianMs.toFixed(3)} ms median (${apart.samples} samples)`);
      const apartMBps = await plain(a, 'plainThroughput', RAW_BYTES, best.size, PLAIN_HIGH_BYTES);
      row('plain bulk, stats on its own connection', `${apartMBps.toFixed(1)} MB/s`);
      await Promise.all([a, b].map((p) => plain(p, 'plainClose')));
      for (const variant of VARIANTS) {
        await use(pages, variant);
        const duplex = await Promise.all(pages.map((p) => call(p, 'rawThroughput', RAW_BYTES)));
        row(`raw, both directions at once (per direction), ${variant}`, `${Math.min(...duplex).toFixed(1)} MB/s = ${pct(Math.min(...duplex) / Math.min(...plainDuplex))} of the ceiling`);
        const ourStats = await call(a, 'pingDuringPaddingMs', PLAIN_PROBE_BYTES);
        row(`stats ping beside our bulk (SCTP + our queues), ${variant}`, `${ourStats.medianMs.toFixed(3)} ms median (${ourStats.samples} samples)`);
      }
      const idle = await inTurns(pages, async () => max(await Promise.all(pages.map((p) => call(p, 'statsIdleMs', 20)))));
      for (const variant of VARIANTS) {
        const ms = median(idle[variant]);
        row(`stats exchange 2×512 floats, idle, ${variant} (slowest tab)`, `${ms.toFixed(3)} ms  (${(ms / pingMs).toFixed(2)}× ping)`);
      }
    }
    for (const mib of [1, 4, 16]) {
      await Promise.all(pages.map((p) => call(p, 'allReduceMs', mib * MIB, 1))); // warm-up
      const ms = await inTurns(pages, async () => max(await Promise.all(pages.map((p) => call(p, 'allReduceMs', mib * MIB, 1, undefined, false)))));
      for (const variant of VARIANTS) {
        const bus = busMBps(tabs, mib * MIB, median(ms[variant]));
        row(`allReduce ${mib} MiB, ${tabs} tabs, ${variant} (median of ${REPS})`, `${median(ms[variant]).toFixed(1)} ms  bus ${bus.toFixed(1)} MB/s = ${pct(bus / raw[variant])} of raw`);
        if (mib * MIB === LOAD_BYTES) targets.push(`allReduce ${mib} MiB / raw, ${tabs} tabs, ${variant}: ${pct(bus / raw[variant])} (≥ 70%)`);
      }
      if (mib * MIB === LOAD_BYTES && tabs > 2) {
        // n tabs on 2 cores share one CPU budget: what all of them send per second together, against
        // what one tab sends one way alone. A ring sends 2(n−1)/n of the tensor per tab.
        for (const variant of VARIANTS) {
          const totalMBps = tabs * busMBps(tabs, mib * MIB, median(ms[variant]));
          row(`allReduce ${mib} MiB, ${tabs} tabs, ${variant}: all tabs together send`, `${totalMBps.toFixed(1)} MB/s = ${(totalMBps / raw[variant]).toFixed(2)}× the 2-tab raw one-way rate`);
        }
      }
      if (mib * MIB === LOAD_BYTES) {
        row(`allReduce ${mib} MiB, ${tabs} tabs, adaptive / fixed bus bandwidth`, `${(median(ms.fixed) / median(ms.adaptive)).toFixed(2)}×  (window reached ${await windowsReached(pages)}, load ${load()})`);
      }
    }
    if (tabs > 2) {
      // Validated like gradients, through segment owners (the default from 3 tabs on).
      await use(pages, 'adaptive');
      const ms = max(await Promise.all(pages.map((p) => call(p, 'allReduceMs', 4 * MIB, REPS, 1e6))));
      const bus = busMBps(tabs, 4 * MIB, ms);
      row(`validated allReduce 4 MiB, ${tabs} tabs, adaptive (median of ${REPS})`, `${ms.toFixed(1)} ms  bus ${bus.toFixed(1)} MB/s = ${pct(bus / raw.adaptive)} of raw`);
    }
    await use(pages, 'adaptive');
    const gaps = await Promise.all(pages.map((p) => call(p, 'mainThreadGapsDuringAllReduce', LOAD_BYTES)));
    const worstGaps = gaps.reduce((w, g) => (g.p95Ms > w.p95Ms ? g : w));
    row(`main-thread turns during a 16 MiB allReduce, ${tabs} tabs, adaptive`, `median ${worstGaps.medianMs.toFixed(2)} ms, p95 ${worstGaps.p95Ms.toFixed(2)} ms, max ${worstGaps.maxMs.toFixed(1)} ms (busiest tab)`);
    // The slowest tab's median exchange while the all-reduce ran, one figure per turn.
    const loaded = await inTurns(pages, async () => max((await Promise.all(pages.map((p) => call(p, 'statsUnderLoadMs', LOAD_BYTES, 40)))).map((l) => l.medianMs)));
    for (const variant of VARIANTS) {
      const ms = median(loaded[variant]);
      row(`stats exchange during a 16 MiB allReduce, ${tabs} tabs, ${variant}`, `${ms.toFixed(3)} ms  (median of ${REPS} turns, slowest tab; target ≤ 3 ms)`);
      if (tabs === 2) targets.push(`stats during a 16 MiB allReduce, 2 tabs, ${variant}: ${ms.toFixed(2)} ms (≤ 3 ms)`);
    }
    row(`stats exchange under load, ${tabs} tabs, adaptive / fixed`, `${(median(loaded.adaptive) / median(loaded.fixed)).toFixed(2)}×  (load ${load()})`);
    for (const p of pages) {
      await call(p, 'leave');
      await p.close();
    }
  }
  // Figures depend on what else runs: print the machine's load next to them.
  row('machine', `${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min)`);
  row('links', `${SPLIT ? 'statistics on a connection of their own (split)' : 'one connection per pair'}; fixed window ${FIXED_KIB ?? 32} KiB; frames ${CHUNK_BYTES ? CHUNK_BYTES / KIB : 16} KiB; bulk ${BULK_AB ? 'on the main thread against the bulk worker' : BULK_WORKER === undefined ? 'default' : BULK_WORKER ? 'in the bulk worker' : 'on the main thread'}`);
  console.log('\n| measurement | value |\n|---|---|');
  for (const [what, value] of rows) console.log(`| ${what} | ${value} |`);
  console.log('\nTargets (ratios from this run):');
  for (const line of targets) console.log(`  ${line}`);
} finally {
  await browser.close();
  await server.close();
}
