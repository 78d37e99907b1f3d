/**
 * CPU backends on the anchor workload (256 → 512 → 512 → 128, batch 64, queue 4096, one worker, local
 * BN), in Node: samples/s of MocoTrainer steps on the WebAssembly SIMD backend and on the float64
 * TypeScript backend, and PyTorch on the same workload (../shared/anchors/torch_moco_anchor.py, one
 * process, OPENBLAS_NUM_THREADS=1) in the same run. Also the GEMM's GFLOP/s at the anchor's shapes.
 * Besides wall time, both sides' CPU time per step (PyTorch's from two runs of different lengths, so
 * start-up cancels): on a machine shared with other work, wall time mostly measures the others.
 * Prints figures; asserts nothing.
 *
 *   npm run bench:cpu            (BENCH_STEPS=20 to change; BENCH_TORCH=0 skips PyTorch)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/backend/backend.ts';
import { createCpuBackend } from '../src/backend/cpu/index.ts';
import { createWasmBackend } from '../src/backend/wasm/index.ts';
import { localWorld } from '../src/nn/world.ts';
import { MocoTrainer } from '../src/train/moco.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/train/types.ts';
import { acceptNoArguments } from '../scripts/lib/cli.ts';

acceptNoArguments(`usage: npm run bench:cpu

Times MoCo steps of the anchor workload (256 → 512 → 512 → 128, batch 64, queue 4096, one worker) on the
WebAssembly SIMD and float64 TypeScript backends in Node, and PyTorch on the same workload; prints figures.

environment:
  BENCH_STEPS=N   timed steps (default 20)
  BENCH_TORCH=0   skip the PyTorch anchor`);

const STEPS = Number(process.env.BENCH_STEPS ?? 20);
const WARMUP = 3;
const BATCH = 64;
const INPUT = 256;

const CONFIG: TrainConfig = {
  ...DEFAULT_CONFIG,
  mode: 'local',
  steps: STEPS + WARMUP,
  batchPerWorker: BATCH,
  workersPerTab: 1,
  queueSize: 4096,
  temperature: 0.2,
  lr: 0.03,
  inputDim: INPUT,
  hiddenDims: [512, 512],
  outputDim: 128,
  knnEvery: 0,
};

/** CPU time of this process since t0, ms: on a machine shared with other work, wall time mostly measures the others. */
function cpuMs(t0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Gaussian-ish inputs from a fixed LCG, as the anchor's torch.randn (values do not affect speed). */
function batchSource(): (step: number, worker: number, n: number) => { query: Float32Array; key: Float32Array } {
  let s = 12345;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 3.4;
  return (_step, _worker, n) => ({ query: Float32Array.from({ length: n * INPUT }, next), key: Float32Array.from({ length: n * INPUT }, next) });
}

/** Median wall time and median CPU time (this process) of one step, ms. */
async function stepMs(backend: Backend): Promise<{ wall: number; cpu: number }> {
  const trainer = new MocoTrainer({ backend, config: CONFIG, world: localWorld(1), train: { images: new Float32Array(0), labels: new Int32Array(0), count: 0 }, drawBatch: batchSource() });
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
  for (let i = 0; i < 7; i++) {
    const t0 = process.cpuUsage();
    backend.dispose(backend.matmulNT(a, b));
    times.push(cpuMs(t0));
  }
  backend.dispose(a);
  backend.dispose(b);
  return (2 * rows * cols * depth) / (median(times) * 1e6);
}

const ANCHOR = fileURLToPath(new URL('../../shared/anchors/torch_moco_anchor.py', import.meta.url));
/** Steps of the two PyTorch runs whose CPU times are subtracted. */
const TORCH_CPU_STEPS = [40, 240] as const;

/** CPU seconds (process and its children) of one anchor run of `steps` steps. */
function torchCpuSeconds(steps: number): number | null {
  const wrapper = [
    'import resource, runpy, sys',
    `sys.argv = [${JSON.stringify(ANCHOR)}, '--workers', '1', '--batch', '${BATCH}', '--steps', '${steps}']`,
    "runpy.run_path(sys.argv[0], run_name='__main__')",
    's, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)',
    "print(f'cpu_s={s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime}')",
  ].join('\n');
  const res = spawnSync('/usr/bin/python3', ['-c', wrapper], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, timeout: 600_000 });
  const m = /cpu_s=([\d.]+)/.exec(res.stdout);
  return m ? Number(m[1]) : null;
}

/** PyTorch's CPU milliseconds per step: the difference of two runs over their difference in steps. */
function torchCpuMsPerStep(): number | null {
  const [short, long] = TORCH_CPU_STEPS.map(torchCpuSeconds);
  if (short == null || long == null) return null;
  return ((long - short) * 1000) / (TORCH_CPU_STEPS[1] - TORCH_CPU_STEPS[0]);
}

function torchSamplesPerS(): number | string {
  const anchor = ANCHOR;
  if (!existsSync(anchor)) return `skipped: ${anchor} not found`;
  const res = spawnSync('/usr/bin/python3', [anchor, '--workers', '1', '--batch', String(BATCH), '--steps', '40'], {
    encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, timeout: 600_000,
  });
  const m = /samples_per_s_total=([\d.]+)/.exec(res.stdout);
  return m ? Number(m[1]) : `failed: ${(res.stderr || res.stdout).trim().split('\n').pop()}`;
}

const wasm = await createWasmBackend();
const cpu = createCpuBackend();
console.log(`bench cpu-backends — MoCo step 256→512→512→128, batch ${BATCH}, queue 4096, 1 worker; ${STEPS} timed steps after ${WARMUP}`);
for (const [r, c, d] of [[64, 512, 256], [64, 4096, 128]] as const) {
  console.log(`GEMM ${r}×${c}×${d}: wasm ${gemmGflops(wasm, r, c, d).toFixed(2)} GFLOP/s, float64 TS ${gemmGflops(cpu, r, c, d).toFixed(2)} GFLOP/s`);
}
const rows: [string, number][] = [];
const cpuMsOf: [string, number][] = [];
for (const [name, be] of [['WebAssembly SIMD backend', wasm], ['float64 TypeScript backend', cpu]] as const) {
  const ms = await stepMs(be);
  rows.push([name, (BATCH * 1000) / ms.wall]);
  cpuMsOf.push([name, ms.cpu]);
  console.log(`${name}: ${ms.wall.toFixed(1)} ms/step wall (${ms.cpu.toFixed(1)} ms CPU), ${((BATCH * 1000) / ms.wall).toFixed(0)} samples/s`);
}
const torch = process.env.BENCH_TORCH === '0' ? 'skipped (BENCH_TORCH=0)' : torchSamplesPerS();
console.log(`PyTorch, 1 process: ${typeof torch === 'number' ? `${torch.toFixed(0)} samples/s` : torch}`);
if (typeof torch === 'number') for (const [name, s] of rows) console.log(`${name} / PyTorch: ${(s / torch).toFixed(3)}×`);
const torchCpu = typeof torch === 'number' ? torchCpuMsPerStep() : null;
if (torchCpu !== null) {
  console.log(`PyTorch CPU time per step: ${torchCpu.toFixed(1)} ms (runs of ${TORCH_CPU_STEPS.join(' and ')} steps, subtracted)`);
  for (const [name, ms] of cpuMsOf) console.log(`${name} / PyTorch in CPU time per step: ${(torchCpu / ms).toFixed(3)}×`);
}
console.log(`WebAssembly SIMD / float64 TypeScript: ${(rows[0]![1] / rows[1]![1]).toFixed(2)}×`);
