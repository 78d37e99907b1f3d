/** Converter, encoder structure, SGD, parameter copy/EMA and (de)serialisation. */
import { describe, expect, it } from 'vitest';
import { checkBnTrace } from '../../src/nn/batchnorm/check-trace.ts';
import { convertShuffleBatchNorm } from '../../src/nn/convert.ts';
import { buildEncoder, forwardFeatures, hiddenFeatureDepth } from '../../src/nn/encoder.ts';
import { BatchNorm } from '../../src/nn/layers/batchnorm.ts';
import { Linear } from '../../src/nn/layers/linear.ts';
import { ReLU } from '../../src/nn/layers/relu.ts';
import { SGD, copyParams, emaParams } from '../../src/nn/optim.ts';
import { findBatchNorms, syncRunningStats } from '../../src/nn/batchnorm/running-stats.ts';
import { flattenTensors, unflattenInto } from '../../src/nn/serialize.ts';
import { stepPermutation } from '../../src/nn/permutation.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createRng } from '../../src/util/rng.ts';
import { backend, concat, makeCtx, workerRows } from './helpers.ts';

const SPEC = { inputDim: 8, hiddenDims: [6, 5], outputDim: 4, bnMode: 'local' as const };

describe('convertShuffleBatchNorm', () => {
  it('switches every BatchNorm to the new mode, keeping γ, β, running stats and optimizer bindings', async () => {
    const model = buildEncoder(backend, SPEC, createRng(1));
    const rng = createRng(2);
    const written: Float32Array[] = [];
    for (const bn of findBatchNorms(model)) {
      for (const p of [...bn.parameters(), ...bn.buffers()]) {
        const values = Float32Array.from({ length: p.value.size }, () => rng.uniform(0.1, 2));
        backend.write(p.value, values);
        written.push(values);
      }
    }
    const before = findBatchNorms(model);
    const sgd = new SGD(backend, model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 0 });
    const result = convertShuffleBatchNorm(model, { mode: 'shuffle' });
    expect(result).toBe(model);
    const after = findBatchNorms(model);
    expect(after).toHaveLength(3);
    after.forEach((bn, i) => {
      expect(bn).not.toBe(before[i]);
      expect(bn.mode).toBe('shuffle');
      expect(before[i]!.mode).toBe('local');
      expect(bn.affine).toBe(before[i]!.affine);
    });
    expect(after.map((bn) => bn.affine)).toEqual([true, true, false]);
    const values = await Promise.all(after.flatMap((bn) => [...bn.parameters(), ...bn.buffers()]).map((p) => backend.read(p.value)));
    expect(values).toEqual(written);
    // The optimizer built before the conversion still holds the model's parameters.
    expect(model.parameters()).toEqual(sgd.params);
    model.parameters().forEach((p, i) => expect(p).toBe(sgd.params[i]));

    // The converted model runs in its new mode.
    const world = localWorld(2);
    const ctx = makeCtx(world, stepPermutation(1, 0, 2, 'random'), { noGrad: true, trace: [] });
    const x = backend.fromArray(concat([workerRows(1, 0, 3, 8), workerRows(1, 1, 3, 8)]), [6, 8]);
    await model.forward(x, ctx);
    // Measured: the statistics bnApply consumed are worker 1's (2 workers: the only derangement).
    for (const t of ctx.trace!) {
      expect(t.kind).toBe('shuffle');
      expect(checkBnTrace(t).problems).toEqual([]);
    }
    await syncRunningStats(model, ctx);
  });

  it('converts a bare BatchNorm into a new layer', () => {
    const bn = new BatchNorm(backend, 3, { mode: 'local', affine: false, momentum: 0.2 });
    const converted = convertShuffleBatchNorm(bn, { mode: 'sync' });
    expect(converted).not.toBe(bn);
    expect(converted.mode).toBe('sync');
    expect(converted.momentum).toBe(0.2);
    expect(converted.runningMean).toBe(bn.runningMean);
  });

  it('the replaced layer refuses further use (ERR_LAYER_RELEASED)', async () => {
    const bn = new BatchNorm(backend, 2);
    convertShuffleBatchNorm(bn, { mode: 'shuffle' });
    const x = backend.fromArray(Float32Array.of(1, 2, 3, 4), [2, 2]);
    await expect(bn.forward(x, makeCtx(localWorld(1), null))).rejects.toMatchObject({ code: 'ERR_LAYER_RELEASED' });
  });
});

