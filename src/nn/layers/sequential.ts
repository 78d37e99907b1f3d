/** A chain of layers. `children` is public and mutable so converters can swap layers in place. */
import type { Tensor } from '../../backend/backend.ts';
import type { ForwardContext, Layer, Parameter } from './types.ts';

export class Sequential implements Layer {
  readonly children: Layer[];

  constructor(children: Layer[]) {
    this.children = [...children];
  }

  async forward(x: Tensor, ctx: ForwardContext): Promise<Tensor> {
    return this.forwardRange(x, ctx, 0, this.children.length);
  }

  /**
   * Runs children [start, end) only, e.g. to read hidden features. The returned tensor is new
   * (never `x` itself), even for an empty range.
   */
  async forwardRange(x: Tensor, ctx: ForwardContext, start: number, end: number): Promise<Tensor> {
    let current = x;
    for (let i = start; i < end; i++) {
      const next = await this.children[i]!.forward(current, ctx);
      // Layers keep their own copies for backward, so intermediates can go right away.
      if (current !== x) ctx.backend.dispose(current);
      current = next;
    }
    return current === x ? ctx.backend.clone(x) : current;
  }

  /**
   * Backward through every child, last first. `afterLayer` runs when a child's backward has returned,
   * i.e. when its parameters' gradients are final (each parameter is used once in forward): the
   * trainer's gradient buckets start their all-reduce there.
   */
  async backward(dy: Tensor, ctx: ForwardContext, afterLayer?: (layer: Layer) => Promise<void>): Promise<Tensor> {
    let current = dy;
    for (let i = this.children.length - 1; i >= 0; i--) {
      const next = await this.children[i]!.backward(current, ctx);
      if (current !== dy) ctx.backend.dispose(current);
      current = next;
      if (!afterLayer) continue;
      try {
        await afterLayer(this.children[i]!);
      } catch (err) {
        if (current !== dy) ctx.backend.dispose(current);
        throw err;
      }
    }
    return current === dy ? ctx.backend.clone(dy) : current;
  }

  parameters(): Parameter[] {
    return this.children.flatMap((c) => c.parameters());
  }

  buffers(): Parameter[] {
    return this.children.flatMap((c) => c.buffers());
  }

  dispose(): void {
    for (const c of this.children) c.dispose();
  }
}
