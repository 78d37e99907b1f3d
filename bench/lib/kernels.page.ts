/**
 * Page side of bench/kernels.ts: BN statistics (ours vs tf.moments on tfjs-webgpu vs a plain buffer
 * copy vs a read-only reduction of the same tensor vs a float64 JavaScript loop), matmul GFLOP/s at
 * the training shapes, and per-op overhead.
 * Everything runs on the same adapter in one page; results are returned as plain JSON.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import type { BnLayout, Tensor } from '../../src/backend/backend.ts';
import { WebGpuBackend } from '../../src/gpu/webgpu-backend.ts';
import type { GpuTensor } from '../../src/gpu/tensor.ts';
import { ReadSum } from './read-sum.ts';
import { timeGpu, timeHost } from './timing.ts';

export interface BnRow {
  shape: string;
  /** Best time per call, calls queued back to back (as the read-only reduction and the copy are timed). */
  oursMs: number;
  oursGBs: number;
  /** Best time per call end to end, variance read back after each call (as tf.moments is timed). */
  oursE2eMs: number;
  tfjsMs: number;
  copyMs: number;
  copyGBs: number;
  /** A shader reading every element once (read_sum.wgsl): the bandwidth a reduction can reach here. */
  readMs: number;
  readGBs: number;
  jsMs: number;
  jsGBs: number;
  /** Max relative variance error of ours on 1000 + N(0, 1) vs a float64 two-pass reference. */
  maxRelVarErr: number;
}

export interface MatmulRow {
  name: string;
  m: number;
  n: number;
  k: number;
  ms: number;
  gflops: number;
}

export interface OverheadRow {
  what: string;
  usPerOp: number;
}

/** Alternating rounds of our statistics and the read-only reduction (best of each). */
const READ_ROUNDS = 3;
/** One call at a time, each read back before the next; best of at least 3 calls and 1 s (after one warm-up). */
const END_TO_END = { batch: 1, minReps: 3, minMs: 1000, warmup: 1 };

