/**
 * Tabs as separate devices: each tab in its own Chromium process (own user-data-dir), so a tab's
 * compute no longer competes with the others' for the same cores or network stack.
 *   pinned  each browser pinned to its own core (taskset -c N, inherited by all its processes): samples/s
 *           of 1 pinned tab against 2 pinned tabs, the anchor workload (batch 64 per tab), i.e. how a
 *           room scales when every tab brings its own core. The 2-tab step's communication is split
 *           into the wait for the slower tab (from the compute times every tab reports each step) and
 *           the rest (moving the bytes: the browsers' WebRTC stack, our frames, the reductions); each
 *           2-tab variant (--window: the bulk flow-control window, --wire: the gradients' format) runs
 *           in every round, interleaved with the 1-tab run, so their ratios share the machine's load;
 *           --buckets on,off runs each variant with gradient buckets and with one all-reduce after
 *           backward, and prints the share of communication the buckets hid with each tab on its
 *           own core: 1 − waited(on) / waited(off), the step ratio and the load average.
 *           Steps compute in the app's compute worker (src/worker/) by default, as in the app, so the
 *           page moves bytes while the worker computes; --compute page trains on the page instead.
 *   netns   2 tabs in separate network namespaces joined by a veth pair limited with tc tbf (both
 *           directions), unlimited and at each --rates: the step-time split (compute vs communication).
 * The signaling server and this driver are not pinned: with 2 pinned browsers on a 2-core machine they
 * share the browsers' cores. Needs root (taskset works without, `ip netns` does not). Prints tables;
 * asserts nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { Browser } from 'playwright-core';
import { launchBrowser, startDevServer, type DevServer } from '../scripts/lib/browser.ts';
import { HeadlessRoom } from '../scripts/lib/headless-run.ts';
import { linkedNamespace, type LinkedNamespace } from '../scripts/lib/netns.ts';
import { parseArgsOrExit, usageError } from '../scripts/lib/cli.ts';
import { ANCHOR_BATCH, anchorWorkload, kib, trainAndMeasure, type RunFigures } from './lib/room-figures.ts';
import type { BackendPreference } from '../src/backend/index.ts';
import { WIRE_FORMATS, type WireFormat } from '../src/mesh/half-codec.ts';

const USAGE = `usage: npm run bench:devices -- [options]
  Tabs as separate devices: browsers pinned to one core each (1 → 2 tab scaling), and 2 tabs in
  separate network namespaces behind a bandwidth limit (step-time split). Prints tables; asserts nothing.
  --mode M        pinned | netns | both                                  [both]
  --backend B     wasm | webgpu | cpu (pinned mode runs each of a list)  [wasm,webgpu]
  --steps N       timed steps per run, after 3 warm-up steps             [20]
  --rates R,..    tbf limits in Mbit/s for netns mode (unlimited first)  [200,50]
  --window W,..   pinned 2-tab variants: bulk bytes in flight per link before a
                  sender pauses, KiB, fixed ('default': the mesh's adaptive one)  [default]
  --wire F,..     pinned 2-tab variants: gradient wire format (f32, f16, bf16)  [f32]
  --buckets B,..  pinned 2-tab variants: on (gradient buckets, the trainer's
                  cap) | off (one all-reduce after backward); with both,
                  the share of communication hidden                      [on]
  --compute C,..  pinned: where steps compute, worker (the app's compute
                  worker, the page keeping the mesh) | page; each its own
                  1-tab baseline; worker takes wasm or webgpu            [worker]
  --rounds N      pinned: rounds of (1 tab, every 2-tab variant)         [1]`;

const args = parseArgsOrExit(
  {
    mode: { type: 'string', default: 'both' },
    backend: { type: 'string', default: 'wasm,webgpu' },
    steps: { type: 'string', default: '20' },
    rates: { type: 'string', default: '200,50' },
    window: { type: 'string', default: 'default' },
    wire: { type: 'string', default: 'f32' },
    rounds: { type: 'string', default: '1' },
    compute: { type: 'string', default: 'worker' },
    buckets: { type: 'string', default: 'on' },
  },
  USAGE,
).values;
const MODE = args.mode!;
if (!['pinned', 'netns', 'both'].includes(MODE)) usageError(`--mode must be pinned, netns or both, got '${MODE}'`, USAGE);
const BACKENDS = args.backend!.split(',') as BackendPreference[];
for (const b of BACKENDS) if (!['wasm', 'webgpu', 'cpu'].includes(b)) usageError(`--backend takes wasm, webgpu or cpu, got '${b}'`, USAGE);
const STEPS = Number(args.steps);
if (!Number.isInteger(STEPS) || STEPS < 2) usageError(`--steps must be an integer ≥ 2, got '${args.steps}'`, USAGE);
const RATES = args.rates!.split(',').map(Number);
if (RATES.some((r) => !(r > 0))) usageError(`--rates must be positive Mbit/s figures, got '${args.rates}'`, USAGE);
const WINDOWS = args.window!.split(',').map((w) => (w === 'default' ? null : Number(w)));
if (WINDOWS.some((w) => w !== null && !(Number.isInteger(w) && w >= 16))) usageError(`--window takes 'default' or integers ≥ 16 (KiB), got '${args.window}'`, USAGE);
const WIRES = args.wire!.split(',') as WireFormat[];
for (const w of WIRES) if (!WIRE_FORMATS.includes(w)) usageError(`--wire takes ${WIRE_FORMATS.join(', ')}, got '${w}'`, USAGE);
const COMPUTES = args.compute!.split(',') as Array<'page' | 'worker'>;
for (const c of COMPUTES) if (c !== 'page' && c !== 'worker') usageError(`--compute takes page or worker, got '${c}'`, USAGE);
if (COMPUTES.includes('worker') && BACKENDS.includes('cpu')) usageError('the compute worker offers wasm or webgpu: use --compute page for the cpu backend', USAGE);
const BUCKETS = args.buckets!.split(',').map((b) => {
  if (b !== 'on' && b !== 'off') usageError(`--buckets takes on or off, got '${b}'`, USAGE);
  return b === 'on';
});
const ROUNDS = Number(args.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) usageError(`--rounds must be an integer ≥ 1, got '${args.rounds}'`, USAGE);
const WARMUP = 3;

/** One 2-tab configuration of pinned mode. */
interface Variant {
  /** A fixed window: the sender pauses above this many KiB in flight (resumes at half); null: the mesh's default (adaptive) window. */
  windowKiB: number | null;
  wire: WireFormat;
  /** false: one all-reduce after backward (no overlap). */
  buckets: boolean;
}
const VARIANTS: Variant[] = WIRES.flatMap((wire) => WINDOWS.flatMap((windowKiB) => BUCKETS.map((buckets) => ({ windowKiB, wire, buckets }))));
const variantName = (v: Variant) => `${v.wire}, window ${v.windowKiB === null ? 'default' : `${v.windowKiB} KiB`}${v.buckets ? '' : ', buckets off'}`;
/**
 * A bucket cap above any gradient here: one bucket, all-reduced after backward. Not Infinity: the
 * run's options reach the page as JSON, where Infinity becomes null (and is refused).
 */
