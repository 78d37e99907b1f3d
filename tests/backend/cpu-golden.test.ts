/**
 * Both CPU backends (float64 TypeScript, and WebAssembly SIMD) against PyTorch golden values
 * (tests/golden/golden.json, made by tests/golden/make_golden.py from float32 inputs, references in
 * float64). The wasm backend's float32 GEMM sums at most 16 products here, well inside the tolerance.
 * Tolerance: relative 1e-5 (float32 has ~6e-8 relative precision; the backend rounds inputs and
 * outputs to float32 but sums in float64), plus an absolute floor of 1e-6 × the largest |value| in the
 * array for entries produced by cancellation (e.g. BN dx, which sums to zero per channel).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend, BnLayout, Tensor } from '../../src/backend/backend.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { createWasmBackend } from '../../src/backend/wasm/index.ts';
import { expectClose } from './helpers.ts';

interface Entry { shape: number[]; data: number[] }
// The JSON is written by make_golden.py; its structure is checked by the assertions that read it.
type Case = Record<string, any>;

const golden: Case = JSON.parse(readFileSync(new URL('../golden/golden.json', import.meta.url), 'utf8'));
const RTOL = 1e-5;
const ATOL_FRACTION = 1e-6;

const BACKENDS = [
  ['float64 TypeScript', async (): Promise<Backend> => createCpuBackend()],
  ['WebAssembly SIMD', createWasmBackend],
] as const;
/** The backend under test: set by each backend's beforeAll, read by the helpers below. */
let be: Backend;
const t = (e: Entry): Tensor => be.fromArray(e.data, e.shape);
const opt = (e: Entry | undefined): Tensor | null => (e ? t(e) : null);

async function check(actual: Tensor | null, expected: Entry, what: string): Promise<void> {
  expect(actual, what).not.toBeNull();
  expect([...actual!.shape], `${what} shape`).toEqual(expected.shape);
  const scale = expected.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expectClose(await be.read(actual!), expected.data, RTOL, ATOL_FRACTION * scale, what);
}

it('golden file holds every case (an empty it.each would pass silently)', () => {
  expect(Object.keys(golden.bnLocal).sort()).toEqual(['nc', 'ncGroups', 'nchwGroups', 'nchwNoAffine']);
  expect(Object.keys(golden.bnBorrowed).sort()).toEqual(['ncGroups', 'nchwGroupsNoAffine']);
  expect(Object.keys(golden.sgd).sort()).toEqual(['momentumWd', 'plain']);
  expect(golden.bnLocal.nchwGroups.layout).toEqual({ groups: 2, n: 3, c: 4, hw: 6 });
});

