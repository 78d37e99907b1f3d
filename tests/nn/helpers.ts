/** Shared fixtures for the nn tests: a CPU backend, keyed worker data, and worlds split over tabs. */
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import { createMemoryGroups } from '../../src/mesh/memory.ts';
import { createRng } from '../../src/util/rng.ts';
import { localWorld, processGroupWorld, type WorkerWorld } from '../../src/nn/world.ts';
import type { ForwardContext, Layer, Parameter } from '../../src/nn/layers/types.ts';
import { discardRunningStats } from '../../src/nn/batchnorm/running-stats.ts';

export const backend: Backend = createCpuBackend();

/** Worker w's rows [n, dim] from its own stream (placement-independent), with a per-worker offset. */
export function workerRows(seed: number, worker: number, n: number, dim: number): Float32Array {
  const rng = createRng(seed, worker, 0x64617461);
  return Float32Array.from({ length: n * dim }, () => rng.normal() + 0.3 * worker);
}

export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One world per tab: a single local world, or memory process groups with these worker counts. */
export async function makeWorlds(split: readonly number[]): Promise<WorkerWorld[]> {
  if (split.length === 1) return [localWorld(split[0]!)];
  const groups = createMemoryGroups(split.length);
  return Promise.all(groups.map((g, r) => processGroupWorld(g, split[r]!)));
}

export function makeCtx(world: WorkerWorld, sourceOf: number[] | null, extra: Partial<ForwardContext> = {}): ForwardContext {
  return { backend, training: true, world, sourceOf, ...extra };
}

/** Σ r·y in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Loss Σ r·y of one training forward (nothing kept, no running-stat update). */
export async function lossOf(model: Layer, x: Float32Array, shape: number[], ctx: ForwardContext, r: Float32Array): Promise<number> {
  const xt = backend.fromArray(x, shape);
  const y = await model.forward(xt, { ...ctx, noGrad: true });
  const yv = await backend.read(y);
  backend.dispose(xt);
  backend.dispose(y);
  discardRunningStats(model);
  return dot(yv, r);
}

/** Forward + backward with upstream gradient r; returns y, dx and a copy of each parameter gradient. */
export async function forwardBackward(
  model: Layer,
  x: Float32Array,
  shape: number[],
  ctx: ForwardContext,
  r: Float32Array,
): Promise<{ y: Float32Array; dx: Float32Array; grads: Float32Array[] }> {
  for (const p of model.parameters()) clearGrad(p);
  const xt = backend.fromArray(x, shape);
  const y = await model.forward(xt, ctx);
  const dyT = backend.fromArray(r, y.shape);
  const dxT = await model.backward(dyT, ctx);
  const out = {
    y: await backend.read(y),
    dx: await backend.read(dxT),
    grads: await Promise.all(model.parameters().map((p) => (p.grad ? backend.read(p.grad) : Promise.resolve(new Float32Array(p.value.size))))),
  };
  for (const t of [xt, y, dyT, dxT]) backend.dispose(t);
  return out;
}

export function clearGrad(p: Parameter): void {
  if (p.grad) backend.dispose(p.grad);
  p.grad = null;
}

/** Central difference of `f` w.r.t. each entry of `values` (modified in place, then restored). */
export async function centralDiff(values: Float32Array, f: () => Promise<number>, h: number, apply: () => void = () => {}): Promise<Float64Array> {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const orig = values[i]!;
    values[i] = orig + h;
    apply();
    const plus = await f();
    values[i] = orig - h;
    apply();
    const minus = await f();
    values[i] = orig;
    apply();
    // Divide by the perturbation actually representable in float32.
    out[i] = (plus - minus) / (Math.fround(orig + h) - Math.fround(orig - h));
  }
  return out;
}

/** Largest |a − b| / (atol + rtol·|b|); ≤ 1 means within tolerance. */
export function worstError(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  expectSameLength(a, b);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (atol + rtol * Math.abs(b[i]!)));
  return worst;
}

function expectSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
}

export async function readParam(p: Parameter): Promise<Float32Array> {
  return backend.read(p.value);
}

export function tensorOf(data: Float32Array, shape: number[]): Tensor {
  return backend.fromArray(data, shape);
}
