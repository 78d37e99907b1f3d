/** BatchNorm cases: every BN op of the WebGPU backend against the CPU backend over edge layouts. */
import { BackendError, type BnLayout } from '../../../src/backend/backend.ts';
import { randn, randu, type Tolerance } from './compare.ts';
import type { CaseFn, KernelHarness } from './harness.ts';

const EPS = 1e-5;
const STATS_TOL: Tolerance = { rtol: 2e-5, atolFrac: 2e-6 };
const APPLY_TOL: Tolerance = { rtol: 2e-5, atolFrac: 2e-5 };
/** dx = γ·invstd/M·(M·dy − Σdy − x̂·Σdy·x̂) cancels by design: compare at the scale of the tensor. */
const BACKWARD_TOL: Tolerance = { rtol: 1e-4, atolFrac: 2e-4 };

export type DataKind = 'normal' | 'offset' | 'tiny';

function sample(kind: DataKind, n: number, seed: number): Float32Array {
  if (kind === 'offset') return randn(n, seed, 1000, 1);
  if (kind === 'tiny') return randn(n, seed, 1, 1e-3);
  return randn(n, seed, 0.5, 2);
}

function size(l: BnLayout): number {
  return l.groups * l.n * l.c * l.hw;
}

/** All BN ops on one layout and data kind. Statistics fed to apply/backward are the CPU's, uploaded to both. */
export function bnCase(l: BnLayout, kind: DataKind, seed: number): CaseFn {
  return async (h: KernelHarness) => {
    const { gpu, cpu } = h;
    const planes = l.groups * l.c;
    const x = h.pair(sample(kind, size(l), seed), [l.groups * l.n, l.c, l.hw]);
    const dy = h.pair(randn(size(l), seed + 1), [l.groups * l.n, l.c, l.hw]);
    const gamma = h.pair(randu(l.c, seed + 2, 0.5, 1.5), [l.c]);
    const beta = h.pair(randn(l.c, seed + 3), [l.c]);

    const gs = gpu.bnStats(x.g, l);
    const cs = cpu.bnStats(x.c, l);
    h.expect('bnStats count', gs.count === cs.count, `${gs.count} vs ${cs.count}`);
    const meanData = await cpu.read(cs.mean);
    const varData = await cpu.read(cs.var);
    await h.check('bnStats mean', gs.mean, cs.mean, STATS_TOL);
    await h.check('bnStats var', gs.var, cs.var, STATS_TOL);
    const gp = gpu.bnPartial(x.g, l);
    const cp = cpu.bnPartial(x.c, l);
    await h.check('bnPartial mean', gp.mean, cp.mean, STATS_TOL);
    await h.check('bnPartial m2', gp.m2, cp.m2, STATS_TOL);

    const mean = h.pair(meanData, [l.groups, l.c]);
    const variance = h.pair(varData, [l.groups, l.c]);
    await h.check('bnApply affine', gpu.bnApply(x.g, l, mean.g, variance.g, gamma.g, beta.g, EPS), cpu.bnApply(x.c, l, mean.c, variance.c, gamma.c, beta.c, EPS), APPLY_TOL);
    await h.check('bnApply plain', gpu.bnApply(x.g, l, mean.g, variance.g, null, null, EPS), cpu.bnApply(x.c, l, mean.c, variance.c, null, null, EPS), APPLY_TOL);
    await h.check('bnApply gamma only', gpu.bnApply(x.g, l, mean.g, variance.g, gamma.g, null, EPS), cpu.bnApply(x.c, l, mean.c, variance.c, gamma.c, null, EPS), APPLY_TOL);

    // dx cancels to ~0 for tiny n (n = 2: exactly 0 in exact arithmetic): floor the tolerance at the
    // scale of its terms, γ·dy/σ.
    let termScale = 0;
    for (let i = 0; i < planes; i++) termScale = Math.max(termScale, 1.5 / Math.sqrt(varData[i]! + EPS));
    const dxTol: Tolerance = { ...BACKWARD_TOL, atol: 1e-5 * termScale * 4 };
    for (const affine of [true, false]) {
      const tag = affine ? 'affine' : 'plain';
      const gb = gpu.bnBackward(dy.g, x.g, l, mean.g, variance.g, affine ? gamma.g : null, EPS);
      const cb = cpu.bnBackward(dy.c, x.c, l, mean.c, variance.c, affine ? gamma.c : null, EPS);
      await h.check(`bnBackward ${tag} dx`, gb.dx, cb.dx, dxTol);
      await h.check(`bnBackward ${tag} dgamma`, gb.dgamma, cb.dgamma, BACKWARD_TOL);
      await h.check(`bnBackward ${tag} dbeta`, gb.dbeta, cb.dbeta, BACKWARD_TOL);
    }

    // Borrowed statistics: another worker's mean/var (near, not equal, to this x's).
    const borrowedMean = Float32Array.from(meanData, (m, i) => m + 0.1 * Math.sin(i + seed) * Math.sqrt(varData[i]!));
    const borrowedVar = Float32Array.from(varData, (v, i) => v * (1 + 0.2 * Math.cos(i)));
    const bm = h.pair(borrowedMean, [l.groups, l.c]);
    const bv = h.pair(borrowedVar, [l.groups, l.c]);
    for (const affine of [true, false]) {
      const tag = affine ? 'affine' : 'plain';
      const gb = gpu.bnBackwardBorrowed(dy.g, x.g, l, bm.g, bv.g, affine ? gamma.g : null, EPS);
      const cb = cpu.bnBackwardBorrowed(dy.c, x.c, l, bm.c, bv.c, affine ? gamma.c : null, EPS);
      await h.check(`bnBackwardBorrowed ${tag} dx`, gb.dx, cb.dx, APPLY_TOL);
      await h.check(`bnBackwardBorrowed ${tag} dgamma`, gb.dgamma, cb.dgamma, BACKWARD_TOL);
      await h.check(`bnBackwardBorrowed ${tag} dbeta`, gb.dbeta, cb.dbeta, BACKWARD_TOL);
      await h.check(`bnBackwardBorrowed ${tag} dmean`, gb.dmean, cb.dmean, BACKWARD_TOL);
      await h.check(`bnBackwardBorrowed ${tag} dvar`, gb.dvar, cb.dvar, BACKWARD_TOL);
    }

    const dmean = h.pair(randn(planes, seed + 4), [l.groups, l.c]);
    const dvar = h.pair(randn(planes, seed + 5), [l.groups, l.c]);
    await h.check('bnStatsBackward', gpu.bnStatsBackward(x.g, l, mean.g, dmean.g, dvar.g), cpu.bnStatsBackward(x.c, l, mean.c, dmean.c, dvar.c), APPLY_TOL);

    const rm = h.pair(randn(l.c, seed + 6), [l.c]);
    const rv = h.pair(randu(l.c, seed + 7, 0.5, 2), [l.c]);
    const m0 = h.pair(meanData.subarray(0, l.c), [l.c]);
    const v0 = h.pair(varData.subarray(0, l.c), [l.c]);
    const count = l.n * l.hw;
    gpu.bnRunningUpdate(rm.g, rv.g, m0.g, v0.g, count, 0.1);
    cpu.bnRunningUpdate(rm.c, rv.c, m0.c, v0.c, count, 0.1);
    await h.check('bnRunningUpdate mean', gpu.clone(rm.g), cpu.clone(rm.c), APPLY_TOL);
    await h.check('bnRunningUpdate var', gpu.clone(rv.g), cpu.clone(rv.c), APPLY_TOL);
  };
}

