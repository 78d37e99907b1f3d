/**
 * Training throughput: samples/s and the step-time split of real headless tabs training over the real
 * mesh, on 1, 2 and 4 tabs, for the WebGPU backend (SwiftShader here) and the CPU backend; and in the
 * same run the same workload in PyTorch on the CPU (../shared/anchors/torch_moco_anchor.py, Debian's
 * python3-torch with OpenBLAS), skipped with a notice where unavailable. Prints a table; asserts nothing.
 *
 * The split, from each step's log: compute (wall time minus the time the step waited on
 * communication), communication waited for, communication in flight (waited for, or travelling behind
 * compute: the gradient buckets), and the share of the latter that was hidden, Σ(in flight − waited) /
 * Σ in flight over the timed steps. In-flight time is only an upper bound of communication (a bucket's
 * all-reduce completes only when its tab next handles its messages, possibly after compute that
 * outlasted the transfer, and it includes waiting for the other tab's contribution). The share of
 * communication hidden is therefore measured against the same case without overlap: BENCH_AB=1 runs
 * each multi-tab case with one all-reduce after backward (buckets off) too, alternating on and off
 * over BENCH_ROUNDS rounds so both see the same load, and prints
 *   hidden = 1 − waited(buckets on) / waited(buckets off)
 * (each the mean over rounds of the median step's logged wait), and the same with each side's wait
 * for the slower tab (from the compute times every tab reports per step) taken out first, i.e. the
 * share of the bytes' own transfer time that the buckets took off the step, the step-time ratio and
 * the load average over those rounds. The A/B computes where the app does, in the compute worker
 * (src/worker/), whose page moves a bucket while the worker runs backward on; BENCH_COMPUTE=page
 * trains on the page instead, where a bucket moves only when backward yields between layers. Then a 1-tab step phase by phase (input, forward, InfoNCE, backward, gradient packing,
 * optimizer, momentum encoder, queue, running statistics, readbacks, communication) with its GPU→CPU
 * readbacks, per backend (bench/lib/step-phases.ts, src/train/step-profile.ts).
 *
 *   npm run bench:train            (BENCH_STEPS=20 BENCH_TABS=1,2,4 BENCH_BACKENDS=webgpu,wasm to change, cpu: the float64 one;
 *                                   BENCH_WIRE=f32,bf16 adds rows per gradient wire format;
 *                                   BENCH_COMPARE=1 adds compare-mode rows: shuffle and local together;
 *                                   BENCH_PHASES=webgpu,wasm the backends of the phase table, empty: none;
                                   BENCH_COMPUTE=worker,page where steps compute, each in every round)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { HeadlessRoom } from '../scripts/lib/headless-run.ts';
import { harnessUrl, launchBrowser, openPage, pageModuleCaller, startDevServer } from '../scripts/lib/browser.ts';
import type { BackendPreference } from '../src/backend/index.ts';
import { ANCHOR_BATCH, phaseTable, type PhaseSummary } from './lib/step-phases.ts';
import { anchorWorkload, peerLag } from './lib/room-figures.ts';
import type * as PhasesPage from './lib/train-phases.page.ts';
import { WIRE_FORMATS, type WireFormat } from '../src/mesh/half-codec.ts';
import type { TrainConfig } from '../src/train/types.ts';
import { acceptNoArguments } from '../scripts/lib/cli.ts';

acceptNoArguments(`usage: npm run bench:train
  Samples/s and the step-time split of real headless tabs on the anchor workload, against PyTorch on
  the CPU. Prints a table; asserts nothing.
  BENCH_STEPS=N          timed steps per case                 [20]
  BENCH_TABS=1,2,4       tab counts
  BENCH_BACKENDS=webgpu,wasm   (cpu: the float64 TypeScript backend, the test oracle)
  BENCH_WIRE=f32         gradient wire formats (f32, f16, bf16)
  BENCH_COMPARE=0        1: also compare-mode rows (two models per step) on 2+ tabs
  BENCH_AB=0             1: also each multi-tab case with buckets off (one all-reduce after backward),
                         and the share of communication hidden: 1 − waited(on) / waited(off)
  BENCH_ROUNDS=2         with BENCH_AB=1: rounds alternating buckets on and off
  BENCH_COMPUTE=C,..     where steps compute: worker (the app's compute worker, the
                         page keeping the mesh; wasm or webgpu) | page; a list runs
                         each in every round  [worker with BENCH_AB=1, else page]
  BENCH_PHASES=webgpu,wasm   backends of the 1-tab phase table (empty: none)`);

const STEPS = Number(process.env.BENCH_STEPS ?? 20);
const WARMUP = 3;
const TAB_COUNTS = (process.env.BENCH_TABS ?? '1,2,4').split(',').map(Number);
// The CPU rows run the wasm backend, the one a tab without WebGPU trains on ('cpu' is the float64
// oracle, several times slower: rows once labelled "CPU backend" ran it, 348 ms a step against the
// phase table's 41 ms for wasm). Rows are labelled with the backend label the tab reports.
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'webgpu,wasm').split(',') as Array<'webgpu' | 'wasm' | 'cpu'>;
for (const b of BACKENDS) if (!['webgpu', 'wasm', 'cpu'].includes(b)) throw new Error(`BENCH_BACKENDS: unknown backend ${b} (webgpu, wasm, cpu)`);
const WIRES = (process.env.BENCH_WIRE ?? 'f32').split(',') as WireFormat[];
const COMPARE = process.env.BENCH_COMPARE === '1';
const AB = process.env.BENCH_AB === '1';
const ROUNDS = AB ? Number(process.env.BENCH_ROUNDS ?? 2) : 1;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`BENCH_ROUNDS must be an integer ≥ 1, got ${process.env.BENCH_ROUNDS}`);
type Compute = 'worker' | 'page';
// The A/B measures the overlap the app gets, so it computes where the app does unless told otherwise;
// the other rows keep the page, where the Training figures of the README were measured.
const COMPUTES = (process.env.BENCH_COMPUTE ?? (AB ? 'worker' : 'page')).split(',') as Compute[];
for (const c of COMPUTES) if (c !== 'worker' && c !== 'page') throw new Error(`BENCH_COMPUTE: unknown place ${c} (worker, page)`);
if (COMPUTES.includes('worker') && BACKENDS.includes('cpu')) throw new Error('BENCH_COMPUTE=worker: the compute worker offers webgpu or wasm; use BENCH_COMPUTE=page for the cpu backend');
const PHASE_BACKENDS = (process.env.BENCH_PHASES ?? 'webgpu,wasm').split(',').filter(Boolean) as BackendPreference[];
/**
 * A bucket cap above any gradient here: one bucket, all-reduced after backward (overlap off). Not
 * Infinity: the run's options reach the page as JSON, where Infinity becomes null (and is refused).
 */
