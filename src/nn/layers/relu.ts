/** y = max(x, 0). */
import type { Backend, Tensor } from '../../backend/backend.ts';
import { NnError } from '../errors.ts';
import { keepsForBackward, type ForwardContext, type Layer, type Parameter } from './types.ts';

/** Rectifier without parameters; keeps a copy of its output for the backward mask. */
export class ReLU implements Layer {
  /** Copy of the last training output: the backward mask is y > 0. */
  private cachedOutput: Tensor | null = null;
  private cacheBackend: Backend | null = null;

  async forward(x: Tensor, ctx: ForwardContext): Promise<Tensor> {
    this.clearCache();
    const y = ctx.backend.relu(x);
    if (keepsForBackward(ctx)) {
      this.cachedOutput = ctx.backend.clone(y);
      this.cacheBackend = ctx.backend;
    }
    return y;
  }

  async backward(dy: Tensor, ctx: ForwardContext): Promise<Tensor> {
    const y = this.cachedOutput;
    if (!y) throw new NnError('ERR_NO_FORWARD', 'ReLU.backward without a training forward');
    const dx = ctx.backend.reluBackward(dy, y);
    this.clearCache();
    return dx;
  }

  parameters(): Parameter[] {
    return [];
  }

  buffers(): Parameter[] {
    return [];
  }

  dispose(): void {
    this.clearCache();
  }

  private clearCache(): void {
    if (this.cachedOutput && this.cacheBackend) this.cacheBackend.dispose(this.cachedOutput);
    this.cachedOutput = null;
    this.cacheBackend = null;
  }
}