/**
 * Relative variance error against a float64 two-pass reference on the same float32 data, for
 * 1000 + N(0, σ): the property the shifted sums exist for. Passes at ≤ 1e-6.
 */
export function bnPrecisionCase(l: BnLayout, sigma: number, seed: number, bound = 1e-6): CaseFn {
  return async (h: KernelHarness) => {
    const data = randn(size(l), seed, 1000, sigma);
    const x = h.own(h.gpu, h.gpu.fromArray(data, [size(l)]));
    const s = h.gpu.bnStats(x, l);
    h.own(h.gpu, s.mean);
    h.own(h.gpu, s.var);
    const got = await h.gpu.read(s.var);
    const { groups, n, c, hw } = l;
    let worst = 0;
    for (let g = 0; g < groups; g++) {
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let i = 0; i < n; i++) for (let p = 0; p < hw; p++) sum += data[((g * n + i) * c + ch) * hw + p]!;
        const mu = sum / (n * hw);
        let m2 = 0;
        for (let i = 0; i < n; i++) for (let p = 0; p < hw; p++) m2 += (data[((g * n + i) * c + ch) * hw + p]! - mu) ** 2;
        const want = m2 / (n * hw);
        worst = Math.max(worst, Math.abs(got[g * c + ch]! - want) / want);
      }
    }
    h.expect(`max relative variance error ${worst.toExponential(2)} ≤ ${bound}`, worst <= bound);
  };
}

/** One value per channel in training: ERR_BN_SINGLE_SAMPLE, as PyTorch refuses it. */
export const singleSampleCase: CaseFn = async (h) => {
  const l: BnLayout = { groups: 2, n: 1, c: 3, hw: 1 };
  const x = h.own(h.gpu, h.gpu.fromArray(randn(6, 9), [2, 3]));
  for (const [what, fn] of [
    ['bnStats', () => h.gpu.bnStats(x, l)],
    ['bnPartial', () => h.gpu.bnPartial(x, l)],
    ['bnBackward', () => h.gpu.bnBackward(x, x, l, x, x, null, EPS)],
  ] as const) {
    let code = 'no error';
    try {
      fn();
    } catch (err) {
      code = err instanceof BackendError ? err.code : String(err);
    }
    h.expect(`${what} on one value per channel throws ERR_BN_SINGLE_SAMPLE`, code === 'ERR_BN_SINGLE_SAMPLE', code);
  }
};