const ONE_BUCKET_BYTES = 2 ** 31;
const BATCH = ANCHOR_BATCH;
for (const wire of WIRES) if (!WIRE_FORMATS.includes(wire)) throw new Error(`BENCH_WIRE: unknown format ${wire} (${WIRE_FORMATS.join(', ')})`);

interface Case {
  backend: 'webgpu' | 'wasm' | 'cpu';
  tabs: number;
  wire: WireFormat;
  compare: boolean;
  /** Buckets off: one all-reduce after backward. */
  oneBucket: boolean;
  compute: Compute;
}

/** The anchor's workload: input 256, hidden 512, output 128, batch 64 per worker, queue 4096. */
function workload({ tabs, wire, compare }: Case): TrainConfig {
  return { ...anchorWorkload(tabs, STEPS + WARMUP), compareWith: compare ? 'local' : null, gradientWire: wire };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Row {
  what: string;
  /** The case without its bucket setting, to pair buckets on and off. */
  key?: string;
  oneBucket?: boolean;
  workers: number;
  stepMs: number;
  computeMs: number | null;
  commMs: number | null;
  /** Median over steps of how much longer the slowest other tab computed (ms): waiting, not transfer. */
  peerLagMs: number | null;
  inFlightMs: number | null;
  /** Σ(in flight − waited) / Σ in flight. */
  hiddenShare: number | null;
  samplesPerS: number;
  /** The 1-minute load average when the run ended. */
  load: number;
}

function caseKey(c: Case): string {
  return `${c.backend}/${c.tabs}/${c.wire}/${c.compare}/${c.compute}`;
}

async function browserRow(c: Case, server: Awaited<ReturnType<typeof startDevServer>>): Promise<Row> {
  const { backend, tabs } = c;
  const browser = await launchBrowser();
  const room = await HeadlessRoom.open({ server, browser });
  try {
    for (let i = 0; i < tabs; i++) await room.addTab();
    const opts = {
      config: workload(c),
      tabs,
      backend,
      traceEvery: 0,
      traceChannels: 1,
      ...(c.oneBucket ? { bucketCapBytes: ONE_BUCKET_BYTES } : {}),
      ...(c.compute === 'worker' ? { compute: 'worker' as const } : {}),
    };
    const stamps: number[] = [];
    room.tabs[0]!.onStep = () => stamps.push(performance.now());
    const [{ backend: label }] = await Promise.all(room.tabs.map((t) => t.run(opts)));
    const logs = room.tabs[0]!.steps.slice(WARMUP);
    // Wall time between consecutive step reports: includes everything, also what the split misses.
    const gaps = stamps.slice(WARMUP).map((t, i, a) => (i ? t - a[i - 1]! : NaN)).filter(Number.isFinite);
    const stepMs = median(gaps);
    const inFlight = logs.map((l) => l.commInFlightMs ?? l.commMs);
    const inFlightTotal = inFlight.reduce((a, b) => a + b, 0);
    const waitedTotal = logs.reduce((a, l) => a + l.commMs, 0);
    const extras = [
      c.compute === 'worker' ? 'compute worker' : 'on the page',
      c.wire !== 'f32' ? `gradients ${c.wire}` : '',
      c.compare ? 'compare mode (2 models)' : '',
      c.oneBucket ? 'buckets off' : '',
    ].filter(Boolean).join(', ');
    const backendName = backend === 'webgpu' ? 'WebGPU (SwiftShader)' : label!.replace(/^cpu: /, '').replace(/^cpu in the compute worker: /, '');
    return {
      what: `${backendName}, ${tabs} tab${tabs > 1 ? 's' : ''}, ${extras}`,
      workers: tabs,
      oneBucket: c.oneBucket,
      stepMs,
      computeMs: median(logs.map((l) => l.computeMs)),
      commMs: median(logs.map((l) => l.commMs)),
      peerLagMs: median(logs.map((l) => peerLag(l.tabComputeMs, 0))),
      inFlightMs: median(inFlight),
      hiddenShare: inFlightTotal > 0 ? Math.max(0, inFlightTotal - waitedTotal) / inFlightTotal : null,
      samplesPerS: (tabs * BATCH * 1000) / stepMs,
      load: loadavg()[0]!,
    };
  } finally {
    await browser.close();
  }
}

function torchRow(workers: number): Row | string {
  const anchor = fileURLToPath(new URL('../../shared/anchors/torch_moco_anchor.py', import.meta.url));
  if (!existsSync(anchor)) return `PyTorch anchor skipped: ${anchor} not found`;
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'PyTorch anchor skipped: /usr/bin/python3 cannot import torch (apt-get install -y python3-torch libopenblas0-pthread)';
  const res = spawnSync('/usr/bin/python3', [anchor, '--workers', String(workers), '--batch', String(BATCH), '--steps', '40'], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
    timeout: 600_000,
  });
  const m = /steps_per_s=([\d.]+) samples_per_s_total=([\d.]+)/.exec(res.stdout);
  if (!m) return `PyTorch anchor failed for ${workers} worker(s): ${res.stderr.trim().split('\n').pop()}`;
  const stepsPerS = Number(m[1]);
  return {
    what: `PyTorch CPU (gloo), ${workers} process${workers > 1 ? 'es' : ''}`,
    workers,
    stepMs: 1000 / stepsPerS,
    computeMs: null,
    commMs: null,
    peerLagMs: null,
    inFlightMs: null,
    hiddenShare: null,
    samplesPerS: Number(m[2]),
    load: loadavg()[0]!,
  };
}

