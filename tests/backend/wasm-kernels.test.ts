/**
 * Every wasm kernel (src/backend/wasm/kernels.ts over wasm/*.ts) against the CPU backend's kernel of
 * the same signature run in float64 on the same float32 inputs (the reference).
 *
 * Tolerances, from how each kernel rounds:
 * - Dense products sum in float32 in k order: |ours − ref| ≤ depth·2⁻²³·Σ_k|a·b| per element (the
 *   textbook bound for recursive summation is depth·u with u = 2⁻²⁴, doubled for the output rounding).
 * - BatchNorm kernels compute in float64 like the reference (only the summation order differs): mean
 *   and M2 to 1e-12 relative, and float32 outputs to one float32 rounding (2⁻²³ relative) plus 1e-12
 *   of the array's scale for entries produced by cancellation.
 * Shapes cover every code path of the GEMM (4 × 8 tiles, 1-row, 4-wide and scalar tails, k-chunks,
 * both loop orders) and of the
 * column kernels (odd and even column counts, hw > 1, several groups).
 */
import { describe, expect, it } from 'vitest';
import type { BnLayout } from '../../src/backend/backend.ts';
import { FLOAT64_KERNELS as REF } from '../../src/backend/cpu/kernel-table.ts';
import { WasmHeap, instantiateKernels, wasmKernels } from '../../src/backend/wasm/index.ts';
import { crossEntropyTarget0, infoNceLogitGrads } from '../../src/backend/cpu/loss.ts';
import { expectClose, randn } from './helpers.ts';

const U32 = 2 ** -23;
const W = wasmKernels(new WasmHeap(await instantiateKernels()));

const f32 = (n: number, seed: number, mean = 0, std = 1) => Float32Array.from(randn(n, seed, mean, std));
const f64 = (a: Float32Array) => Float64Array.from(a);
const NAN = (n: number) => new Float32Array(n).fill(Number.NaN);

/** Per-element bound depth·2⁻²³·Σ|a·b| for out[i, j] = Σ_k A(i, k)·B(k, j), given |A| and |B| as products. */
function productBound(absA: (i: number, k: number) => number, absB: (k: number, j: number) => number, m: number, n: number, depth: number): Float64Array {
  const bound = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < depth; k++) s += absA(i, k) * absB(k, j);
      bound[i * n + j] = (depth + 1) * U32 * s + 1e-30;
    }
  }
  return bound;
}

