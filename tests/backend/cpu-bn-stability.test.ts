/**
 * BatchNorm statistics must stay accurate for data with a large mean and a small spread (where
 * E[x²] − E[x]² in float32 loses every digit), and the borrowed-statistics backward must split the
 * standard backward exactly: bnBackward = bnBackwardBorrowed.dx + bnStatsBackward(dmean, dvar).
 */
import { describe, expect, it } from 'vitest';
import type { BnLayout } from '../../src/backend/backend.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { expectClose, randn } from './helpers.ts';

/** Welford's one-pass algorithm in float64: an independent reference for the two-pass kernel. */
function welford(x: Float32Array, layout: BnLayout): { mean: Float64Array; variance: Float64Array } {
  const { groups, n, c, hw } = layout;
  const mean = new Float64Array(groups * c);
  const variance = new Float64Array(groups * c);
  for (let g = 0; g < groups; g++) {
    for (let ch = 0; ch < c; ch++) {
      let count = 0;
      let mu = 0;
      let m2 = 0;
      for (let i = 0; i < n; i++) {
        for (let p = 0; p < hw; p++) {
          const v = x[((g * n + i) * c + ch) * hw + p]!;
          count++;
          const d = v - mu;
          mu += d / count;
          m2 += d * (v - mu);
        }
      }
      mean[g * c + ch] = mu;
      variance[g * c + ch] = m2 / count;
    }
  }
  return { mean, variance };
}

describe('BN statistics are stable for a large mean', () => {
  const layout: BnLayout = { groups: 2, n: 64, c: 3, hw: 16 };
  const size = layout.groups * layout.n * layout.c * layout.hw;
  it.each([
    ['1000 + N(0, 1)', 1000, 1],
    ['1e4 + N(0, 1e-2)', 1e4, 1e-2],
  ])('%s: variance relative error ≤ 1e-6 vs float64', async (_name, mean, std) => {
    const be = createCpuBackend();
    const data = Float32Array.from(randn(size, 7, mean, std));
    const ref = welford(data, layout);
    const x = be.fromArray(data, [layout.groups * layout.n, layout.c, 4, 4]);
    const stats = be.bnStats(x, layout);
    expectClose(await be.read(stats.var), ref.variance, 1e-6, 0, 'var');
    expectClose(await be.read(stats.mean), ref.mean, 1e-6, 0, 'mean');
    const partial = be.bnPartial(x, layout);
    const m2Ref = ref.variance.map((v) => v * layout.n * layout.hw);
    expectClose(await be.read(partial.m2), m2Ref, 1e-6, 0, 'm2');
    // The naive float32 formula would be useless here; make sure the data really is that hard.
    let sum = Math.fround(0);
    let sumSq = Math.fround(0);
    for (let i = 0; i < layout.n * layout.hw; i++) {
      const v = data[Math.floor(i / layout.hw) * layout.c * layout.hw + (i % layout.hw)]!;
      sum = Math.fround(sum + v);
      sumSq = Math.fround(sumSq + Math.fround(v * v));
    }
    const count = layout.n * layout.hw;
    const naive = Math.fround(sumSq / count - Math.fround(sum / count) ** 2);
    expect(Math.abs(naive - ref.variance[0]!) / ref.variance[0]!).toBeGreaterThan(1e-2);
  });
});

describe('borrowed-statistics split of the BN backward', () => {
  it.each([
    ['[N, C] groups 4', { groups: 4, n: 8, c: 6, hw: 1 }, true],
    ['[N, C, H, W] groups 2, no affine', { groups: 2, n: 3, c: 4, hw: 9 }, false],
  ] as const)('%s: bnBackward = borrowed.dx + bnStatsBackward(dmean, dvar)', async (_name, layout, affine) => {
    const be = createCpuBackend();
    const size = layout.groups * layout.n * layout.c * layout.hw;
    const x = be.fromArray(Float32Array.from(randn(size, 3, 0.5, 2)), [size]);
    const dy = be.fromArray(Float32Array.from(randn(size, 4)), [size]);
    const gamma = affine ? be.fromArray(Float32Array.from(randn(layout.c, 5, 1, 0.3)), [layout.c]) : null;
    const eps = 1e-5;
    const s = be.bnStats(x, layout);
    const full = be.bnBackward(dy, x, layout, s.mean, s.var, gamma, eps);
    const borrowed = be.bnBackwardBorrowed(dy, x, layout, s.mean, s.var, gamma, eps);
    const back = be.bnStatsBackward(x, layout, s.mean, borrowed.dmean, borrowed.dvar);
    const sum = await be.read(be.add(borrowed.dx, back));
    const expected = await be.read(full.dx);
    const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose(sum, expected, 1e-5, 1e-5 * scale, 'dx');
    if (gamma) {
      expectClose(await be.read(borrowed.dgamma!), await be.read(full.dgamma!), 1e-6, 0, 'dgamma');
      expectClose(await be.read(borrowed.dbeta!), await be.read(full.dbeta!), 1e-6, 0, 'dbeta');
    }
  });
});
