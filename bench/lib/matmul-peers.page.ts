/**
 * Page side of bench:kernels' peer table: our matmuls (WebGPU backend, wasm backend) against tfjs's
 * `matMul` on the same WebGPU adapter and on tfjs-wasm, at the anchor workload's shapes. Each product
 * is checked against a float64 reference before it is timed, so a peer that computes something else is
 * reported as an error rather than as a speed. Results are plain JSON.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import { createWasmBackend } from '../../src/backend/wasm/index.ts';
import { WebGpuBackend } from '../../src/gpu/webgpu-backend.ts';
import { timeGpu, timeHost } from './timing.ts';

/** tfjs-wasm fetches its .wasm files at run time: from the package, as the dev server serves it. */
const TFJS_WASM_PATH = '/node_modules/@tensorflow/tfjs-backend-wasm/dist/';
/** Alternating rounds of ours and tfjs on WebGPU per case (each round checks, then times, both). */
const GPU_ROUNDS = 3;
/** Largest relative error (against float64, scaled by Σ|a·b|) any product may show before it is timed. */
const MAX_REL_ERR = 1e-4;

export interface PeerRow {
  name: string;
  flops: number;
  /** ms per case (bwd: both products); tfjsWasmMs null when tfjs-wasm did not load. */
  oursGpuMs: number;
  tfjsGpuMs: number;
  oursWasmMs: number;
  tfjsWasmMs: number | null;
}

export interface PeerInfo {
  tfjsWasm: string;
  rows: PeerRow[];
}

interface Case {
  name: string;
  /**
   * fwd: C[m, n] = A[m, k] · B[n, k]ᵀ, as Linear forward and the InfoNCE logits run it.
   * bwd: Linear backward of y[m, n] = x[m, k] · w[n, k]ᵀ: dx = dy · w and dw = dyᵀ · x (two products).
   */
  kind: 'fwd' | 'bwd';
  m: number;
  n: number;
  k: number;
}

/** The anchor's products (256 → 512 → 512 → 128, batch 64, queue 4096). */
const CASES: Case[] = [
  { name: 'linear fwd 64×256 · 512×256ᵀ', kind: 'fwd', m: 64, n: 512, k: 256 },
  { name: 'linear fwd 64×512 · 512×512ᵀ', kind: 'fwd', m: 64, n: 512, k: 512 },
  { name: 'linear fwd 64×512 · 128×512ᵀ', kind: 'fwd', m: 64, n: 128, k: 512 },
  { name: 'logits 64×128 · 4096×128ᵀ', kind: 'fwd', m: 64, n: 4096, k: 128 },
  { name: 'linear bwd dx+dw, x 64×256, w 512×256', kind: 'bwd', m: 64, n: 512, k: 256 },
  { name: 'linear bwd dx+dw, x 64×512, w 512×512', kind: 'bwd', m: 64, n: 512, k: 512 },
];

function rand(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * 12.9898 + seed) * 0.5);
}

/** Max |got − want| / Σ_p |A(i, p)·B(p, j)| over C[rows, cols] = A · B (accessors), in float64. */
function relErr(got: Float32Array, rows: number, cols: number, depth: number, a: (i: number, p: number) => number, b: (p: number, j: number) => number): number {
  let worst = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      let mag = 0;
      for (let p = 0; p < depth; p++) {
        const v = a(i, p) * b(p, j);
        s += v;
        mag += Math.abs(v);
      }
      worst = Math.max(worst, Math.abs(got[i * cols + j]! - s) / Math.max(mag, 1e-30));
    }
  }
  return worst;
}

/**
 * Operands of a case: fwd a = A [m, k], bt = B [n, k]; bwd a = x [m, k], bt = w [n, k], dy [m, n].
 * `b` is bt transposed, [k, n]: the layout of tfjs's own Dense kernel, which tfjs multiplies fastest
 * (its wasm matMul with transposeB runs ~10× slower here), so tfjs gets it.
 * `verify` checks the products (fwd: [C]; bwd: [dx, dw], dw as [n, k] for ours and [k, n] for tfjs).
 */
function operands(c: Case) {
  const a = rand(c.m * c.k, 1);
  const bt = rand(c.n * c.k, 2);
  const b = new Float32Array(c.k * c.n);
  for (let j = 0; j < c.n; j++) for (let p = 0; p < c.k; p++) b[p * c.n + j] = bt[j * c.k + p]!;
  const dy = rand(c.m * c.n, 3);
  const verify = (who: string, products: Float32Array[], dwLayout: 'nk' | 'kn' = 'nk'): void => {
    const errs = c.kind === 'fwd'
      ? [relErr(products[0]!, c.m, c.n, c.k, (i, p) => a[i * c.k + p]!, (p, j) => bt[j * c.k + p]!)]
      : [
        relErr(products[0]!, c.m, c.k, c.n, (i, p) => dy[i * c.n + p]!, (p, j) => bt[p * c.k + j]!),
        dwLayout === 'nk'
          ? relErr(products[1]!, c.n, c.k, c.m, (o, r) => dy[r * c.n + o]!, (r, j) => a[r * c.k + j]!)
          : relErr(products[1]!, c.k, c.n, c.m, (j, r) => a[r * c.k + j]!, (r, o) => dy[r * c.n + o]!),
      ];
    for (const err of errs) if (!(err <= MAX_REL_ERR)) throw new Error(`${who} ${c.name}: relative error ${err} against float64 (limit ${MAX_REL_ERR})`);
  };
  return { a, bt, b, dy, verify };
}