const ONE_BUCKET_BYTES = 2 ** 31;
const isRoot = process.getuid?.() === 0;

/** Every process of the Chromium whose command line carries `marker`, with its allowed cores. */
function chromiumAffinity(marker: string): { processes: number; cores: Set<string> } {
  const parentOf = new Map<number, number>();
  let root = -1;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (root < 0 && readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(marker)) root = Number(entry);
    } catch {
      // exited meanwhile
    }
  }
  const cores = new Set<string>();
  let processes = 0;
  for (const pid of parentOf.keys()) {
    let p: number | undefined = pid;
    while (p !== undefined && p > 1 && p !== root) p = parentOf.get(p);
    if (p !== root) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      cores.add(/Cpus_allowed_list:\s*(\S+)/.exec(status)![1]!);
      processes++;
    } catch {
      // exited meanwhile
    }
  }
  return { processes, cores };
}

/** One room of `browsers.length` tabs, tab i in browsers[i], trained on the anchor workload. */
async function runRoom(
  server: DevServer,
  browsers: Browser[],
  backend: BackendPreference,
  url?: string,
  joined?: () => void,
  variant: Variant = VARIANTS[0]!,
  compute: 'page' | 'worker' = 'page',
): Promise<RunFigures> {
  const sendWindow = variant.windowKiB === null ? undefined : { mode: 'fixed' as const, highBytes: variant.windowKiB * 1024, lowBytes: (variant.windowKiB * 1024) / 2 };
  const room = await HeadlessRoom.open({ server, browser: browsers[0]!, ...(sendWindow ? { sendWindow } : {}) });
  try {
    for (const browser of browsers) await room.addTab({ browser, ...(url ? { url } : {}) });
    joined?.();
    const tabs = browsers.length;
    const config = { ...anchorWorkload(tabs, STEPS + WARMUP), gradientWire: variant.wire };
    const figures = await trainAndMeasure(
      room,
      { config, tabs, backend, traceEvery: 0, traceChannels: 1, ...(compute === 'worker' ? { compute } : {}), ...(variant.buckets ? {} : { bucketCapBytes: ONE_BUCKET_BYTES }) },
      WARMUP,
    );
    for (const notice of figures.notices) console.log(`  note (${tabs} tab${tabs > 1 ? 's' : ''}, ${backend}): ${notice}`);
    return figures;
  } finally {
    for (const tab of room.tabs) await tab.close().catch(() => {});
  }
}

