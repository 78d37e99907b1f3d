/**
 * Exact backward of every BatchNorm mode, checked against central differences of the forward over a
 * whole world of 4 virtual workers: loss = Σ r·y of Linear → BN → ReLU → Linear → BN. Perturbing one
 * worker's input moves every worker's loss that depends on it (through borrowed or global
 * statistics), so only a backward that routes the statistics' gradients back is correct.
 */
import { describe, expect, it } from 'vitest';
import { buildEncoder } from '../../src/nn/encoder.ts';
import { BatchNorm } from '../../src/nn/layers/batchnorm.ts';
import type { Layer } from '../../src/nn/layers/types.ts';
import { convertShuffleBatchNorm } from '../../src/nn/convert.ts';
import { stepPermutation } from '../../src/nn/permutation.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createRng } from '../../src/util/rng.ts';
import type { Sequential } from '../../src/nn/layers/sequential.ts';
import { discardRunningStats } from '../../src/nn/batchnorm/running-stats.ts';
import { backend, centralDiff, concat, forwardBackward, lossOf, makeCtx, workerRows, worstError } from './helpers.ts';

const WORKERS = 4;
const PER_WORKER = 4;
const IN = 3;
const HIDDEN = 4;
const OUT = 3;
/** Step of the central differences (float32 forward, float64 loss). */
const H = 1e-3;
/**
 * Central differences are only valid if no pre-ReLU value crosses 0 within ±H. The data seed below was
 * picked so every |pre-ReLU| ≥ KINK_MARGIN in all modes (a perturbation of H moves them < 0.02);
 * the tests assert it, so a change that invalidates the premise fails loudly instead of silently.
 */
const KINK_MARGIN = 0.04;
const DATA_SEED = 7;
const ATOL = 2e-3;
const RTOL = 2e-2;

type Mode = 'local' | 'shuffle' | 'sync';

async function randomiseAffine(model: Layer, seed: number): Promise<void> {
  const rng = createRng(seed);
  for (const p of model.parameters()) {
    if (p.name === 'weight' && p.value.shape.length === 1) backend.write(p.value, Float32Array.from({ length: p.value.size }, () => rng.uniform(0.5, 1.5)));
    if (p.name === 'bias' && p.value.shape.length === 1) backend.write(p.value, Float32Array.from({ length: p.value.size }, () => rng.uniform(-0.5, 0.5)));
  }
}

function upstream(size: number, seed: number): Float32Array {
  const rng = createRng(seed, 0x7570);
  return Float32Array.from({ length: size }, () => rng.normal());
}

/** Worst normalised error of dx and of every parameter gradient against central differences. */
async function gradientErrors(model: Sequential, mode: Mode): Promise<{ dx: number; params: number[] }> {
  const world = localWorld(WORKERS);
  const sourceOf = mode === 'shuffle' ? stepPermutation(5, 3, WORKERS, 'random') : null;
  const ctx = makeCtx(world, sourceOf);
  const x = concat(Array.from({ length: WORKERS }, (_, w) => workerRows(DATA_SEED, w, PER_WORKER, IN)));
  const shape = [WORKERS * PER_WORKER, IN];
  expect(await preReluMargin(model, x, shape, ctx)).toBeGreaterThan(KINK_MARGIN);
  const r = upstream(WORKERS * PER_WORKER * OUT, 9);
  const analytic = await forwardBackward(model, x, shape, ctx, r);
  const loss = () => lossOf(model, x, shape, ctx, r);
  const fdX = await centralDiff(x, loss, H);
  const params: number[] = [];
  for (const [i, p] of model.parameters().entries()) {
    const values = await backend.read(p.value);
    const fd = await centralDiff(values, loss, H, () => backend.write(p.value, values));
    params.push(worstError(analytic.grads[i]!, fd, ATOL, RTOL));
  }
  return { dx: worstError(analytic.dx, fdX, ATOL, RTOL), params };
}

/** Smallest |value| entering the ReLU (output of Linear → BN). */
async function preReluMargin(model: Sequential, x: Float32Array, shape: number[], ctx: ReturnType<typeof makeCtx>): Promise<number> {
  const xt = backend.fromArray(x, shape);
  const z = await model.forwardRange(xt, { ...ctx, noGrad: true }, 0, 2);
  const values = await backend.read(z);
  backend.dispose(xt);
  backend.dispose(z);
  discardRunningStats(model);
  return Math.min(...Array.from(values, Math.abs));
}

function encoder(mode: Mode): Sequential {
  return buildEncoder(backend, { inputDim: IN, hiddenDims: [HIDDEN], outputDim: OUT, bnMode: mode }, createRng(11));
}

describe('BatchNorm backward = central differences over a world of 4 workers', () => {
  for (const mode of ['local', 'shuffle', 'sync'] as const) {
    it(`${mode}: dx of every worker, dW, db, dγ, dβ`, async () => {
      const model = encoder(mode);
      await randomiseAffine(model, 3);
      const errors = await gradientErrors(model, mode);
      expect(errors.dx).toBeLessThan(1);
      expect(errors.params).toHaveLength(6); // W1 b1 γ1 β1 W2 b2 (output BN has no affine)
      for (const e of errors.params) expect(e).toBeLessThan(1);
      model.dispose();
    });
  }

  for (const mode of ['shuffle', 'sync'] as const) {
    it(`${mode}: without routing the statistics' gradients back, the check fails`, async () => {
      const model = convertShuffleBatchNorm(encoder(mode), { mode, routeStatGradients: false });
      await randomiseAffine(model, 3);
      const errors = await gradientErrors(model, mode);
      expect(errors.dx).toBeGreaterThan(10);
      model.dispose();
    });
  }

  it('shuffle on [N, C, H, W] input (hw > 1): dx, dγ, dβ', async () => {
    const n = 2;
    const c = 2;
    const shape = [WORKERS * n, c, 2, 2];
    const bn = new BatchNorm(backend, c, { mode: 'shuffle' });
    await randomiseAffine(bn, 4);
    const ctx = makeCtx(localWorld(WORKERS), stepPermutation(2, 0, WORKERS, 'random'));
    const x = concat(Array.from({ length: WORKERS }, (_, w) => workerRows(5, w, n, c * 4)));
    const r = upstream(x.length, 1);
    const analytic = await forwardBackward(bn, x, shape, ctx, r);
    const loss = () => lossOf(bn, x, shape, ctx, r);
    expect(worstError(analytic.dx, await centralDiff(x, loss, H), ATOL, RTOL)).toBeLessThan(1);
    for (const [i, p] of bn.parameters().entries()) {
      const values = await backend.read(p.value);
      const fd = await centralDiff(values, loss, H, () => backend.write(p.value, values));
      expect(worstError(analytic.grads[i]!, fd, ATOL, RTOL)).toBeLessThan(1);
    }
    bn.dispose();
  });
});
