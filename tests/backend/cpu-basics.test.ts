import { describe, expect, it } from 'vitest';
import { BackendError } from '../../src/backend/backend.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { expectClose, randn } from './helpers.ts';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BackendError);
    return (e as BackendError).code;
  }
  return undefined;
}

describe('CpuBackend memory ops', () => {
  it('round-trips data and read() returns a copy', async () => {
    const be = createCpuBackend();
    const t = be.fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    const a = await be.read(t);
    a[0] = 99;
    expect(Array.from(await be.read(t))).toEqual([1, 2, 3, 4, 5, 6]);
    be.write(t, new Float32Array([6, 5, 4, 3, 2, 1]));
    expect(Array.from(await be.read(t))).toEqual([6, 5, 4, 3, 2, 1]);
    expect(code(() => be.write(t, new Float32Array(5)))).toBe('ERR_SHAPE');
    expect(code(() => be.fromArray([1, 2, 3], [2, 2]))).toBe('ERR_SHAPE');
  });

  it('slices, concatenates and clones by rows', async () => {
    const be = createCpuBackend();
    const t = be.fromArray(Array.from({ length: 24 }, (_, i) => i), [4, 3, 2]);
    const s = be.sliceRows(t, 1, 2);
    expect(s.shape).toEqual([2, 3, 2]);
    expect(Array.from(await be.read(s))).toEqual(Array.from({ length: 12 }, (_, i) => i + 6));
    const c = be.concatRows([s, be.sliceRows(t, 0, 1)]);
    expect(c.shape).toEqual([3, 3, 2]);
    expect(Array.from(await be.read(c)).slice(12)).toEqual([0, 1, 2, 3, 4, 5]);
    const v = be.clone(t, [8, 3]);
    expect(v.shape).toEqual([8, 3]);
    expect(code(() => be.sliceRows(t, 3, 2))).toBe('ERR_SHAPE');
    expect(code(() => be.concatRows([t, be.zeros([1, 6])]))).toBe('ERR_SHAPE');
    expect(code(() => be.clone(t, [5, 5]))).toBe('ERR_SHAPE');
  });

  it('throws ERR_DISPOSED after dispose and after destroy', async () => {
    const be = createCpuBackend();
    const t = be.fromArray([1, 2], [2]);
    const u = be.fromArray([1, 2], [2]);
    be.dispose(t);
    expect(code(() => be.relu(t))).toBe('ERR_DISPOSED');
    await expect(be.read(t)).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    expect(be.liveTensorCount).toBe(1);
    be.destroy();
    be.destroy();
    expect(code(() => be.add(u, u))).toBe('ERR_DISPOSED');
    expect(code(() => be.zeros([1]))).toBe('ERR_DISPOSED');
  });
});

