/** Fully connected layer, PyTorch layout: y[N, out] = x[N, in] · Wᵀ + b, W is [out, in]. */
import type { Backend, Tensor } from '../../backend/backend.ts';
import type { Rng } from '../../util/rng.ts';
import { NnError } from '../errors.ts';
import { accumulateGrad, createParameter, disposeParameter, keepsForBackward, type ForwardContext, type Layer, type Parameter } from './types.ts';

export interface LinearOptions {
  /** Default true, as in PyTorch. */
  bias?: boolean;
}

/** Linear layer with PyTorch's layout and initialisation; keeps a copy of its input for dW. */
export class Linear implements Layer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  /** Copy of the last training input, for dW. */
  private cachedInput: Tensor | null = null;
  private disposed = false;

  /**
   * PyTorch's default initialisation: W and b ~ U(−1/√in, 1/√in) (kaiming_uniform with a = √5),
   * drawn from `rng` in row-major order, weights first.
   */
  constructor(
    private readonly backend: Backend,
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    opts: LinearOptions = {},
  ) {
    const bound = 1 / Math.sqrt(inFeatures);
    const w = new Float32Array(outFeatures * inFeatures);
    for (let i = 0; i < w.length; i++) w[i] = rng.uniform(-bound, bound);
    this.weight = createParameter(backend, 'weight', backend.fromArray(w, [outFeatures, inFeatures]));
    if (opts.bias ?? true) {
      const b = new Float32Array(outFeatures);
      for (let i = 0; i < b.length; i++) b[i] = rng.uniform(-bound, bound);
      this.bias = createParameter(backend, 'bias', backend.fromArray(b, [outFeatures]));
    } else {
      this.bias = null;
    }
  }

  async forward(x: Tensor, ctx: ForwardContext): Promise<Tensor> {
    if (x.shape.length !== 2 || x.shape[1] !== this.inFeatures) {
      throw new NnError('ERR_SHAPE', `Linear(${this.inFeatures}→${this.outFeatures}) got input [${x.shape.join(', ')}]`);
    }
    this.clearCache();
    if (keepsForBackward(ctx)) this.cachedInput = ctx.backend.clone(x);
    return ctx.backend.linear(x, this.weight.value, this.bias?.value ?? null);
  }

  async backward(dy: Tensor, ctx: ForwardContext): Promise<Tensor> {
    const x = this.cachedInput;
    if (!x) throw new NnError('ERR_NO_FORWARD', 'Linear.backward without a training forward');
    const result = ctx.backend.linearBackward(dy, x, this.weight.value, { needDx: true, hasBias: this.bias !== null });
    accumulateGrad(this.weight, result.dw);
    if (this.bias && result.db) accumulateGrad(this.bias, result.db);
    this.clearCache();
    if (!result.dx) throw new NnError('ERR_SHAPE', 'backend returned no input gradient');
    return result.dx;
  }

  parameters(): Parameter[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  buffers(): Parameter[] {
    return [];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearCache();
    for (const p of this.parameters()) disposeParameter(p);
  }

  private clearCache(): void {
    if (this.cachedInput) this.backend.dispose(this.cachedInput);
    this.cachedInput = null;
  }
}
