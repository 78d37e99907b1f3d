/**
 * bench:mesh with BENCH_BULK_WORKER=ab: bulk on the page's main thread against bulk in the bulk worker
 * (src/mesh/bulk-worker/), in one run. Two pairs of tabs, one per placement, each in a room of its
 * own; every turn measures each (placement, window) variant once, in an order that alternates, with
 * the plain-channel ceiling taken in the same turn, so the machine's load weighs on all alike.
 */
import type { Browser, Page } from 'playwright-core';
import { loadavg } from 'node:os';
import type { SendWindowOption } from '../../src/mesh/send-window.ts';

type PageModule = typeof import('../../tests/mesh/mesh.page.ts');
type PlainModule = typeof import('./plain-channel.page.ts');
type Call = <K extends keyof PageModule>(page: Page, fn: K, ...args: unknown[]) => Promise<Awaited<ReturnType<Extract<PageModule[K], (...a: never[]) => unknown>>>>;
type Plain = <K extends keyof PlainModule>(page: Page, fn: K, ...args: unknown[]) => Promise<Awaited<ReturnType<Extract<PlainModule[K], (...a: never[]) => unknown>>>>;

export interface AbSetup {
  call: Call;
  plain: Plain;
  /** Opens a pair of tabs in a new room, bulk in the worker or not; resolves once they are linked. */
  formPair(browser: Browser, bulkWorker: boolean): Promise<[Page, Page]>;
  connectPlain(a: Page, b: Page, separate: boolean): Promise<void>;
  windows: Record<'fixed' | 'adaptive', SendWindowOption>;
  reps: number;
  rawBytes: number;
  loadBytes: number;
  plainMessageBytes: number;
  plainHighBytes: number;
  row(what: string, value: string): void;
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
const pct = (ratio: number) => `${(100 * ratio).toFixed(0)}%`;

/** Runs the comparison; returns the target lines (ratios from this run). */
export async function compareBulkPlacement(browser: Browser, s: AbSetup): Promise<string[]> {
  const pairs = { main: await s.formPair(browser, false), worker: await s.formPair(browser, true) };
  for (const [placement, pages] of Object.entries(pairs)) {
    const status = await s.call(pages[0], 'bulkStatus');
    s.row(`${placement}: bulk channels`, status.inWorker > 0 ? `in the bulk worker (${status.inWorker})` : `on the main thread${status.fallbackReason ? ` (${status.fallbackReason})` : ''}`);
  }
  // Plain channels with stats on a connection of their own, like split links: the ceiling, and how
  // long a stats ping waits beside plain bulk (no code of ours) with the fixed window's bytes buffered.
  await s.connectPlain(pairs.main[0], pairs.main[1], true);
  const fixedHigh = (s.windows.fixed as { highBytes?: number }).highBytes ?? 32 * 1024;
  const plainPing: number[] = [];
  const variants = (['main', 'worker'] as const).flatMap((placement) => (['fixed', 'adaptive'] as const).map((window) => ({ placement, window, name: `${placement}, ${window}` })));
  const figures = new Map(variants.map((v) => [v.name, { raw: [] as number[], stats: [] as number[], reduceMs: [] as number[] }]));
  const ceiling: number[] = [];
  const loads: number[] = [];
  for (let turn = 0; turn < s.reps; turn++) {
    const order = turn % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const pages = pairs[v.placement];
      await Promise.all(pages.map((p) => s.call(p, 'setSendWindow', s.windows[v.window])));
      await Promise.all(pages.map((p) => s.call(p, 'allReduceMs', 1024 * 1024, 1, null, false))); // a fresh window learns its base
      const f = figures.get(v.name)!;
      f.raw.push(await s.call(pages[0], 'rawThroughput', s.rawBytes));
      f.reduceMs.push(Math.max(...(await Promise.all(pages.map((p) => s.call(p, 'allReduceMs', s.loadBytes, 1, null, false))))));
      f.stats.push(Math.max(...(await Promise.all(pages.map((p) => s.call(p, 'statsUnderLoadMs', s.loadBytes, 40)))).map((l) => l.medianMs)));
    }
    ceiling.push(await s.plain(pairs.main[0], 'plainThroughput', s.rawBytes, s.plainMessageBytes, s.plainHighBytes));
    plainPing.push((await s.plain(pairs.main[0], 'plainPingDuringBulk', s.rawBytes, s.plainMessageBytes, fixedHigh)).medianMs);
    loads.push(loadavg()[0]!);
  }
  const ceilingMBps = median(ceiling);
  s.row(`A/B ceiling: plain channel (median of ${ceiling.length})`, `${ceilingMBps.toFixed(1)} MB/s (load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)})`);
  s.row(`A/B stats ping beside plain bulk, ${fixedHigh / 1024} KiB buffered, own connection`, `${median(plainPing).toFixed(2)} ms (median of ${plainPing.length} turns; the transport's own wait at this load)`);
  const targets: string[] = [];
  const bus = (ms: number) => s.loadBytes / (ms / 1000) / 1e6; // 2 tabs: 2(n−1)/n = 1
  for (const v of variants) {
    const f = figures.get(v.name)!;
    const raw = median(f.raw);
    const reduce = bus(median(f.reduceMs));
    const stats = median(f.stats);
    s.row(`A/B ${v.name}: raw`, `${raw.toFixed(1)} MB/s = ${pct(raw / ceilingMBps)} of the ceiling`);
    s.row(`A/B ${v.name}: allReduce ${s.loadBytes / 2 ** 20} MiB, 2 tabs`, `${median(f.reduceMs).toFixed(0)} ms, bus ${reduce.toFixed(1)} MB/s = ${pct(reduce / raw)} of raw`);
    s.row(`A/B ${v.name}: stats exchange during it`, `${stats.toFixed(2)} ms (median of ${f.stats.length} turns, slowest tab)`);
    targets.push(`${v.name}: raw/ceiling ${pct(raw / ceilingMBps)} (≥ 90%), allReduce/raw ${pct(reduce / raw)} (≥ 70%), stats under load ${stats.toFixed(2)} ms (≤ 3 ms)`);
  }
  for (const window of ['fixed', 'adaptive'] as const) {
    const w = figures.get(`worker, ${window}`)!;
    const m = figures.get(`main, ${window}`)!;
    s.row(`A/B worker / main, ${window}`, `raw ${(median(w.raw) / median(m.raw)).toFixed(2)}×, allReduce time ${(median(w.reduceMs) / median(m.reduceMs)).toFixed(2)}×, stats under load ${(median(w.stats) / median(m.stats)).toFixed(2)}×`);
  }
  await Promise.all(pairs.main.map((p) => s.plain(p, 'plainClose')));
  for (const pages of Object.values(pairs)) {
    for (const p of pages) {
      await s.call(p, 'leave');
      await p.close();
    }
  }
  return targets;
}