describe('CpuBackend argument checks', () => {
  const be = createCpuBackend();
  it('ERR_SHAPE names the op and the shapes', () => {
    const a = be.zeros([2, 3]);
    const b = be.zeros([3, 2]);
    expect(() => be.add(a, b)).toThrow(/add: .*\[2, 3\].*\[3, 2\]/);
    expect(code(() => be.linear(a, be.zeros([4, 2]), null))).toBe('ERR_SHAPE');
    expect(code(() => be.linear(a, be.zeros([4, 3]), be.zeros([3])))).toBe('ERR_SHAPE');
    expect(code(() => be.matmulNT(a, b))).toBe('ERR_SHAPE');
    expect(code(() => be.linearBackward(be.zeros([2, 5]), a, be.zeros([4, 3]), { needDx: true, hasBias: true }))).toBe('ERR_SHAPE');
    expect(code(() => be.l2NormalizeBackward(b, a))).toBe('ERR_SHAPE');
    expect(code(() => be.infoNce(a, a, be.zeros([5, 2]), 0.1))).toBe('ERR_SHAPE');
    expect(code(() => be.infoNceBackward(be.zeros([2, 5]), a, be.zeros([5, 3]), 0.1))).toBe('ERR_SHAPE');
    expect(code(() => be.sgdStep(a, b, a, { lr: 1, momentum: 0, weightDecay: 0 }))).toBe('ERR_SHAPE');
    expect(code(() => be.ema(a, b, 0.9))).toBe('ERR_SHAPE');
    expect(code(() => be.enqueue(be.zeros([4, 3]), be.zeros([2, 2]), 0))).toBe('ERR_SHAPE');
    expect(code(() => be.enqueue(be.zeros([1, 3]), a, 0))).toBe('ERR_SHAPE');
  });

  it('BN ops check layout sizes', () => {
    const layout = { groups: 2, n: 3, c: 4, hw: 1 };
    const x = be.zeros([6, 4]);
    const stats = be.zeros([2, 4]);
    expect(code(() => be.bnStats(be.zeros([6, 5]), layout))).toBe('ERR_SHAPE');
    expect(code(() => be.bnApply(x, layout, be.zeros([4]), stats, null, null, 1e-5))).toBe('ERR_SHAPE');
    expect(code(() => be.bnApply(x, layout, stats, stats, be.zeros([3]), null, 1e-5))).toBe('ERR_SHAPE');
    expect(code(() => be.bnBackward(be.zeros([6, 3]), x, layout, stats, stats, null, 1e-5))).toBe('ERR_SHAPE');
    expect(code(() => be.bnStatsBackward(x, layout, stats, stats, be.zeros([3])))).toBe('ERR_SHAPE');
    expect(code(() => be.bnStats(x, { ...layout, groups: 0 }))).toBe('ERR_SHAPE');
  });

  it('BN training with one value per channel throws ERR_BN_SINGLE_SAMPLE, never NaN', () => {
    const layout = { groups: 3, n: 1, c: 4, hw: 1 };
    const x = be.fromArray(Array.from(randn(12, 1)), [3, 4]);
    const stats = be.zeros([3, 4]);
    expect(code(() => be.bnPartial(x, layout))).toBe('ERR_BN_SINGLE_SAMPLE');
    expect(code(() => be.bnStats(x, layout))).toBe('ERR_BN_SINGLE_SAMPLE');
    expect(code(() => be.bnBackward(x, x, layout, stats, stats, null, 1e-5))).toBe('ERR_BN_SINGLE_SAMPLE');
    expect(code(() => be.bnBackwardBorrowed(x, x, layout, stats, stats, null, 1e-5))).toBe('ERR_BN_SINGLE_SAMPLE');
    expect(code(() => be.bnStatsBackward(x, layout, stats, stats, stats))).toBe('ERR_BN_SINGLE_SAMPLE');
    const rm = be.zeros([4]);
    expect(code(() => be.bnRunningUpdate(rm, rm, rm, rm, 1, 0.1))).toBe('ERR_BN_SINGLE_SAMPLE');
    // Eval-mode apply with running statistics is fine on a single sample.
    expect(code(() => be.bnApply(x, layout, stats, be.fromArray(new Array(12).fill(1), [3, 4]), null, null, 1e-5))).toBeUndefined();
    // n = 1 with hw > 1 has several values per channel: allowed, as in PyTorch.
    expect(code(() => be.bnStats(x, { groups: 3, n: 1, c: 2, hw: 2 }))).toBeUndefined();
  });
});

