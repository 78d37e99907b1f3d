/**
 * The wasm kernels split by rows across a thread pool (src/backend/wasm/pool.ts), here on Node's
 * worker_threads over one shared WebAssembly.Memory (the browser's pool runs the same jobs in Web
 * Workers: tests/backend/wasm-threads.browser.test.ts). Every row of a product or a softmax is computed
 * by one thread in the same order as on one thread, so the split results must equal the one-thread
 * kernels bit for bit, and the float64 reference within the GEMM's float32 bound. Split thresholds are
 * 0, so even 1-row and 2-row calls are dealt out; row counts that 2, 3 and 4 threads split unevenly
 * (and blocks that leave a thread without rows) are all here. Before every call the whole memory is
 * poisoned with NaN, so rows a thread failed to write show up.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { FLOAT64_KERNELS as REF } from '../../src/backend/cpu/kernel-table.ts';
import { KernelPool, MAX_SHARED_MEMORY_BYTES, WasmHeap, createWasmBackend, instantiateKernels, instantiateSharedKernels, wasmKernels } from '../../src/backend/wasm/index.ts';
import { spawnNodeThread } from '../../src/backend/wasm/node-threads.ts';
import type { SpawnThread } from '../../src/backend/wasm/pool.ts';
import { randn } from './helpers.ts';

const U32 = 2 ** -23;
const f32 = (n: number, seed: number, std = 1) => Float32Array.from(randn(n, seed, 0, std));
const NAN = (n: number) => new Float32Array(n).fill(Number.NaN);

const ONE = wasmKernels(new WasmHeap(await instantiateKernels()));
const pools: KernelPool[] = [];

async function splitKernels(threads: number) {
  const shared = await instantiateSharedKernels();
  const pool = await KernelPool.start(shared, { threads, spawn: spawnNodeThread, minSplitMuladds: 0, minSplitLogits: 0 });
  pools.push(pool);
  const heap = new WasmHeap(shared.exports, MAX_SHARED_MEMORY_BYTES);
  const kernels = wasmKernels(heap, pool.kernels());
  /** Runs `f` on a memory filled with NaN above the module's own data. */
  const poisoned = <T>(f: () => T): T => {
    heap.alloc('poison', 4 * 1024 * 1024);
    heap.f32.fill(Number.NaN, Math.ceil(shared.exports.heapBase() / 4));
    return f();
  };
  return { pool, kernels, poisoned };
}
afterAll(() => pools.forEach((p) => p.close()));

function expectIdentical(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect.fail(`${what}[${i}]: split ${actual[i]}, one thread ${expected[i]}`);
  }
}

/** |split − float64| ≤ (depth + 1)·2⁻²³·Σ_k|a·b| per element, as in wasm-kernels.test.ts. */
function expectWithinProductBound(out: Float32Array, a: Float32Array, b: Float32Array, rows: number, cols: number, depth: number, what: string): void {
  const ref = new Float64Array(rows * cols);
  REF.matmulNT(Float64Array.from(a), Float64Array.from(b), rows, cols, depth, null, ref);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < depth; k++) s += Math.abs(a[i * depth + k]! * b[j * depth + k]!);
      const err = Math.abs(out[i * cols + j]! - ref[i * cols + j]!);
      if (!(err <= (depth + 1) * U32 * s + 1e-30)) expect.fail(`${what}[${i}, ${j}]: got ${out[i * cols + j]}, float64 ${ref[i * cols + j]}`);
    }
  }
}

// [rows, cols, depth]: 1 and 2 rows, row counts 2, 3 and 4 threads split unevenly (blocks of 4 rows,
// so 5 rows on 4 threads leave two threads idle), and the GEMM's transposed form (rows < cols).
const SHAPES: [number, number, number][] = [[1, 9, 5], [2, 3, 7], [5, 4, 3], [7, 13, 33], [13, 6, 20], [9, 70, 300], [64, 40, 24]];

