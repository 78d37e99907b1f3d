/**
 * The CPU backend against PyTorch on the anchor workload (256 → 512 → 512 → 128, batch 64, queue 4096,
 * one worker, local BN), in interleaved rounds so that every ratio compares neighbours in time on a
 * machine shared with other work. Each round runs, in this order:
 * - PyTorch (../shared/anchors/torch_moco_anchor.py, 1 process) with 1 thread and with 2
 *   (`--threads N` = torch.set_num_threads, and OPENBLAS_NUM_THREADS=N for its BLAS);
 * - our wasm backend in Node (MocoTrainer steps) with 1 thread and with 2 (worker_threads);
 * - our wasm backend in a real Chromium tab: the app's compute worker training one session, as the
 *   app does for a tab without WebGPU, with 1 thread and with 2 (the page is cross-origin isolated);
 * - the float64 TypeScript backend in Node (the oracle; what the wasm backend replaced).
 * Prints every round's samples/s and ratios to PyTorch at 1 thread (the target: ≥ 0.3×) and at the
 * same thread count, then the medians over rounds; the GEMM's GFLOP/s at the anchor's shapes; and
 * CPU time per step (Node's, and PyTorch's from two runs of different lengths, so start-up cancels).
 * Asserts nothing.
 *
 *   npm run bench:cpu            (BENCH_ROUNDS=3 BENCH_STEPS=20; BENCH_TORCH=0 skips PyTorch, BENCH_TAB=0 the browser)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/backend/backend.ts';
import { createCpuBackend } from '../src/backend/cpu/index.ts';
import { createWasmBackend } from '../src/backend/wasm/index.ts';
import { spawnNodeThread } from '../src/backend/wasm/node-threads.ts';
import { localWorld } from '../src/nn/world.ts';
import { MocoTrainer } from '../src/train/moco.ts';
import { harnessUrl, launchBrowser, openPage, pageModuleCaller, startDevServer } from '../scripts/lib/browser.ts';
import { acceptNoArguments } from '../scripts/lib/cli.ts';
import { ANCHOR_BATCH, anchorConfig, syntheticBatches } from './lib/step-phases.ts';
import type * as CpuTabPage from './lib/cpu-tab.page.ts';

acceptNoArguments(`usage: npm run bench:cpu

Samples/s of the anchor workload (256 → 512 → 512 → 128, batch 64, queue 4096, one worker): PyTorch with 1
and 2 threads, our wasm backend in Node and in a Chromium tab's compute worker with 1 and 2 threads, and
the float64 TypeScript backend, in interleaved rounds; prints ratios to PyTorch.

environment:
  BENCH_ROUNDS=N  interleaved rounds (default 3)
  BENCH_STEPS=N   timed steps per measurement (default 20)
  BENCH_TORCH=0   skip PyTorch
  BENCH_TAB=0     skip the browser rows`);

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STEPS = Number(process.env.BENCH_STEPS ?? 20);
const WARMUP = 3;
const BATCH = ANCHOR_BATCH;
const TORCH_STEPS = 40;
const THREADS = [1, 2] as const;

const load = () => execSync('uptime').toString().trim().replace(/^.*load average:/, 'load average');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU time of this process (every thread) since t0, ms. */
function cpuMs(t0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}

/** Median wall and CPU time (this process, helper threads included) of one MocoTrainer step, ms. */
async function nodeStepMs(backend: Backend): Promise<{ wall: number; cpu: number }> {
  const trainer = new MocoTrainer({ backend, config: anchorConfig(STEPS + WARMUP), world: localWorld(1), train: { images: new Float32Array(0), labels: new Int32Array(0), count: 0 }, drawBatch: syntheticBatches() });
  const wall: number[] = [];
  const cpu: number[] = [];
  try {
    for (let i = 0; i < STEPS + WARMUP; i++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await trainer.runStep();
      if (i >= WARMUP) {
        wall.push(performance.now() - t0);
        cpu.push(cpuMs(c0));
      }
    }
  } finally {
    trainer.destroy();
  }
  return { wall: median(wall), cpu: median(cpu) };
}

function gemmGflops(backend: Backend, rows: number, cols: number, depth: number): number {
  const a = backend.fromArray(new Float32Array(rows * depth).fill(0.5), [rows, depth]);
  const b = backend.fromArray(new Float32Array(cols * depth).fill(0.25), [cols, depth]);
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    backend.dispose(backend.matmulNT(a, b));
    times.push(performance.now() - t0);
  }
  backend.dispose(a);
  backend.dispose(b);
  return (2 * rows * cols * depth) / (median(times) * 1e6);
}

const ANCHOR = fileURLToPath(new URL('../../shared/anchors/torch_moco_anchor.py', import.meta.url));

