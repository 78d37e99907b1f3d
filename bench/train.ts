/**
 * Training throughput: samples/s and the step-time split (compute vs communication) of real headless
 * tabs training over the real mesh, on 1, 2 and 4 tabs, for the WebGPU backend (SwiftShader here) and
 * the CPU backend; and in the same run the same workload in PyTorch on the CPU
 * (../shared/anchors/torch_moco_anchor.py, Debian's python3-torch with OpenBLAS), skipped with a notice
 * where unavailable. Prints a table; asserts nothing.
 *
 *   npm run bench:train            (BENCH_STEPS=20 BENCH_TABS=1,2,4 BENCH_BACKENDS=webgpu,cpu to change)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HeadlessRoom } from '../scripts/lib/headless-run.ts';
import { launchBrowser, startDevServer } from '../scripts/lib/browser.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/train/types.ts';
import { acceptNoArguments } from '../scripts/lib/cli.ts';

acceptNoArguments(`usage: npm run bench:train
  Samples/s and the step-time split of real headless tabs on the anchor workload, against PyTorch on
  the CPU. Prints a table; asserts nothing.
  BENCH_STEPS=N          timed steps per case                 [20]
  BENCH_TABS=1,2,4       tab counts
  BENCH_BACKENDS=webgpu,cpu`);

const STEPS = Number(process.env.BENCH_STEPS ?? 20);
const WARMUP = 3;
const TAB_COUNTS = (process.env.BENCH_TABS ?? '1,2,4').split(',').map(Number);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'webgpu,cpu').split(',') as Array<'webgpu' | 'cpu'>;
const BATCH = 64;

/** The anchor's workload: input 256, hidden 512, output 128, batch 64 per worker, queue 4096. */
function workload(tabs: number): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    mode: tabs > 1 ? 'shuffle' : 'local',
    steps: STEPS + WARMUP,
    batchPerWorker: BATCH,
    workersPerTab: 1,
    queueSize: 4096,
    temperature: 0.2,
    lr: 0.03,
    hiddenDims: [512, 512],
    outputDim: 128,
    knnEvery: 0,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Row {
  what: string;
  workers: number;
  stepMs: number;
  computeMs: number | null;
  commMs: number | null;
  samplesPerS: number;
}

async function browserRow(backend: 'webgpu' | 'cpu', tabs: number, server: Awaited<ReturnType<typeof startDevServer>>): Promise<Row> {
  const browser = await launchBrowser();
  const room = await HeadlessRoom.open({ server, browser });
  try {
    for (let i = 0; i < tabs; i++) await room.addTab();
    const opts = { config: workload(tabs), tabs, backend, traceEvery: 0, traceChannels: 1 };
    const stamps: number[] = [];
    room.tabs[0]!.onStep = () => stamps.push(performance.now());
    await Promise.all(room.tabs.map((t) => t.run(opts)));
    const logs = room.tabs[0]!.steps.slice(WARMUP);
    // Wall time between consecutive step reports: includes everything, also what the split misses.
    const gaps = stamps.slice(WARMUP).map((t, i, a) => (i ? t - a[i - 1]! : NaN)).filter(Number.isFinite);
    const stepMs = median(gaps);
    return {
      what: `${backend === 'webgpu' ? 'WebGPU (SwiftShader)' : 'CPU backend'}, ${tabs} tab${tabs > 1 ? 's' : ''}`,
      workers: tabs,
      stepMs,
      computeMs: median(logs.map((l) => l.computeMs)),
      commMs: median(logs.map((l) => l.commMs)),
      samplesPerS: (tabs * BATCH * 1000) / stepMs,
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
  return { what: `PyTorch CPU (gloo), ${workers} process${workers > 1 ? 'es' : ''}`, workers, stepMs: 1000 / stepsPerS, computeMs: null, commMs: null, samplesPerS: Number(m[2]) };
}

async function main(): Promise<void> {
  console.log(`bench:train — MoCo step, 256→512→512→128, batch ${BATCH}/worker, queue 4096, ${STEPS} timed steps after ${WARMUP} warm-up`);
  const rows: Row[] = [];
  const notes: string[] = [];
  const server = await startDevServer();
  try {
    for (const backend of BACKENDS) {
      for (const tabs of TAB_COUNTS) {
        try {
          rows.push(await browserRow(backend, tabs, server));
          console.log(`  measured ${rows[rows.length - 1]!.what}`);
        } catch (err) {
          notes.push(`${backend} ${tabs} tabs failed: ${(err as Error).message}`);
        }
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
  console.log('\n| setup | workers | step ms (median) | compute ms | comm ms | samples/s total | vs PyTorch, same workers |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const torch = rows.find((t) => t.what.startsWith('PyTorch') && t.workers === r.workers);
    const ratio = torch ? (r.samplesPerS / torch.samplesPerS).toFixed(3) + '×' : '—';
    console.log(`| ${r.what} | ${r.workers} | ${fmt(r.stepMs)} | ${fmt(r.computeMs)} | ${fmt(r.commMs)} | ${fmt(r.samplesPerS, 0)} | ${ratio} |`);
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
