/**
 * Finite-difference checks of every CPU backward kernel.
 *
 * The backend stores float32, where a central difference cannot resolve gradients to better than
 * ~1e-3 relative. The kernels are generic over Float32Array | Float64Array, and the backend calls
 * exactly these functions, so we run them on Float64Array: with h = 1e-6 the central difference has
 * truncation error O(h²) ≈ 1e-12 and cancellation error O(ε₆₄/h) ≈ 1e-10 (relative to the loss scale),
 * so a tolerance of 1e-6 relative (+ 1e-7 × the gradient's scale) is tight yet reliable.
 * Each check uses a scalar loss L = Σ y·r with random r, whose gradient is the backward with dy = r.
 */
import { describe, expect, it } from 'vitest';
import type { BnLayout } from '../../src/backend/backend.ts';
import { cpuKernels as K } from '../../src/backend/cpu/index.ts';
import { expectClose, randn } from './helpers.ts';

const H = 1e-6;
const RTOL = 1e-6;
const ATOL_FRACTION = 1e-7;

/** Central-difference gradient of f w.r.t. every entry of `param` (perturbed in place, then restored). */
function numericGrad(f: () => number, param: Float64Array): Float64Array {
  const grad = new Float64Array(param.length);
  for (let i = 0; i < param.length; i++) {
    const v = param[i]!;
    param[i] = v + H;
    const up = f();
    param[i] = v - H;
    const down = f();
    param[i] = v;
    grad[i] = (up - down) / (2 * H);
  }
  return grad;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function expectGrad(analytic: Float64Array, f: () => number, param: Float64Array, what: string): void {
  const numeric = numericGrad(f, param);
  const scale = numeric.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expect(scale, `${what}: gradient is not identically zero`).toBeGreaterThan(0);
  expectClose(analytic, numeric, RTOL, ATOL_FRACTION * scale, what);
}

const layouts: [string, BnLayout][] = [
  ['[N, C]', { groups: 1, n: 5, c: 3, hw: 1 }],
  ['[N, C] groups 3', { groups: 3, n: 4, c: 2, hw: 1 }],
  ['[N, C, H, W] groups 2', { groups: 2, n: 2, c: 3, hw: 4 }],
];
const EPS = 1e-5;

describe.each(layouts)('BatchNorm backward, layout %s', (_name, layout) => {
  const { groups, n, c, hw } = layout;
  const size = groups * n * c * hw;
  const x = randn(size, 11, 0.3, 1.7);
  const r = randn(size, 12);
  const gamma = randn(c, 13, 1, 0.5);
  const beta = randn(c, 14);
  const y = new Float64Array(size);

  it('local statistics: dx, dgamma, dbeta', () => {
    const mean = new Float64Array(groups * c);
    const variance = new Float64Array(groups * c);
    const loss = () => {
      K.bnPartialKernel(x, layout, mean, variance);
      for (let k = 0; k < variance.length; k++) variance[k] = variance[k]! / (n * hw);
      K.bnApplyKernel(x, layout, mean, variance, gamma, beta, EPS, y);
      return dot(y, r);
    };
    loss();
    const dx = new Float64Array(size);
    const dgamma = new Float64Array(c);
    const dbeta = new Float64Array(c);
    K.bnBackwardKernel(r, x, layout, mean.slice(), variance.slice(), gamma, EPS, dx, dgamma, dbeta);
    expectGrad(dx, loss, x, 'dx');
    expectGrad(dgamma, loss, gamma, 'dgamma');
    expectGrad(dbeta, loss, beta, 'dbeta');
  });

  it('borrowed statistics: dx, dmean, dvar, dgamma, dbeta', () => {
    const mean = randn(groups * c, 15, 0.2, 0.5);
    const variance = randn(groups * c, 16).map((v) => 0.5 + v * v);
    const loss = () => {
      K.bnApplyKernel(x, layout, mean, variance, gamma, beta, EPS, y);
      return dot(y, r);
    };
    const dx = new Float64Array(size);
    const dgamma = new Float64Array(c);
    const dbeta = new Float64Array(c);
    const dmean = new Float64Array(groups * c);
    const dvar = new Float64Array(groups * c);
    K.bnBackwardBorrowedKernel(r, x, layout, mean, variance, gamma, EPS, dx, dgamma, dbeta, dmean, dvar);
    expectGrad(dx, loss, x, 'dx');
    expectGrad(dmean, loss, mean, 'dmean');
    expectGrad(dvar, loss, variance, 'dvar');
    expectGrad(dgamma, loss, gamma, 'dgamma');
    expectGrad(dbeta, loss, beta, 'dbeta');
  });

  it('statistics backward: dx of Σ dmean·mean(x) + Σ dvar·var(x)', () => {
    const dmean = randn(groups * c, 17);
    const dvar = randn(groups * c, 18);
    const mean = new Float64Array(groups * c);
    const variance = new Float64Array(groups * c);
    const loss = () => {
      K.bnPartialKernel(x, layout, mean, variance);
      for (let k = 0; k < variance.length; k++) variance[k] = variance[k]! / (n * hw);
      return dot(mean, dmean) + dot(variance, dvar);
    };
    loss();
    const dx = new Float64Array(size);
    K.bnStatsBackwardKernel(x, layout, mean.slice(), dmean, dvar, dx);
    expectGrad(dx, loss, x, 'dx');
  });
});

describe('dense, activation and loss backward', () => {
  it('linear: dx, dw, db', () => {
    const [rows, inDim, outDim] = [5, 6, 4];
    const x = randn(rows * inDim, 21);
    const w = randn(outDim * inDim, 22, 0, 0.5);
    const b = randn(outDim, 23);
    const r = randn(rows * outDim, 24);
    const y = new Float64Array(rows * outDim);
    const loss = () => {
      K.matmulNTKernel(x, w, rows, outDim, inDim, b, y);
      return dot(y, r);
    };
    const dx = new Float64Array(rows * inDim);
    const dw = new Float64Array(outDim * inDim);
    const db = new Float64Array(outDim);
    K.linearDxKernel(r, w, rows, outDim, inDim, dx);
    K.linearDwKernel(r, x, rows, outDim, inDim, dw, db);
    expectGrad(dx, loss, x, 'dx');
    expectGrad(dw, loss, w, 'dw');
    expectGrad(db, loss, b, 'db');
  });

  it('relu (inputs kept away from the kink at 0)', () => {
    const x = randn(40, 31).map((v) => (Math.abs(v) < 0.05 ? v + Math.sign(v || 1) * 0.1 : v));
    const r = randn(40, 32);
    const y = new Float64Array(40);
    const loss = () => {
      K.reluKernel(x, y);
      return dot(y, r);
    };
    loss();
    const dx = new Float64Array(40);
    K.reluBackwardKernel(r, y.slice(), dx);
    expectGrad(dx, loss, x, 'dx');
  });

  it('l2 normalise', () => {
    const [rows, dim] = [4, 5];
    const x = randn(rows * dim, 41, 0, 2);
    const r = randn(rows * dim, 42);
    const y = new Float64Array(rows * dim);
    const loss = () => {
      K.l2NormalizeKernel(x, rows, dim, y);
      return dot(y, r);
    };
    const dx = new Float64Array(rows * dim);
    K.l2NormalizeBackwardKernel(r, x, rows, dim, dx);
    expectGrad(dx, loss, x, 'dx');
  });

  it('InfoNCE: dq of the mean loss', () => {
    const [rows, dim, queueRows, temperature] = [3, 4, 6, 0.2];
    const q = randn(rows * dim, 51, 0, 0.6);
    const kPos = randn(rows * dim, 52, 0, 0.6);
    const queue = randn(queueRows * dim, 53, 0, 0.6);
    const logits = new Float64Array(rows * (1 + queueRows));
    const loss = () => K.infoNceKernel(q, kPos, queue, rows, dim, queueRows, temperature, logits).loss;
    loss();
    const dq = new Float64Array(rows * dim);
    K.infoNceBackwardKernel(logits.slice(), kPos, queue, rows, dim, queueRows, temperature, dq);
    expectGrad(dq, loss, q, 'dq');
  });
});