describe('buildEncoder', () => {
  it('is Linear → BN(affine) → ReLU per hidden width, then Linear → BN without affine', () => {
    const model = buildEncoder(backend, SPEC, createRng(3));
    const kinds = model.children.map((c) => (c instanceof Linear ? 'L' : c instanceof BatchNorm ? (c.affine ? 'B' : 'b') : c instanceof ReLU ? 'R' : '?'));
    expect(kinds.join('')).toBe('LBRLBRLb');
    expect(hiddenFeatureDepth(model)).toBe(6);
    expect(model.parameters()).toHaveLength(3 * 2 + 2 * 2);
  });

  it('initialises Linear like PyTorch: U(−1/√in, 1/√in), reproducible from the rng', async () => {
    const a = buildEncoder(backend, { ...SPEC, inputDim: 64 }, createRng(4));
    const b = buildEncoder(backend, { ...SPEC, inputDim: 64 }, createRng(4));
    const w = await backend.read(a.parameters()[0]!.value);
    const bound = 1 / Math.sqrt(64);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    expect(Math.abs(w.reduce((s, v) => s + v, 0) / w.length)).toBeLessThan(0.1 * bound);
    expect(await flattenTensors(backend, a.parameters().map((p) => p.value))).toEqual(await flattenTensors(backend, b.parameters().map((p) => p.value)));
  });

  it('forwardFeatures returns the last ReLU output, equal to running the first layers by hand', async () => {
    const model = buildEncoder(backend, SPEC, createRng(5));
    const ctx = { ...makeCtx(localWorld(1), null), training: false };
    const x = backend.fromArray(workerRows(3, 0, 4, 8), [4, 8]);
    const features = await forwardFeatures(model, x, ctx);
    expect(features.shape).toEqual([4, 5]);
    let h = x;
    for (const layer of model.children.slice(0, 6)) h = await layer.forward(h, ctx);
    expect(await backend.read(features)).toEqual(await backend.read(h));
    expect((await backend.read(features)).every((v) => v >= 0)).toBe(true);
  });
});

describe('SGD, copyParams, emaParams, flatten', () => {
  it('SGD follows PyTorch: g = grad + wd·p; v = μ·v + g; p −= lr·v', async () => {
    const model = new Linear(backend, 2, 1, createRng(6));
    const [w, b] = model.parameters();
    const opts = { lr: 0.1, momentum: 0.9, weightDecay: 0.01 };
    const sgd = new SGD(backend, model.parameters(), opts);
    const p = Array.from(await backend.read(w!.value));
    const v = [0, 0];
    for (const grad of [[1, -2], [0.5, 3]]) {
      w!.grad = backend.fromArray(Float32Array.from(grad), [1, 2]);
      sgd.step(); // b has no gradient: skipped
      for (let i = 0; i < 2; i++) {
        v[i] = opts.momentum * v[i]! + grad[i]! + opts.weightDecay * p[i]!;
        p[i] = p[i]! - opts.lr * v[i]!;
      }
      sgd.zeroGrad();
      expect(w!.grad).toBeNull();
    }
    const got = await backend.read(w!.value);
    p.forEach((ref, i) => expect(got[i]).toBeCloseTo(ref, 6));
    expect(await backend.read(b!.value)).toEqual(await backend.read(new Linear(backend, 2, 1, createRng(6)).bias!.value));
    sgd.destroy();
  });

  it('copyParams copies, emaParams blends m·target + (1 − m)·source', async () => {
    const q = buildEncoder(backend, SPEC, createRng(7));
    const k = buildEncoder(backend, { ...SPEC, bnMode: 'shuffle' }, createRng(8));
    copyParams(q, k);
    const flat = (m: typeof q) => flattenTensors(backend, m.parameters().map((p) => p.value));
    expect(await flat(k)).toEqual(await flat(q));
    const other = buildEncoder(backend, SPEC, createRng(9));
    const [kBefore, src] = [await flat(k), await flat(other)];
    emaParams(k, other, 0.99);
    const got = await flat(k);
    got.forEach((v, i) => expect(v).toBeCloseTo(0.99 * kBefore[i]! + 0.01 * src[i]!, 6));
    expect(() => copyParams(q, buildEncoder(backend, { ...SPEC, outputDim: 3 }, createRng(1)))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });

  it('flattenTensors / unflattenInto round-trip parameters and buffers', async () => {
    const a = buildEncoder(backend, SPEC, createRng(10));
    const b = buildEncoder(backend, SPEC, createRng(11));
    const tensors = (m: typeof a) => [...m.parameters(), ...m.buffers()].map((p) => p.value);
    const data = await flattenTensors(backend, tensors(a));
    expect(await flattenTensors(backend, tensors(b))).not.toEqual(data);
    unflattenInto(backend, tensors(b), data);
    expect(await flattenTensors(backend, tensors(b))).toEqual(data);
    expect(() => unflattenInto(backend, tensors(b), data.subarray(1))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });
});