describe.each(BACKENDS)('%s backend', (_name, create) => {
  beforeAll(async () => {
    be = await create();
  });

  describe('golden: BatchNorm with own statistics', () => {
    it.each(Object.keys(golden.bnLocal))('%s', async (name) => {
      const g = golden.bnLocal[name];
      const layout: BnLayout = g.layout;
      const x = t(g.x);
      const stats = be.bnStats(x, layout);
      expect(stats.count).toBe(layout.n * layout.hw);
      await check(stats.mean, g.mean, 'mean');
      await check(stats.var, g.var, 'var');
      const partial = be.bnPartial(x, layout);
      await check(partial.mean, g.mean, 'partial mean');
      await check(partial.m2, g.m2, 'partial m2');
      const gamma = opt(g.gamma);
      const y = be.bnApply(x, layout, stats.mean, stats.var, gamma, opt(g.beta), g.eps);
      await check(y, g.y, 'y');
      const r = be.bnBackward(t(g.dy), x, layout, stats.mean, stats.var, gamma, g.eps);
      await check(r.dx, g.dx, 'dx');
      if (g.gamma) {
        await check(r.dgamma, g.dgamma, 'dgamma');
        await check(r.dbeta, g.dbeta, 'dbeta');
      } else {
        expect(r.dgamma).toBeNull();
        expect(r.dbeta).toBeNull();
      }
    });
  });

  describe('golden: BatchNorm with borrowed statistics', () => {
    it.each(Object.keys(golden.bnBorrowed))('%s', async (name) => {
      const g = golden.bnBorrowed[name];
      const layout: BnLayout = g.layout;
      const x = t(g.x);
      const gamma = opt(g.gamma);
      const mean = t(g.mean);
      const variance = t(g.var);
      await check(be.bnApply(x, layout, mean, variance, gamma, opt(g.beta), g.eps), g.y, 'y');
      const r = be.bnBackwardBorrowed(t(g.dy), x, layout, mean, variance, gamma, g.eps);
      await check(r.dx, g.dx, 'dx');
      await check(r.dmean, g.dmean, 'dmean');
      await check(r.dvar, g.dvar, 'dvar');
      if (g.gamma) {
        await check(r.dgamma, g.dgamma, 'dgamma');
        await check(r.dbeta, g.dbeta, 'dbeta');
      }
      const s = g.statsBackward;
      const dx = be.bnStatsBackward(t(s.x), layout, t(s.mean), t(s.dmean), t(s.dvar));
      await check(dx, s.dx, 'statsBackward dx');
    });
  });

  describe('golden: other ops', () => {
    it('running statistics update', async () => {
      const g = golden.bnRunning;
      const rm = t(g.runningMean0);
      const rv = t(g.runningVar0);
      be.bnRunningUpdate(rm, rv, t(g.mean), t(g.var), g.count, g.momentum);
      await check(rm, g.runningMean, 'runningMean');
      await check(rv, g.runningVar, 'runningVar');
      await check(rm, g.torchRunningMean, 'runningMean vs torch buffers');
      await check(rv, g.torchRunningVar, 'runningVar vs torch buffers');
    });

    it('linear forward and backward', async () => {
      const g = golden.linear;
      const x = t(g.x);
      const w = t(g.w);
      await check(be.linear(x, w, t(g.b)), g.y, 'y');
      const r = be.linearBackward(t(g.dy), x, w, { needDx: true, hasBias: true });
      await check(r.dx, g.dx, 'dx');
      await check(r.dw, g.dw, 'dw');
      await check(r.db, g.db, 'db');
    });

    it('relu forward and backward', async () => {
      const g = golden.relu;
      const y = be.relu(t(g.x));
      await check(y, g.y, 'y');
      await check(be.reluBackward(t(g.dy), y), g.dx, 'dx');
    });

    it('F.normalize forward and backward (incl. a zero row)', async () => {
      const g = golden.normalize;
      const x = t(g.x);
      await check(be.l2Normalize(x), g.y, 'y');
      await check(be.l2NormalizeBackward(t(g.dy), x), g.dx, 'dx');
    });

    it('InfoNCE loss, logits, accuracy and dq', async () => {
      const g = golden.infoNce;
      const kPos = t(g.kPos);
      const queue = t(g.queue);
      const r = be.infoNce(t(g.q), kPos, queue, g.temperature);
      await check(r.logits, g.logits, 'logits');
      expectClose(await be.read(r.loss), [g.loss], RTOL, 0, 'loss');
      expect((await be.read(r.correct))[0]).toBe(g.correct);
      await check(be.infoNceBackward(r.logits, kPos, queue, g.temperature), g.dq, 'dq');
    });

    it.each(Object.keys(golden.sgd))('torch.optim.SGD over 3 steps: %s', async (name) => {
      const g = golden.sgd[name];
      const p = t(g.param0);
      const v = be.zeros(g.param0.shape);
      for (let s = 0; s < g.grads.length; s++) {
        be.sgdStep(p, t(g.grads[s]), v, { lr: g.lr, momentum: g.momentum, weightDecay: g.weightDecay });
        await check(p, g.params[s], `param after step ${s + 1}`);
      }
    });

    it('EMA', async () => {
      const g = golden.ema;
      const target = t(g.target);
      be.ema(target, t(g.source), g.m);
      await check(target, g.out, 'target');
    });

    it('enqueue wraps around K', async () => {
      const g = golden.enqueue;
      const queue = t(g.queue);
      be.enqueue(queue, t(g.keys), g.ptr);
      // A copy is exact: compare bit for bit.
      expect(Array.from(await be.read(queue))).toEqual(Array.from(Float32Array.from(g.out.data)));
    });
  });
});