/** The 1-tab step phase by phase on each backend of PHASE_BACKENDS, in one page. */
async function phaseColumns(server: Awaited<ReturnType<typeof startDevServer>>, notes: string[]): Promise<{ name: string; summary: PhaseSummary }[]> {
  const columns: { name: string; summary: PhaseSummary }[] = [];
  if (PHASE_BACKENDS.length === 0) return columns;
  const browser = await launchBrowser();
  try {
    const page = await openPage(browser, harnessUrl(server));
    const call = pageModuleCaller<typeof PhasesPage>(() => page, '/bench/lib/train-phases.page.ts');
    for (const pref of PHASE_BACKENDS) {
      try {
        const { label, summary } = await call('phases', pref, STEPS, WARMUP);
        columns.push({ name: label, summary });
        console.log(`  phases measured: ${label}`);
      } catch (err) {
        notes.push(`phases on ${pref} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await browser.close();
  }
  return columns;
}

async function main(): Promise<void> {
  console.log(`bench:train — MoCo step, 256→512→512→128, batch ${BATCH}/worker, queue 4096, ${STEPS} timed steps after ${WARMUP} warm-up`);
  const rows: Row[] = [];
  const notes: string[] = [];
  const server = await startDevServer();
  let phases: { name: string; summary: PhaseSummary }[] = [];
  try {
    phases = await phaseColumns(server, notes);
    const cases: Case[] = [];
    for (const backend of BACKENDS) {
      for (const tabs of TAB_COUNTS) {
        for (const wire of tabs > 1 ? WIRES : ['f32' as const]) {
          for (const compare of COMPARE && tabs > 1 ? [false, true] : [false]) {
            // Rounds alternate buckets on and off, so both sides of the ratio share the machine's load.
            for (let round = 0; round < (tabs > 1 ? ROUNDS : 1); round++) {
              for (const compute of COMPUTES) {
                cases.push({ backend, tabs, wire, compare, oneBucket: false, compute });
                if (AB && tabs > 1) cases.push({ backend, tabs, wire, compare, oneBucket: true, compute });
              }
            }
          }
        }
      }
    }
    for (const c of cases) {
      try {
        rows.push({ ...(await browserRow(c, server)), key: caseKey(c) });
        console.log(`  measured ${rows[rows.length - 1]!.what}`);
      } catch (err) {
        notes.push(`${c.backend} ${c.tabs} tabs (${c.compute}, ${c.wire}${c.compare ? ', compare' : ''}${c.oneBucket ? ', buckets off' : ''}) failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await server.close();
  }
  for (const workers of TAB_COUNTS) {
    const r = torchRow(workers);
    if (typeof r === 'string') notes.push(r);
    else rows.push(r);
  }
  const fmt = (v: number | null, d = 1) => (v === null ? '—' : v.toFixed(d));
  console.log('\n| setup | workers | step ms (median) | compute ms | comm waited ms | of which slower tab ms | comm in flight ms | in flight behind compute (upper bound) | samples/s total | vs PyTorch, same workers | load (1 min) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const torch = rows.find((t) => t.what.startsWith('PyTorch') && t.workers === r.workers);
    const ratio = torch ? (r.samplesPerS / torch.samplesPerS).toFixed(3) + '×' : '—';
    const hidden = r.hiddenShare === null ? '—' : `${(100 * r.hiddenShare).toFixed(0)}%`;
    console.log(`| ${r.what} | ${r.workers} | ${fmt(r.stepMs)} | ${fmt(r.computeMs)} | ${fmt(r.commMs)} | ${fmt(r.peerLagMs)} | ${fmt(r.inFlightMs)} | ${hidden} | ${fmt(r.samplesPerS, 0)} | ${ratio} | ${fmt(r.load)} |`);
  }
  // Buckets on against off, each the mean over its rounds of the runs' medians.
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const key of [...new Set(rows.filter((r) => r.key && r.oneBucket === false).map((r) => r.key!))]) {
    const side = (oneBucket: boolean) => rows.filter((r) => r.key === key && r.oneBucket === oneBucket && r.commMs !== null);
    const on = side(false);
    const off = side(true);
    if (on.length === 0 || off.length === 0) continue;
    const waited = (rs: Row[]) => mean(rs.map((r) => r.commMs!));
    const moving = (rs: Row[]) => mean(rs.map((r) => Math.max(0, r.commMs! - (r.peerLagMs ?? 0))));
    const step = (rs: Row[]) => mean(rs.map((r) => r.stepMs));
    const share = (a: number, b: number) => (b > 0 ? `${(100 * (1 - a / b)).toFixed(0)}%` : '—');
    const loads = [...on, ...off].map((r) => r.load);
    const target = on[0]!.workers === 2 ? ' (target ≥ 50% on 2 tabs)' : '';
    console.log(
      `${on[0]!.what} (${on.length} rounds on, ${off.length} off, alternating): communication waited ${fmt(waited(on))} ms with buckets, ${fmt(waited(off))} ms without: ` +
        `hidden ${share(waited(on), waited(off))}${target}; without the wait for the slower tab ${fmt(moving(on))} against ${fmt(moving(off))} ms: hidden ${share(moving(on), moving(off))}; ` +
        `step ${fmt(step(on))} against ${fmt(step(off))} ms, ${(step(off) / step(on)).toFixed(2)}× faster with buckets; ` +
        `compute ${fmt(mean(on.map((r) => r.computeMs!)))} against ${fmt(mean(off.map((r) => r.computeMs!)))} ms; load average ${fmt(Math.min(...loads))}–${fmt(Math.max(...loads))}`,
    );
  }
  if (phases.length) {
    console.log(`\n1-tab step of the same workload, phase by phase (median of ${STEPS} steps after ${WARMUP}; on WebGPU every phase ends with a wait for the device, so its GPU work counts where it was issued)`);
    console.log(phaseTable(phases));
    console.log('(readbacks and communication are the waits inside read() and collectives, taken out of the phases they happen in)');
  }
  for (const n of notes) console.log(`note: ${n}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