/** A free loopback port for gloo's rendezvous, so that concurrent anchor runs do not meet on its fixed default. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function torchEnv(threads: number): Promise<NodeJS.ProcessEnv> {
  return { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(await freePort()) };
}

/** PyTorch samples/s at 1 worker with `threads` threads, or why not. */
async function torchSamplesPerS(threads: number): Promise<number | string> {
  const res = spawnSync('/usr/bin/python3', [ANCHOR, '--workers', '1', '--batch', String(BATCH), '--steps', String(TORCH_STEPS), '--threads', String(threads)], {
    encoding: 'utf8', env: await torchEnv(threads), timeout: 600_000,
  });
  const m = /samples_per_s_total=([\d.]+)/.exec(res.stdout);
  return m ? Number(m[1]) : `failed: ${(res.stderr || res.stdout).trim().split('\n').pop()}`;
}

/** CPU seconds (process and children) of one 1-thread anchor run of `steps` steps. */
async function torchCpuSeconds(steps: number): Promise<number | null> {
  const wrapper = [
    'import resource, runpy, sys',
    `sys.argv = [${JSON.stringify(ANCHOR)}, '--workers', '1', '--batch', '${BATCH}', '--steps', '${steps}', '--threads', '1']`,
    "runpy.run_path(sys.argv[0], run_name='__main__')",
    's, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)',
    "print(f'cpu_s={s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime}')",
  ].join('\n');
  const res = spawnSync('/usr/bin/python3', ['-c', wrapper], { encoding: 'utf8', env: await torchEnv(1), timeout: 600_000 });
  const m = /cpu_s=([\d.]+)/.exec(res.stdout);
  return m ? Number(m[1]) : null;
}

type Measured = { samplesPerS: number; label: string; cpuMsPerStep?: number; computeMs?: number } | string;
type Measure = { name: string; threads: number; kind: 'torch' | 'ours'; run: () => Promise<Measured> };