function offsetData(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const u = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 1000 + Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** Plain float64 loop: one pass of Σx and Σx² per channel over [n, c, hw] (what a JS port would write). */
function jsMoments(x: Float32Array, l: BnLayout, mean: Float64Array, variance: Float64Array): void {
  const { n, c, hw } = l;
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  let i = 0;
  for (let r = 0; r < n; r++) {
    for (let ch = 0; ch < c; ch++) {
      let a = 0;
      let b = 0;
      for (let p = 0; p < hw; p++) {
        const v = x[i++]!;
        a += v;
        b += v * v;
      }
      s1[ch] += a;
      s2[ch] += b;
    }
  }
  const count = n * hw;
  for (let ch = 0; ch < c; ch++) {
    mean[ch] = s1[ch]! / count;
    variance[ch] = s2[ch]! / count - mean[ch]! * mean[ch]!;
  }
}

/** Float64 two-pass reference variance per channel. */
function refVariance(x: Float32Array, l: BnLayout): Float64Array {
  const { n, c, hw } = l;
  const mean = new Float64Array(c);
  for (let r = 0; r < n; r++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) mean[ch] += x[(r * c + ch) * hw + p]!;
  for (let ch = 0; ch < c; ch++) mean[ch] = mean[ch]! / (n * hw);
  const m2 = new Float64Array(c);
  for (let r = 0; r < n; r++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) m2[ch] += (x[(r * c + ch) * hw + p]! - mean[ch]!) ** 2;
  return m2.map((v) => v / (n * hw));
}

let backend: WebGpuBackend | null = null;
async function gpu(): Promise<WebGpuBackend> {
  return (backend ??= await WebGpuBackend.create());
}

export async function adapter(): Promise<{ label: string; isFallbackAdapter: boolean; tfjsBackend: string }> {
  const b = await gpu();
  await tf.setBackend('webgpu');
  await tf.ready();
  return { label: b.label, isFallbackAdapter: b.isFallbackAdapter, tfjsBackend: tf.getBackend() };
}

export async function bnStatsBench(shape: number[]): Promise<BnRow> {
  const b = await gpu();
  const [n, c, h = 1, w = 1] = shape as [number, number, number?, number?];
  const l: BnLayout = { groups: 1, n, c, hw: h * w };
  const size = n * c * h * w;
  const bytes = size * 4;
  const data = offsetData(size, 42);
  const x = b.fromArray(data, [n, c, h * w]);

  const s = b.bnStats(x, l);
  const got = await b.read(s.var);
  b.dispose(s.mean);
  b.dispose(s.var);
  const want = refVariance(data, l);
  let maxRelVarErr = 0;
  for (let ch = 0; ch < c; ch++) maxRelVarErr = Math.max(maxRelVarErr, Math.abs(got[ch]! - want[ch]!) / want[ch]!);

  // Bandwidth limit: one buffer copy of the same size on the same device.
  const dev = b.device;
  const src = dev.createBuffer({ label: 'Bench.copySrc', size: bytes, usage: GPUBufferUsage.COPY_SRC });
  const dst = dev.createBuffer({ label: 'Bench.copyDst', size: bytes, usage: GPUBufferUsage.COPY_DST });
  const copyMs = await timeGpu(() => {
    const enc = dev.createCommandEncoder({ label: 'Bench.copy' });
    enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
    dev.queue.submit([enc.finish()]);
  }, () => dev.queue.onSubmittedWorkDone());
  src.destroy();
  dst.destroy();

  // Read-only reduction of the very tensor the statistics read; its sum must match float64 first.
  const reader = new ReadSum(dev, (x as GpuTensor).buffer, size);
  const readSum = await reader.sum();
  const exactSum = data.reduce((a, v) => a + v, 0);
  if (!(Math.abs(readSum - exactSum) <= 1e-4 * Math.abs(exactSum))) {
    reader.destroy();
    throw new Error(`read_sum.wgsl summed [${shape.join(', ')}] to ${readSum}, float64 says ${exactSum}: no bandwidth reported`);
  }
  // Ours and the read-only reduction take turns, so a swing of the machine's load hits both.
  let oursMs = Infinity;
  let readMs = Infinity;
  for (let round = 0; round < READ_ROUNDS; round++) {
    oursMs = Math.min(oursMs, await timeGpu(() => {
      const st = b.bnStats(x, l);
      b.dispose(st.mean);
      b.dispose(st.var);
    }, () => b.flush()));
    readMs = Math.min(readMs, await timeGpu(() => reader.run(), () => dev.queue.onSubmittedWorkDone()));
  }
  reader.destroy();

  // Ours against tf.moments on tfjs's WebGPU backend (its own device on the same adapter), both timed
  // the same way: end to end, one call at a time, each waiting for its variance to be read back
  // (which waits for the mean too: one queue). tfjs takes seconds per call here, hence few calls.
  const latest: { stats: { mean: Tensor; var: Tensor } | null } = { stats: null };
  const oursE2eMs = await timeGpu(() => {
    if (latest.stats) [latest.stats.mean, latest.stats.var].forEach((t) => b.dispose(t));
    latest.stats = b.bnStats(x, l);
  }, async () => {
    await b.read(latest.stats!.var);
  }, END_TO_END);
  if (latest.stats) [latest.stats.mean, latest.stats.var].forEach((t) => b.dispose(t));
  const tx = tf.tensor(data, h * w > 1 ? [n, c, h, w] : [n, c]);
  const axes = h * w > 1 ? [0, 2, 3] : [0];
  let last: tf.Tensor[] = [];
  const tfjsMs = await timeGpu(() => {
    last.forEach((t) => t.dispose());
    const m = tf.moments(tx, axes);
    last = [m.mean, m.variance];
  }, async () => {
    await last[1]!.data();
  }, END_TO_END);
  last.forEach((t) => t.dispose());
  tx.dispose();

  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  const jsMs = timeHost(() => jsMoments(data, l, mean, variance));
  b.dispose(x);
  const gbs = (ms: number): number => bytes / ms / 1e6;
  return { shape: `[${shape.join(', ')}]`, oursMs, oursGBs: gbs(oursMs), oursE2eMs, tfjsMs, copyMs, copyGBs: gbs(copyMs), readMs, readGBs: gbs(readMs), jsMs, jsGBs: gbs(jsMs), maxRelVarErr };
}

/** C[m, n] = A[m, k] · B[n, k]ᵀ (+ bias) as the Linear layer runs it, and its backward products. */
export async function matmulBench(): Promise<MatmulRow[]> {
  const b = await gpu();
  const rows: MatmulRow[] = [];
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const cases: [string, number, number, number, (x: Tensor, w: Tensor, dy: Tensor) => Tensor[]][] = [];
  for (const [m, k, n] of [[64, 256, 512], [64, 512, 512], [64, 512, 128], [256, 512, 512]] as const) {
    cases.push([`linear fwd ${m}×${k} · ${n}×${k}ᵀ`, m, n, k, (x, w) => [b.linear(x, w, null)]]);
    cases.push([`linear bwd dX+dW ${m}×${k}, ${n}×${k}`, m, n, k, (x, w, dy) => {
      const r = b.linearBackward(dy, x, w, { needDx: true, hasBias: true });
      return [r.dx!, r.dw, r.db!];
    }]);
  }
  for (const [name, m, n, k, op] of cases) {
    const x = b.fromArray(rand(m * k), [m, k]);
    const w = b.fromArray(rand(n * k), [n, k]);
    const dy = b.fromArray(rand(m * n), [m, n]);
    const ms = await timeGpu(() => op(x, w, dy).forEach((t) => b.dispose(t)), () => b.flush());
    const flops = name.includes('bwd') ? 4 * m * n * k : 2 * m * n * k;
    rows.push({ name, m, n, k, ms, gflops: flops / ms / 1e6 });
    [x, w, dy].forEach((t) => b.dispose(t));
  }
  const q = b.fromArray(rand(32 * 128), [32, 128]);
  const queue = b.fromArray(rand(1024 * 128), [1024, 128]);
  const ms = await timeGpu(() => b.dispose(b.matmulNT(q, queue)), () => b.flush());
  rows.push({ name: 'matmulNT 32×128 · 1024×128ᵀ (InfoNCE logits)', m: 32, n: 1024, k: 128, ms, gflops: (2 * 32 * 1024 * 128) / ms / 1e6 });
  b.dispose(q);
  b.dispose(queue);
  return rows;
}

/** Ops at the default training shapes (8 workers × 8 samples per tab of 4 workers: 32 rows). */
export async function trainingOpsBench(): Promise<OverheadRow[]> {
  const b = await gpu();
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5 + 0.1);
  const x = b.fromArray(rand(32 * 512), [32, 512]);
  const w = b.fromArray(rand(512 * 256), [512, 256]);
  const x256 = b.fromArray(rand(32 * 256), [32, 256]);
  const q = b.fromArray(rand(32 * 128), [32, 128]);
  const queue = b.fromArray(rand(1024 * 128), [1024, 128]);
  const l = { groups: 4, n: 8, c: 512, hw: 1 };
  const s = b.bnStats(x, l);
  const rows: OverheadRow[] = [];
  const ops: [string, () => void][] = [
    ['add [32, 512] (vec4 elementwise)', () => b.dispose(b.add(x, x))],
    ['bnStats [4 groups × 8, 512]', () => { const r = b.bnStats(x, l); b.dispose(r.mean); b.dispose(r.var); }],
    ['bnApply [32, 512]', () => b.dispose(b.bnApply(x, l, s.mean, s.var, null, null, 1e-5))],
    ['bnBackward [32, 512] (no affine)', () => b.dispose(b.bnBackward(x, x, l, s.mean, s.var, null, 1e-5).dx)],
    ['linear [32, 256] → 512', () => b.dispose(b.linear(x256, w, null))],
    ['l2Normalize [32, 128]', () => b.dispose(b.l2Normalize(q))],
    ['infoNce [32, 128] vs queue [1024, 128]', () => { const r = b.infoNce(q, q, queue, 0.1); [r.loss, r.logits, r.correct].forEach((t) => b.dispose(t)); }],
  ];
  for (const [what, op] of ops) rows.push({ what, usPerOp: (await timeGpu(op, () => b.flush())) * 1000 });
  [x, w, x256, q, queue, s.mean, s.var].forEach((t) => b.dispose(t));
  return rows;
}

/** Cost per small op: recording only (JS + encoding + pool), and end to end with the GPU work. */
export async function overheadBench(): Promise<OverheadRow[]> {
  const b = await gpu();
  const a = b.fromArray(new Float32Array(64).fill(1), [64]);
  const ops = 1000;
  const loop = (): void => {
    for (let i = 0; i < ops; i++) b.dispose(b.add(a, a));
  };
  loop();
  await b.flush();
  let recordBest = Infinity;
  let totalBest = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    loop();
    const t1 = performance.now();
    await b.flush();
    const t2 = performance.now();
    recordBest = Math.min(recordBest, t1 - t0);
    totalBest = Math.min(totalBest, t2 - t0);
  }
  const submitsBefore = b.runtime.recorder.submits;
  loop();
  await b.flush();
  const submits = b.runtime.recorder.submits - submitsBefore;
  b.dispose(a);
  return [
    { what: 'add [64]: record only (JS + encode + pool)', usPerOp: (recordBest / ops) * 1000 },
    { what: `add [64]: recorded + executed (${submits} submits per ${ops} ops)`, usPerOp: (totalBest / ops) * 1000 },
  ];
}

export function destroy(): void {
  backend?.destroy();
  backend = null;
}