const samplesPerS = (r: RunFigures) => (r.tabs * ANCHOR_BATCH * 1000) / r.stepMs;
const splitCells = (r: RunFigures) => `${r.stepMs.toFixed(1)} | ${r.computeMs.toFixed(1)} | ${r.commMs.toFixed(1)} | ${kib(r.bytes[0]!.total)}`;

async function pinned(server: DevServer): Promise<void> {
  const cores = cpus().length;
  if (cores < 2) return console.log('pinned mode skipped: needs 2 cores');
  const browsers: Browser[] = [];
  try {
    for (let i = 0; i < 2; i++) browsers.push(await launchBrowser({ cpus: String(i), args: [`--sbn-device=${process.pid}-${i}`] }));
    // Read once both tabs are open (renderers included), from /proc, not from what was asked for.
    const showAffinity = () => {
      for (let i = 0; i < 2; i++) {
        const { processes, cores: allowed } = chromiumAffinity(`--sbn-device=${process.pid}-${i}`);
        console.log(`  browser ${i}: ${processes} processes, allowed cores ${[...allowed].join(' / ')}`);
      }
    };
    let shown = false;
    const rows: string[] = [];
    /** 2-tab runs by (backend, compute, variant without its bucket setting), for the buckets on/off summary. */
    const paired = new Map<string, { on: Array<RunFigures & { load: number }>; off: Array<RunFigures & { load: number }> }>();
    for (const backend of BACKENDS) {
      for (let round = 1; round <= ROUNDS; round++) {
        for (const compute of COMPUTES) {
          const where = compute === 'worker' ? `${backend} in worker` : backend;
          const one = await runRoom(server, browsers.slice(0, 1), backend, undefined, undefined, VARIANTS[0], compute);
          rows.push(`| ${where} | ${round} | 1 | — | ${splitCells(one)} | — | — | ${samplesPerS(one).toFixed(0)} | 1.00× |`);
          for (const variant of VARIANTS) {
            const two = await runRoom(server, browsers, backend, undefined, () => shown || ((shown = true), showAffinity()), variant, compute);
            // Rank 0's communication less its wait for the slower tab: moving the bytes.
            const movingMs = Math.max(0, two.commMs - two.peerLagMs);
            const rate = movingMs > 0 ? ((two.bytes[0]!.total / 1e6) / (movingMs / 1e3)).toFixed(2) : '—';
            const ratio = (samplesPerS(two) / samplesPerS(one)).toFixed(2);
            rows.push(`| ${where} | ${round} | 2 | ${variantName(variant)} | ${splitCells(two)} | ${two.peerLagMs.toFixed(1)} | ${rate} | ${samplesPerS(two).toFixed(0)} | ${ratio}× |`);
            const key = `${where}, ${variantName({ ...variant, buckets: true })}`;
            if (!paired.has(key)) paired.set(key, { on: [], off: [] });
            paired.get(key)![variant.buckets ? 'on' : 'off'].push({ ...two, load: loadavg()[0]! });
          }
        }
        console.log(`  ${backend}, round ${round} measured (load average ${loadavg()[0]!.toFixed(1)})`);
      }
    }
    console.log('| backend | round | tabs (one core each) | 2-tab variant | step ms | compute ms | comm ms | KiB sent/tab/step | of comm: slower tab ms | MB/s sent while moving | samples/s | vs 1 pinned tab (same round) |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const row of rows) console.log(row);
    bucketSummary(paired);
  } finally {
    for (const b of browsers) await b.close().catch(() => {});
  }
}

/**
 * Buckets on against off, 2 pinned tabs, each side the mean over rounds of its runs' medians: the
 * share of rank 0's communication wait the buckets hid, also without its wait for the slower tab.
 */
function bucketSummary(paired: Map<string, { on: Array<RunFigures & { load: number }>; off: Array<RunFigures & { load: number }> }>): void {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const share = (on: number, off: number) => (off > 0 ? `${(100 * (1 - on / off)).toFixed(0)}%` : '—');
  for (const [key, { on, off }] of paired) {
    if (on.length === 0 || off.length === 0) continue;
    const waited = (rs: RunFigures[]) => mean(rs.map((r) => r.commMs));
    const moving = (rs: RunFigures[]) => mean(rs.map((r) => Math.max(0, r.commMs - r.peerLagMs)));
    const step = (rs: RunFigures[]) => mean(rs.map((r) => r.stepMs));
    const compute = (rs: RunFigures[]) => mean(rs.map((r) => r.computeMs));
    const loads = [...on, ...off].map((r) => r.load);
    console.log(
      `buckets on/off, 2 pinned tabs, ${key} (${on.length} rounds each): communication waited ${waited(on).toFixed(1)} ms with buckets, ${waited(off).toFixed(1)} ms without: ` +
        `hidden ${share(waited(on), waited(off))} (target ≥ 50%); without the wait for the slower tab ${moving(on).toFixed(1)} against ${moving(off).toFixed(1)} ms: hidden ${share(moving(on), moving(off))}; ` +
        `step ${step(on).toFixed(1)} against ${step(off).toFixed(1)} ms, ${(step(off) / step(on)).toFixed(2)}× faster with buckets; ` +
        `compute ${compute(on).toFixed(1)} against ${compute(off).toFixed(1)} ms; load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
    );
  }
}

async function netns(): Promise<void> {
  if (!isRoot) return console.log('netns mode skipped: `ip netns` needs root');
  const hostB: LinkedNamespace = linkedNamespace(`sbndv${process.pid % 100_000}`, 1);
  const onSignal = () => {
    hostB.destroy();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Listening on every address, after the veth exists: its address is one of the server's own origins.
  const server = await startDevServer({ host: '0.0.0.0' });
  const url = `http://${hostB.localIp}:${server.port}/tests/pages/harness.html`;
  // A LAN address over http is not a secure context; WebGPU needs one.
  const secure = [`--unsafely-treat-insecure-origin-as-secure=http://${hostB.localIp}:${server.port}`];
  const browsers: Browser[] = [];
  try {
    browsers.push(await launchBrowser({ args: secure }), await launchBrowser({ netns: hostB.name, args: secure }));
    const backend = BACKENDS[0]!;
    console.log(`\n2 tabs, tab 0 beside the server, tab 1 in namespace ${hostB.name} (${hostB.remoteIp}), ${backend} backend computing in the ${COMPUTES[0] === 'worker' ? 'compute worker' : 'page'}, both browsers unpinned`);
    console.log('| link limit (each direction) | step ms | compute ms | comm ms | KiB sent/tab/step | wire floor ms | packets held by the limit |');
    console.log('|---|---|---|---|---|---|---|');
    for (const mbit of [null, ...RATES]) {
      hostB.shape(mbit);
      const before = hostB.stats();
      const r = await runRoom(server, browsers, backend, url, undefined, VARIANTS[0], COMPUTES[0]);
      const after = hostB.stats();
      // The least time this tab's bytes of one step take at the limit (one direction).
      const floor = mbit === null ? '—' : ((r.bytes[0]!.total * 8) / (mbit * 1e3)).toFixed(1);
      const rate = mbit === null ? 'none' : `${mbit} Mbit/s`;
      console.log(`| ${rate} | ${splitCells(r)} | ${floor} | ${after.overlimits - before.overlimits} |`);
    }
  } finally {
    for (const b of browsers) await b.close().catch(() => {});
    await server.close();
    hostB.destroy();
  }
}

console.log(`bench:devices — anchor workload (256→512→512→128, batch ${ANCHOR_BATCH}/tab, queue 4096), ${STEPS} timed steps after ${WARMUP} warm-up; ${cpus().length} cores`);
try {
  if (MODE !== 'netns') {
    const server = await startDevServer();
    try {
      console.log('\npinned: each browser to its own core (signaling server and driver unpinned, sharing them)');
      await pinned(server);
    } finally {
      await server.close();
    }
  }
  if (MODE !== 'pinned') await netns();
  console.log(`\nmachine: load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min) at the end`);
  process.exit(0);
} catch (err) {
  console.error(err);
  process.exit(1);
}