async function main(): Promise<void> {
  console.log(`bench cpu-backends — MoCo step 256→512→512→128, batch ${BATCH}, queue 4096, 1 worker; ${ROUNDS} interleaved rounds of ${STEPS} timed steps after ${WARMUP} (PyTorch: ${TORCH_STEPS} after its 5)`);
  console.log(`machine: ${execSync('nproc').toString().trim()} cores, ${load()}`);
  const wasm = await createWasmBackend({ threads: 1 });
  const wasm2 = await createWasmBackend({ threads: 2, spawn: spawnNodeThread });
  const cpu = createCpuBackend();
  for (const [r, c, d] of [[64, 512, 256], [512, 512, 64], [64, 4096, 128]] as const) {
    console.log(`GEMM ${r}×${c}×${d} (wall, median of 15): wasm 1 thread ${gemmGflops(wasm, r, c, d).toFixed(1)} GFLOP/s, 2 threads ${gemmGflops(wasm2, r, c, d).toFixed(1)}, float64 TS ${gemmGflops(cpu, r, c, d).toFixed(1)}`);
  }

  const torchOk = process.env.BENCH_TORCH !== '0' && existsSync(ANCHOR);
  const tabOk = process.env.BENCH_TAB !== '0';
  const server = tabOk ? await startDevServer() : null;
  const browser = tabOk ? await launchBrowser() : null;
  const page = browser && server ? await openPage(browser, harnessUrl(server)) : null;
  const call = page ? pageModuleCaller<typeof CpuTabPage>(() => page, '/bench/lib/cpu-tab.page.ts') : null;

  const measures: Measure[] = [];
  if (torchOk) for (const t of THREADS) measures.push({ name: `PyTorch, ${t} thread${t > 1 ? 's' : ''}`, threads: t, kind: 'torch', run: async () => { const s = await torchSamplesPerS(t); return typeof s === 'number' ? { samplesPerS: s, label: 'PyTorch' } : s; } });
  for (const [t, be] of [[1, wasm], [2, wasm2]] as const) {
    measures.push({ name: `wasm in Node, ${t} thread${t > 1 ? 's' : ''}`, threads: t, kind: 'ours', run: async () => { const ms = await nodeStepMs(be); return { samplesPerS: (BATCH * 1000) / ms.wall, label: be.label, cpuMsPerStep: ms.cpu }; } });
  }
  if (call) {
    for (const t of THREADS) {
      measures.push({
        name: `wasm in a tab's compute worker, ${t} thread${t > 1 ? 's' : ''}`, threads: t, kind: 'ours',
        run: async () => {
          const r = await call('trainInComputeWorker', t, STEPS, WARMUP);
          if (!r.isolated) return `the page is not cross-origin isolated (${r.label})`;
          return { samplesPerS: (BATCH * 1000) / median(r.stepMs), label: r.label, computeMs: median(r.computeMs) };
        },
      });
    }
  }
  measures.push({ name: 'float64 TypeScript in Node', threads: 1, kind: 'ours', run: async () => { const ms = await nodeStepMs(cpu); return { samplesPerS: (BATCH * 1000) / ms.wall, label: cpu.label, cpuMsPerStep: ms.cpu }; } });

  const results = new Map<string, Array<Measured>>(measures.map((m) => [m.name, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      console.log(`\nround ${round + 1} (${load()})`);
      const got = new Map<string, Measured>();
      for (const m of measures) {
        const r = await m.run().catch((err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`);
        got.set(m.name, r);
        results.get(m.name)!.push(r);
      }
      const torchOf = (t: number) => got.get(`PyTorch, ${t} thread${t > 1 ? 's' : ''}`);
      for (const m of measures) {
        const r = got.get(m.name)!;
        if (typeof r === 'string') {
          console.log(`  ${m.name}: ${r}`);
          continue;
        }
        const vs = (t: Measured | undefined) => (t && typeof t !== 'string' ? `${(r.samplesPerS / t.samplesPerS).toFixed(3)}×` : '—');
        const extra = [r.cpuMsPerStep !== undefined ? `${r.cpuMsPerStep.toFixed(1)} ms CPU/step` : '', r.computeMs !== undefined ? `session compute ${r.computeMs.toFixed(1)} ms/step` : ''].filter(Boolean).join(', ');
        console.log(`  ${m.name}: ${r.samplesPerS.toFixed(0)} samples/s (${(BATCH * 1000 / r.samplesPerS).toFixed(1)} ms/step${extra ? `, ${extra}` : ''})` + (m.kind === 'ours' ? `; vs PyTorch 1 thread ${vs(torchOf(1))}, same threads ${vs(torchOf(m.threads))}` : ''));
      }
    }
  } finally {
    await browser?.close();
    await server?.close();
  }

  console.log(`\nmedians over ${ROUNDS} rounds (ratios: median of each round's ratio, so each compares neighbours in time)`);
  const perRound = (name: string) => results.get(name)!.map((r) => (typeof r === 'string' ? NaN : r.samplesPerS));
  const torch1 = perRound('PyTorch, 1 thread');
  for (const m of measures) {
    const mine = perRound(m.name).filter(Number.isFinite);
    const labels = [...new Set(results.get(m.name)!.map((r) => (typeof r === 'string' ? r : r.label)))].join(' | ');
    if (mine.length === 0) {
      console.log(`| ${m.name} | — | ${labels} |`);
      continue;
    }
    const ratio = (ref: number[]) => {
      const rs = perRound(m.name).map((s, i) => s / ref[i]!).filter(Number.isFinite);
      return rs.length ? `${median(rs).toFixed(3)}×` : '—';
    };
    const same = perRound(`PyTorch, ${m.threads} thread${m.threads > 1 ? 's' : ''}`);
    console.log(`| ${m.name} | ${median(mine).toFixed(0)} samples/s | ${m.kind === 'ours' ? `vs PyTorch 1 thread ${ratio(torch1)}, same threads ${ratio(same)}` : ''} | ${labels} |`);
  }
  const pairs: Array<[string, string]> = [['wasm in Node, 2 threads', 'wasm in Node, 1 thread'], ["wasm in a tab's compute worker, 2 threads", "wasm in a tab's compute worker, 1 thread"], ['PyTorch, 2 threads', 'PyTorch, 1 thread'], ["wasm in a tab's compute worker, 1 thread", 'wasm in Node, 1 thread'], ['wasm in Node, 1 thread', 'float64 TypeScript in Node']];
  for (const [a, b] of pairs) {
    if (!results.has(a) || !results.has(b)) continue;
    const rs = perRound(a).map((s, i) => s / perRound(b)[i]!).filter(Number.isFinite);
    if (rs.length) console.log(`${a} / ${b}: ${median(rs).toFixed(2)}×`);
  }

  if (torchOk) {
    const [short, long] = [await torchCpuSeconds(TORCH_STEPS), await torchCpuSeconds(6 * TORCH_STEPS)];
    if (short !== null && long !== null) {
      const torchCpu = ((long - short) * 1000) / (5 * TORCH_STEPS);
      console.log(`\nPyTorch CPU time per step, 1 thread: ${torchCpu.toFixed(1)} ms (runs of ${TORCH_STEPS} and ${6 * TORCH_STEPS} steps, subtracted)`);
      for (const name of ['wasm in Node, 1 thread', 'wasm in Node, 2 threads', 'float64 TypeScript in Node']) {
        const cpuSteps = results.get(name)!.flatMap((r) => (typeof r !== 'string' && r.cpuMsPerStep !== undefined ? [r.cpuMsPerStep] : []));
        if (cpuSteps.length) console.log(`${name}: ${median(cpuSteps).toFixed(1)} ms CPU per step (all threads), PyTorch / it ${(torchCpu / median(cpuSteps)).toFixed(3)}×`);
      }
    }
  }
  console.log(`(${load()})`);
  wasm.destroy();
  wasm2.destroy();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