describe('CpuBackend dense ops against a naive float64 reference', () => {
  it.each([[1, 3, 2], [5, 7, 3], [9, 16, 11]])('linear / matmulNT / linearBackward, N=%i in=%i out=%i', async (n, inDim, outDim) => {
    const be = createCpuBackend();
    const x = randn(n * inDim, 1);
    const w = randn(outDim * inDim, 2);
    const b = randn(outDim, 3);
    const dy = randn(n * outDim, 4);
    const f32 = (a: Float64Array) => Float64Array.from(Float32Array.from(a));
    const [xf, wf, bf, dyf] = [f32(x), f32(w), f32(b), f32(dy)];
    const y = new Float64Array(n * outDim);
    const dx = new Float64Array(n * inDim);
    const dw = new Float64Array(outDim * inDim);
    const db = new Float64Array(outDim);
    for (let r = 0; r < n; r++) {
      for (let o = 0; o < outDim; o++) {
        y[r * outDim + o] = bf[o]!;
        db[o] += dyf[r * outDim + o]!;
        for (let i = 0; i < inDim; i++) {
          y[r * outDim + o] += xf[r * inDim + i]! * wf[o * inDim + i]!;
          dx[r * inDim + i] += dyf[r * outDim + o]! * wf[o * inDim + i]!;
          dw[o * inDim + i] += dyf[r * outDim + o]! * xf[r * inDim + i]!;
        }
      }
    }
    const tx = be.fromArray(Float32Array.from(x), [n, inDim]);
    const tw = be.fromArray(Float32Array.from(w), [outDim, inDim]);
    const tb = be.fromArray(Float32Array.from(b), [outDim]);
    const tdy = be.fromArray(Float32Array.from(dy), [n, outDim]);
    expectClose(await be.read(be.linear(tx, tw, tb)), y, 1e-6, 1e-6, 'linear');
    const yNoBias = y.map((v, k) => v - bf[k % outDim]!);
    expectClose(await be.read(be.matmulNT(tx, tw)), yNoBias, 1e-6, 1e-6, 'matmulNT');
    const g = be.linearBackward(tdy, tx, tw, { needDx: true, hasBias: true });
    expectClose(await be.read(g.dx!), dx, 1e-6, 1e-6, 'dx');
    expectClose(await be.read(g.dw), dw, 1e-6, 1e-6, 'dw');
    expectClose(await be.read(g.db!), db, 1e-6, 1e-6, 'db');
    const g2 = be.linearBackward(tdy, tx, tw, { needDx: false, hasBias: false });
    expect(g2.dx).toBeNull();
    expect(g2.db).toBeNull();
  });
});

describe('CpuBackend elementwise and in-place ops against direct float64 formulas', () => {
  const be = createCpuBackend();
  const a64 = randn(11, 61);
  const b64 = randn(11, 62);
  const a = Float64Array.from(Float32Array.from(a64));
  const b = Float64Array.from(Float32Array.from(b64));
  const ta = () => be.fromArray(Float32Array.from(a64), [11]);
  const tb = () => be.fromArray(Float32Array.from(b64), [11]);

  it('add, scale, addScaledInPlace', async () => {
    expectClose(await be.read(be.add(ta(), tb())), a.map((v, i) => v + b[i]!), 1e-7, 0, 'add');
    expectClose(await be.read(be.scale(ta(), -2.5)), a.map((v) => v * -2.5), 1e-7, 0, 'scale');
    const t = ta();
    be.addScaledInPlace(t, tb(), 0.3);
    expectClose(await be.read(t), a.map((v, i) => v + 0.3 * b[i]!), 1e-7, 1e-7, 'addScaledInPlace');
  });

  it('relu keeps NaN visible and maps -0 to 0; reluBackward masks on y > 0', async () => {
    const y = await be.read(be.relu(be.fromArray([-1, -0, 0, 2, NaN], [5])));
    expect(Array.from(y)).toEqual([0, 0, 0, 2, NaN]);
    expect(Object.is(y[1], -0)).toBe(false);
    const dx = await be.read(be.reluBackward(be.fromArray([1, 2, 3, 4], [4]), be.fromArray([0, 1, -1, 5], [4])));
    expect(Array.from(dx)).toEqual([0, 2, 0, 4]);
  });

  it('enqueue writes rows (ptr + i) mod K, for ptr past K too', async () => {
    const queue = be.zeros([5, 2]);
    be.enqueue(queue, be.fromArray([1, 1, 2, 2, 3, 3], [3, 2]), 13);
    // 13 mod 5 = 3: rows 3, 4, 0
    expect(Array.from(await be.read(queue))).toEqual([3, 3, 0, 0, 0, 0, 1, 1, 2, 2]);
  });

  it('sgdStep with momentum 0 equals p − lr·(g + wd·p)', async () => {
    const p = ta();
    const v = be.zeros([11]);
    be.sgdStep(p, tb(), v, { lr: 0.1, momentum: 0, weightDecay: 0.01 });
    expectClose(await be.read(p), a.map((x, i) => x - 0.1 * (b[i]! + 0.01 * x)), 1e-6, 1e-7, 'param');
  });
});