type Operands = ReturnType<typeof operands>;

/** The case's products on one of our backends (bwd: Linear backward without bias, as one op). */
function ourProducts(b: Backend, c: Case, ta: Tensor, tb: Tensor, tdy: Tensor): Tensor[] {
  if (c.kind === 'fwd') return [b.matmulNT(ta, tb)];
  const r = b.linearBackward(tdy, ta, tb, { needDx: true, hasBias: false });
  return [r.dx!, r.dw];
}

async function ours(b: Backend, c: Case, o: Operands, gpu: boolean): Promise<number> {
  const ta = b.fromArray(o.a, [c.m, c.k]);
  const tb = b.fromArray(o.bt, [c.n, c.k]);
  const tdy = b.fromArray(o.dy, [c.m, c.n]);
  const first = ourProducts(b, c, ta, tb, tdy);
  o.verify(gpu ? 'ours (WebGPU)' : 'ours (wasm)', await Promise.all(first.map((t) => b.read(t))));
  first.forEach((t) => b.dispose(t));
  const op = (): void => ourProducts(b, c, ta, tb, tdy).forEach((t) => b.dispose(t));
  const ms = gpu ? await timeGpu(op, () => b.flush()) : timeHost(op);
  [ta, tb, tdy].forEach((t) => b.dispose(t));
  return ms;
}

/** As tfjs's Dense layer runs them with kernel w [k, n]: y = x·w, dx = dy·wᵀ, dw = xᵀ·dy. */
function tfjsProducts(c: Case, ta: tf.Tensor2D, tw: tf.Tensor2D, tdy: tf.Tensor2D): tf.Tensor[] {
  if (c.kind === 'fwd') return [tf.matMul(ta, tw)];
  return [tf.matMul(tdy, tw, false, true), tf.matMul(ta, tdy, true, false)];
}

async function tfjs(backendName: 'webgpu' | 'wasm', c: Case, o: Operands): Promise<number> {
  await tf.setBackend(backendName);
  await tf.ready();
  const ta = tf.tensor2d(o.a, [c.m, c.k]);
  const tb = tf.tensor2d(o.b, [c.k, c.n]);
  const tdy = tf.tensor2d(o.dy, [c.m, c.n]);
  const first = tfjsProducts(c, ta, tb, tdy);
  o.verify(`tfjs-${backendName}`, (await Promise.all(first.map((t) => t.data()))) as Float32Array[], 'kn');
  first.forEach((t) => t.dispose());
  let last: tf.Tensor[] = [];
  const op = (): void => {
    last.forEach((t) => t.dispose());
    last = tfjsProducts(c, ta, tb, tdy);
  };
  // Waiting for one element of the newest product waits for every product before it (one queue).
  const sync = async (): Promise<void> => {
    const corner = tf.slice(last[last.length - 1]!, [0, 0], [1, 1]);
    await corner.data();
    corner.dispose();
  };
  const ms = backendName === 'webgpu' ? await timeGpu(op, sync) : timeHost(op);
  [...last, ta, tb, tdy].forEach((t) => t.dispose());
  return ms;
}

/** Every case on the four implementations. tfjs-wasm failing to load is reported, not fatal. */
export async function matmulPeers(): Promise<PeerInfo> {
  const gpu = await WebGpuBackend.create();
  const wasm = await createWasmBackend();
  setWasmPaths(TFJS_WASM_PATH);
  let tfjsWasm = 'not loaded';
  try {
    if (await tf.setBackend('wasm')) {
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      tfjsWasm = `loaded (SIMD ${simd ? 'on' : 'off'}, threads ${threads ? 'on' : 'off: the page is not cross-origin isolated'})`;
    }
  } catch (err) {
    tfjsWasm = `failed to load: ${(err as Error).message}`;
  }
  const rows: PeerRow[] = [];
  try {
    for (const c of CASES) {
      const o = operands(c);
      // Ours and tfjs take turns, so a swing of the machine's load hits both; best of the rounds.
      let oursGpuMs = Infinity;
      let tfjsGpuMs = Infinity;
      for (let round = 0; round < GPU_ROUNDS; round++) {
        oursGpuMs = Math.min(oursGpuMs, await ours(gpu, c, o, true));
        tfjsGpuMs = Math.min(tfjsGpuMs, await tfjs('webgpu', c, o));
      }
      rows.push({
        name: c.name,
        flops: (c.kind === 'fwd' ? 2 : 4) * c.m * c.n * c.k,
        oursGpuMs,
        tfjsGpuMs,
        oursWasmMs: await ours(wasm, c, o, false),
        tfjsWasmMs: tfjsWasm.startsWith('loaded') ? await tfjs('wasm', c, o) : null,
      });
    }
  } finally {
    gpu.destroy();
    wasm.destroy();
  }
  return { tfjsWasm, rows };
}