function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, bound: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!);
    if (!(err <= bound[i]!)) expect.fail(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (bound ${bound[i]})`);
  }
}

const SHAPES: [number, number, number][] = [
  // [rows, cols, depth]
  [1, 1, 1], [3, 5, 7], [4, 8, 16], [5, 13, 9], [8, 16, 3], [7, 12, 33], [64, 40, 24], [9, 4, 0],
  // depth over one k-chunk (256) with a remainder; wide enough for the column-outer order
  [6, 20, 300], [5, 70, 520],
];

describe('wasm GEMM against the float64 reference', () => {
  it.each(SHAPES)('matmulNT (linear forward, logits) %i × %i × %i, with and without bias', (rows, cols, depth) => {
    const a = f32(rows * depth, 1);
    const b = f32(cols * depth, 2);
    const bias = f32(cols, 3);
    for (const withBias of [false, true]) {
      const ref = new Float64Array(rows * cols);
      REF.matmulNT(f64(a), f64(b), rows, cols, depth, withBias ? f64(bias) : null, ref);
      const out = NAN(rows * cols);
      W.matmulNT(a, b, rows, cols, depth, withBias ? bias : null, out);
      const bound = productBound((i, k) => Math.abs(a[i * depth + k]!), (k, j) => Math.abs(b[j * depth + k]!), rows, cols, depth);
      if (withBias) for (let j = 0; j < rows * cols; j++) bound[j] = bound[j]! + U32 * Math.abs(ref[j]!);
      expectWithin(out, ref, bound, `matmulNT bias=${withBias}`);
    }
  });

  it.each(SHAPES)('linear backward dx and dw, db: N %i, out %i, in %i', (rows, outDim, inDim) => {
    const dy = f32(rows * outDim, 4);
    const x = f32(rows * inDim, 5);
    const w = f32(outDim * inDim, 6);
    const dxRef = new Float64Array(rows * inDim);
    REF.linearDx(f64(dy), f64(w), rows, outDim, inDim, dxRef);
    const dx = NAN(rows * inDim);
    W.linearDx(dy, w, rows, outDim, inDim, dx);
    expectWithin(dx, dxRef, productBound((i, k) => Math.abs(dy[i * outDim + k]!), (k, j) => Math.abs(w[k * inDim + j]!), rows, inDim, outDim), 'dx');

    const dwRef = new Float64Array(outDim * inDim);
    const dbRef = new Float64Array(outDim);
    REF.linearDw(f64(dy), f64(x), rows, outDim, inDim, dwRef, dbRef);
    const dw = NAN(outDim * inDim);
    const db = NAN(outDim);
    W.linearDw(dy, x, rows, outDim, inDim, dw, db);
    expectWithin(dw, dwRef, productBound((o, r) => Math.abs(dy[r * outDim + o]!), (r, i) => Math.abs(x[r * inDim + i]!), outDim, inDim, rows), 'dw');
    expectClose(db, dbRef, U32, 1e-30, 'db');
  });

  it('the anchor workload sizes: 64 × 512 × 256 forward, 64 × 4096 × 128 logits', () => {
    for (const [rows, cols, depth] of [[64, 512, 256], [64, 4096, 128]] as const) {
      const a = f32(rows * depth, 7);
      const b = f32(cols * depth, 8, 0, 0.1);
      const ref = new Float64Array(rows * cols);
      REF.matmulNT(f64(a), f64(b), rows, cols, depth, null, ref);
      const out = NAN(rows * cols);
      W.matmulNT(a, b, rows, cols, depth, null, out);
      expectWithin(out, ref, productBound((i, k) => Math.abs(a[i * depth + k]!), (k, j) => Math.abs(b[j * depth + k]!), rows, cols, depth), `${rows}×${cols}×${depth}`);
    }
  });
});

const LAYOUTS: [string, BnLayout][] = [
  ['[N, C] one group', { groups: 1, n: 6, c: 5, hw: 1 }],
  ['[N, C] 3 groups, even c', { groups: 3, n: 4, c: 8, hw: 1 }],
  ['[N, C, H, W] 2 groups', { groups: 2, n: 3, c: 3, hw: 7 }],
  ['[N, C, H, W] hw 4', { groups: 2, n: 5, c: 4, hw: 4 }],
  ['anchor layer [64, 512]', { groups: 1, n: 64, c: 512, hw: 1 }],
];
const EPS = 1e-5;

/** 2⁻²³ of |ref| plus 1e-12 of the array's largest |value|: one float32 rounding of a float64 result. */
function expectOneRounding(actual: ArrayLike<number>, ref: ArrayLike<number>, what: string): void {
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
  expectClose(actual, ref, U32, 1e-12 * scale + 1e-300, what);
}

describe.each(LAYOUTS)('wasm BatchNorm kernels against the float64 reference, %s', (_name, layout) => {
  const size = layout.groups * layout.n * layout.c * layout.hw;
  const per = layout.groups * layout.c;
  const x = f32(size, 11, 3, 2);
  const dy = f32(size, 12);
  const gamma = f32(layout.c, 13, 1, 0.3);
  const beta = f32(layout.c, 14);
  const refMean = new Float64Array(per);
  const refM2 = new Float64Array(per);
  REF.bnPartial(f64(x), layout, refMean, refM2);
  const count = layout.n * layout.hw;
  // The statistics the backend would pass on: float32 mean and variance.
  const mean = Float32Array.from(refMean);
  const variance = Float32Array.from(refM2, (m) => m / count);

  it('bnPartial: mean and M2 (float64 out) to 1e-12', () => {
    const m = new Float64Array(per).fill(Number.NaN);
    const m2 = new Float64Array(per).fill(Number.NaN);
    W.bnPartial(x, layout, m, m2);
    expectClose(m, refMean, 1e-12, 0, 'mean');
    expectClose(m2, refM2, 1e-12, 0, 'm2');
  });

  it.each([['affine', true], ['no affine', false]] as const)('bnApply and bnBackward (%s)', (_a, affine) => {
    const g = affine ? gamma : null;
    const yRef = new Float64Array(size);
    REF.bnApply(f64(x), layout, f64(mean), f64(variance), g && f64(g), affine ? f64(beta) : null, EPS, yRef);
    const y = NAN(size);
    W.bnApply(x, layout, mean, variance, g, affine ? beta : null, EPS, y);
    expectOneRounding(y, yRef, 'y');

    const dxRef = new Float64Array(size);
    const dgRef = new Float64Array(layout.c);
    const dbRef = new Float64Array(layout.c);
    REF.bnBackward(f64(dy), f64(x), layout, f64(mean), f64(variance), g && f64(g), EPS, dxRef, affine ? dgRef : null, affine ? dbRef : null);
    const dx = NAN(size);
    const dgamma = new Float64Array(layout.c).fill(Number.NaN);
    const dbeta = new Float64Array(layout.c).fill(Number.NaN);
    W.bnBackward(dy, x, layout, mean, variance, g, EPS, dx, affine ? dgamma : null, affine ? dbeta : null);
    expectOneRounding(dx, dxRef, 'dx');
    if (affine) {
      expectClose(dgamma, dgRef, 1e-12, 1e-12, 'dgamma');
      expectClose(dbeta, dbRef, 1e-12, 1e-12, 'dbeta');
    }
  });

  it('bnBackwardBorrowed and bnStatsBackward', () => {
    const dxRef = new Float64Array(size);
    const dmRef = new Float64Array(per);
    const dvRef = new Float64Array(per);
    const dgRef = new Float64Array(layout.c);
    const dbRef = new Float64Array(layout.c);
    REF.bnBackwardBorrowed(f64(dy), f64(x), layout, f64(mean), f64(variance), f64(gamma), EPS, dxRef, dgRef, dbRef, dmRef, dvRef);
    const dx = NAN(size);
    const [dg, db, dm, dv] = [layout.c, layout.c, per, per].map((n) => new Float64Array(n).fill(Number.NaN)) as [Float64Array, Float64Array, Float64Array, Float64Array];
    W.bnBackwardBorrowed(dy, x, layout, mean, variance, gamma, EPS, dx, dg, db, dm, dv);
    expectOneRounding(dx, dxRef, 'dx');
    for (const [a, r, what] of [[dg, dgRef, 'dgamma'], [db, dbRef, 'dbeta'], [dm, dmRef, 'dmean'], [dv, dvRef, 'dvar']] as const) {
      expectClose(a, r, 1e-12, 1e-12, what);
    }

    const dmean = Float32Array.from(dmRef);
    const dvar = Float32Array.from(dvRef);
    const sRef = new Float64Array(size);
    REF.bnStatsBackward(f64(x), layout, f64(mean), f64(dmean), f64(dvar), sRef);
    const s = NAN(size);
    W.bnStatsBackward(x, layout, mean, dmean, dvar, s);
    expectOneRounding(s, sRef, 'stats dx');
  });
});

describe('wasm BN statistics keep the shifted sums (large mean, small spread)', () => {
  it('1e4 + N(0, 1e-2): variance to 1e-12 of the float64 reference; float32 E[x²] − E[x]² would be off by > 1e-2', () => {
    const layout: BnLayout = { groups: 2, n: 64, c: 3, hw: 16 };
    const x = f32(layout.groups * layout.n * layout.c * layout.hw, 7, 1e4, 1e-2);
    const refMean = new Float64Array(6);
    const refM2 = new Float64Array(6);
    REF.bnPartial(f64(x), layout, refMean, refM2);
    const m = new Float64Array(6);
    const m2 = new Float64Array(6);
    W.bnPartial(x, layout, m, m2);
    expectClose(m2, refM2, 1e-12, 0, 'm2');
  });
});

describe('wasm InfoNCE against the float64 reference', () => {
  it.each([[4, 8, 5], [6, 16, 32], [64, 128, 4096]])('rows %i, dim %i, queue %i: logits, loss, accuracy, dq', (rows, dim, queueRows) => {
    const q = f32(rows * dim, 21, 0, 1 / Math.sqrt(dim));
    const kPos = f32(rows * dim, 22, 0, 1 / Math.sqrt(dim));
    const queue = f32(queueRows * dim, 23, 0, 1 / Math.sqrt(dim));
    const T = 0.2;
    const width = 1 + queueRows;
    const logitsRef = new Float64Array(rows * width);
    const ref = REF.infoNce(f64(q), f64(kPos), f64(queue), rows, dim, queueRows, T, logitsRef);
    const logits = NAN(rows * width);
    const got = W.infoNce(q, kPos, queue, rows, dim, queueRows, T, logits);
    // Per logit: the product bound of its dot product, divided by T, plus the float32 rounding of the logit.
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < width; j++) {
        const other = j === 0 ? kPos.subarray(r * dim, (r + 1) * dim) : queue.subarray((j - 1) * dim, j * dim);
        let s = 0;
        for (let d = 0; d < dim; d++) s += Math.abs(q[r * dim + d]! * other[d]!);
        const e = Math.abs(logits[r * width + j]! - logitsRef[r * width + j]!);
        const b = ((dim + 1) * U32 * s) / T + U32 * Math.abs(logitsRef[r * width + j]!);
        if (!(e <= b)) expect.fail(`logit [${r}, ${j}]: got ${logits[r * width + j]}, expected ${logitsRef[r * width + j]} (bound ${b})`);
      }
    }
    expect(got.correct).toBe(ref.correct);
    expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-5);

    const dqRef = new Float64Array(rows * dim);
    REF.infoNceBackward(f64(logits), f64(kPos), f64(queue), rows, dim, queueRows, T, dqRef);
    const dq = NAN(rows * dim);
    W.infoNceBackward(logits, kPos, queue, rows, dim, queueRows, T, dq);
    // Softmax weights rounded to float32 (2⁻²⁴ each) and summed in float32 over the queue.
    const { gNeg, gPos } = gradsOf(logits, rows, queueRows, T);
    const dqBound = productBound((i, k) => Math.abs(gNeg[i * queueRows + k]!), (k, j) => Math.abs(queue[k * dim + j]!), rows, dim, queueRows);
    for (let i = 0; i < rows * dim; i++) dqBound[i] = 2 * dqBound[i]! + U32 * Math.abs(gPos[Math.floor(i / dim)]! * kPos[i]!) + U32 * Math.abs(dqRef[i]!);
    expectWithin(dq, dqRef, dqBound, 'dq');
  });
});

describe('wasm InfoNCE softmax (float32 SIMD exp, float64 sums) at the edges of exp', () => {
  // queue rows are unit vectors e_j and k⁺ = e_K (dim = K + 1): logit j is q_j / T and dq[r] is exactly
  // (g[r, 0..K), gPos[r]), so the softmax is read through the public kernels without rounding.
  const K = 37;
  const dim = K + 1;
  const T = 0.5;
  const queue = new Float32Array(K * dim);
  for (let j = 0; j < K; j++) queue[j * dim + j] = 1;
  const kPos = new Float32Array(dim);
  kPos[K] = 1;
  /** Row r of logits: spread over [lo, hi], positive last so that it is not the max unless chosen. */
  const spread = (lo: number, hi: number, seed: number) => Float32Array.from({ length: K + 1 }, (_, j) => (j === 0 ? lo + (hi - lo) * 0.7 : lo + ((hi - lo) * ((j * 7919 + seed) % (K + 1))) / K));
  /** A row whose positive is its max, 90 above every negative. */
  const positiveWins = Float32Array.from(spread(-100, -10, 7), (v, j) => (j === 0 ? 80 : v));
  const rows = [spread(-150, 40, 1), spread(-3, 3, 2), spread(-90, 0, 3), spread(-1e-3, 1e-3, 4), positiveWins];

  it('loss and accuracy of rows spanning underflow (logit − max down to −190) match the float64 reference to 1e-6', () => {
    const n = rows.length;
    const q = new Float32Array(n * dim);
    rows.forEach((row, r) => {
      for (let j = 0; j < K; j++) q[r * dim + j] = row[1 + j]! * T;
      q[r * dim + K] = row[0]! * T;
    });
    const logits = NAN(n * (K + 1));
    const kRows = new Float32Array(n * dim);
    for (let r = 0; r < n; r++) kRows.set(kPos, r * dim);
    const got = W.infoNce(q, kRows, queue, n, dim, K, T, logits);
    const ref = crossEntropyTarget0(f64(logits), n, K + 1);
    expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-6);
    expect(got.correct).toBe(ref.correct);
  });

  // Per weight: 4 float32 roundings (polynomial, scaling, output) plus the rounding of its argument
  // logit − max to float32, which moves exp by up to |logit − max|·2⁻²⁴ relative (tiny weights only).
  it('gradients: within float32 roundings of the float64 softmax, exactly 0 where exp underflows, NaN rows stay NaN', () => {
    const special = Float32Array.from(spread(-2, 2, 5));
    special[3] = -Infinity; // a negative that can never win: its weight is 0
    const nan = Float32Array.from(spread(-2, 2, 6));
    nan[5] = Number.NaN;
    const all = [...rows, special, nan];
    const n = all.length;
    const logits = new Float32Array(n * (K + 1));
    all.forEach((row, r) => logits.set(row, r * (K + 1)));
    const kRows = new Float32Array(n * dim);
    for (let r = 0; r < n; r++) kRows.set(kPos, r * dim);
    const dq = NAN(n * dim);
    W.infoNceBackward(logits, kRows, queue, n, dim, K, T, dq);
    const ref = infoNceLogitGrads(f64(logits), n, K, T);
    for (let r = 0; r < n; r++) {
      const row = all[r]!;
      const max = Math.max(...Array.from(row).filter((v) => !Number.isNaN(v)));
      for (let j = 0; j <= K; j++) {
        const want = j < K ? ref.gNeg[r * K + j]! : ref.gPos[r]!;
        const arg = Math.abs((j < K ? row[1 + j]! : row[0]!) - max);
        const have = dq[r * dim + j]!;
        if (r === n - 1) {
          expect(Number.isNaN(have), `row with a NaN logit, column ${j}: ${have}`).toBe(true);
          continue;
        }
        if (want === 0) {
          expect(have, `g[${r}, ${j}]`).toBe(0);
          continue;
        }
        const bound = (4 * U32 + arg * 2 ** -24) * Math.abs(want) + 1e-37;
        if (!(Math.abs(have - want) <= bound)) expect.fail(`g[${r}, ${j}]: got ${have}, expected ${want}`);
      }
    }
  });
});

function gradsOf(logits: Float32Array, rows: number, queueRows: number, T: number) {
  const width = 1 + queueRows;
  const gNeg = new Float64Array(rows * queueRows);
  const gPos = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < width; j++) max = Math.max(max, logits[r * width + j]!);
    let sum = 0;
    for (let j = 0; j < width; j++) sum += Math.exp(logits[r * width + j]! - max);
    gPos[r] = Math.abs(Math.exp(logits[r * width]! - max) / sum - 1) / (rows * T);
    for (let j = 0; j < queueRows; j++) gNeg[r * queueRows + j] = Math.exp(logits[r * width + 1 + j]! - max) / sum / (rows * T);
  }
  return { gNeg, gPos };
}
