/**
 * The layer contract. Layers run on any `Backend`; activations are `[rows, features]` (or
 * `[rows, C, H, W]` for BatchNorm) with rows = localWorkers · n: worker g of this tab owns rows
 * g·n … g·n + n − 1.
 *
 * Ownership: `forward` and `backward` return new tensors owned by the caller; a layer never disposes
 * its input, and keeps its own copies of what backward needs (freed after backward or on the next
 * forward), so callers may dispose their tensors at any time.
 */
import type { Backend, Tensor } from '../../backend/backend.ts';
import type { BnLayerTrace } from '../batchnorm/types.ts';
import type { WorkerWorld } from '../world.ts';

/** A trainable tensor (or a buffer such as BatchNorm running statistics, which has no gradient). */
export interface Parameter {
  readonly name: string;
  value: Tensor;
  /** Accumulated gradient (summed over backward calls) until the optimizer's zeroGrad. */
  grad: Tensor | null;
  /** The backend that owns `value`, so helpers such as copyParams need no extra argument. */
  readonly backend: Backend;
}

export interface ForwardContext {
  backend: Backend;
  /** Training: BatchNorm uses batch statistics (per its mode). Eval: running statistics. */
  training: boolean;
  world: WorkerWorld;
  /** This step's lending map (global worker → worker whose BN statistics it uses); shuffle mode only. */
  sourceOf: number[] | null;
  /**
   * When given, every BatchNorm appends one measured entry (all world workers' channel statistics
   * before and after the exchange, and their normalised output's means; see batchnorm/trace.ts). It
   * costs readbacks and one extra gather per layer, so set it on every tab or on none (collectives
   * must match).
   */
  trace?: BnLayerTrace[];
  /** The trainer's step, named by errors (e.g. a non-finite statistic). */
  step?: number;
  /** Forward only: keep nothing for backward (key encoder, evaluation). Eval forwards never keep. */
  noGrad?: boolean;
}

export interface Layer {
  forward(x: Tensor, ctx: ForwardContext): Promise<Tensor>;
  /** Gradient of the input; parameter gradients are accumulated into `Parameter.grad`. */
  backward(dy: Tensor, ctx: ForwardContext): Promise<Tensor>;
  parameters(): Parameter[];
  /** Non-trainable state (BatchNorm running mean/var). */
  buffers(): Parameter[];
  /** Frees parameters, buffers and caches; idempotent. */
  dispose(): void;
}

/** True when a forward must keep what backward needs. */
export function keepsForBackward(ctx: ForwardContext): boolean {
  return ctx.training && !ctx.noGrad;
}

/** Creates a parameter owning `value`. */
export function createParameter(backend: Backend, name: string, value: Tensor): Parameter {
  return { name, value, grad: null, backend };
}

/** Adds `grad` (which it takes ownership of) into `param.grad`. */
export function accumulateGrad(param: Parameter, grad: Tensor): void {
  if (param.grad === null) {
    param.grad = grad;
    return;
  }
  param.backend.addScaledInPlace(param.grad, grad, 1);
  param.backend.dispose(grad);
}

/** Frees a parameter's value and gradient. */
export function disposeParameter(param: Parameter): void {
  param.backend.dispose(param.value);
  if (param.grad) param.backend.dispose(param.grad);
  param.grad = null;
}