describe.each([2, 3, 4])('%i threads', async (threads) => {
  const { kernels: T, poisoned } = await splitKernels(threads);

  it.each(SHAPES)('matmulNT %i × %i × %i equals one thread bit for bit, and float64 within the float32 bound', (rows, cols, depth) => {
    const a = f32(rows * depth, 1);
    const b = f32(cols * depth, 2);
    const bias = f32(cols, 3);
    const one = NAN(rows * cols);
    ONE.matmulNT(a, b, rows, cols, depth, bias, one);
    const split = NAN(rows * cols);
    poisoned(() => T.matmulNT(a, b, rows, cols, depth, bias, split));
    expectIdentical(split, one, 'matmulNT');
    const noBias = NAN(rows * cols);
    poisoned(() => T.matmulNT(a, b, rows, cols, depth, null, noBias));
    expectWithinProductBound(noBias, a, b, rows, cols, depth, 'matmulNT');
  });

  it.each(SHAPES)('linear backward dx, dw, db: N %i, out %i, in %i', (rows, outDim, inDim) => {
    const dy = f32(rows * outDim, 4);
    const x = f32(rows * inDim, 5);
    const w = f32(outDim * inDim, 6);
    const [dx1, dx2] = [NAN(rows * inDim), NAN(rows * inDim)];
    ONE.linearDx(dy, w, rows, outDim, inDim, dx1);
    poisoned(() => T.linearDx(dy, w, rows, outDim, inDim, dx2));
    expectIdentical(dx2, dx1, 'dx');
    const [dw1, dw2, db1, db2] = [NAN(outDim * inDim), NAN(outDim * inDim), NAN(outDim), NAN(outDim)];
    ONE.linearDw(dy, x, rows, outDim, inDim, dw1, db1);
    poisoned(() => T.linearDw(dy, x, rows, outDim, inDim, dw2, db2));
    expectIdentical(dw2, dw1, 'dw');
    expectIdentical(db2, db1, 'db');
  });

  it.each([[1, 8, 5], [3, 16, 7], [9, 12, 40], [64, 32, 257]])('infoNce and its backward, %i rows, dim %i, queue %i', (rows, dim, queueRows) => {
    const q = f32(rows * dim, 7, 0.3);
    const kPos = f32(rows * dim, 8, 0.3);
    const queue = f32(queueRows * dim, 9, 0.3);
    const width = 1 + queueRows;
    const [l1, l2] = [NAN(rows * width), NAN(rows * width)];
    const r1 = ONE.infoNce(q, kPos, queue, rows, dim, queueRows, 0.2, l1);
    const r2 = poisoned(() => T.infoNce(q, kPos, queue, rows, dim, queueRows, 0.2, l2));
    expectIdentical(l2, l1, 'logits');
    expect(r2).toEqual(r1);
    expect(Number.isFinite(r2.loss)).toBe(true);
    const [dq1, dq2] = [NAN(rows * dim), NAN(rows * dim)];
    ONE.infoNceBackward(l1, kPos, queue, rows, dim, queueRows, 0.2, dq1);
    poisoned(() => T.infoNceBackward(l1, kPos, queue, rows, dim, queueRows, 0.2, dq2));
    expectIdentical(dq2, dq1, 'dq');
  });
});

describe('where threads cannot run', () => {
  it('Node without a spawner runs one thread and says why', async () => {
    const be = await createWasmBackend();
    expect(be.threads).toBe(1);
    expect(be.label).toContain('1 thread (no Web Workers here)');
    be.destroy();
  });

  it('a helper that fails to start leaves one thread, with the error in the label', async () => {
    const broken: SpawnThread = () => {
      let fail: (err: unknown) => void = () => {};
      return { post: () => queueMicrotask(() => fail(new Error('no thread for you'))), onMessage: () => {}, onError: (cb) => (fail = cb), terminate: () => {} };
    };
    const be = await createWasmBackend({ threads: 2, spawn: broken });
    expect(be.threads).toBe(1);
    expect(be.label).toContain('threads failed to start: a helper thread failed: no thread for you');
    be.destroy();
  });

  it('asked for 2 threads with a spawner, it runs 2 and says so', async () => {
    const be = await createWasmBackend({ threads: 2, spawn: spawnNodeThread });
    expect(be.threads).toBe(2);
    expect(be.label).toBe('CPU (WebAssembly SIMD) · 2 threads');
    be.destroy();
  });
});
