/** Row-wise L2 normalisation and the InfoNCE loss: one workgroup per row. */
import l2Wgsl from '../../../shaders/l2_normalize.wgsl?raw';
import l2BackwardWgsl from '../../../shaders/l2_normalize_backward.wgsl?raw';
import rowsWgsl from '../../../shaders/infonce_rows.wgsl?raw';
import reduceWgsl from '../../../shaders/infonce_reduce.wgsl?raw';
import gradWgsl from '../../../shaders/infonce_grad.wgsl?raw';
import posGradWgsl from '../../../shaders/infonce_pos_grad.wgsl?raw';
import { ComputePass, type PassContext } from '../compute-pass.ts';

/**
 * Threads per row: 64 on GPUs; on CPU-backed adapters a row gets one SIMD group (4 lanes), since
 * every workgroup barrier of the tree reductions switches between invocation groups there.
 */
function rowThreads(ctx: PassContext): number {
  return ctx.cpuAdapter ? 4 : 64;
}

export class L2NormalizePass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'L2Normalize', code: l2Wgsl, storage: ['read', 'write'], workgroupSize: rowThreads(ctx) });
  }
  run(x: GPUBuffer, y: GPUBuffer, rows: number, d: number): void {
    this.dispatch([x, y], rows, [rows, d]);
  }
}

export class L2NormalizeBackwardPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'L2NormalizeBackward', code: l2BackwardWgsl, storage: ['read', 'read', 'write'], workgroupSize: rowThreads(ctx) });
  }
  run(dy: GPUBuffer, x: GPUBuffer, dx: GPUBuffer, rows: number, d: number): void {
    this.dispatch([dy, x, dx], rows, [rows, d]);
  }
}

/** Positive logit into column 0, per-row loss and correctness. */
export class InfoNceRowsPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'InfoNceRows', code: rowsWgsl, storage: ['read', 'read', 'write', 'write', 'write'], workgroupSize: rowThreads(ctx) });
  }
  run(q: GPUBuffer, kPos: GPUBuffer, logits: GPUBuffer, rowLoss: GPUBuffer, rowCorrect: GPUBuffer, rows: number, d: number, k: number, temperature: number): void {
    this.dispatch([q, kPos, logits, rowLoss, rowCorrect], rows, [rows, d, k], [1 / temperature]);
  }
}

export class InfoNceReducePass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'InfoNceReduce', code: reduceWgsl, storage: ['read', 'read', 'write', 'write'], workgroupSize: 256 });
  }
  run(rowLoss: GPUBuffer, rowCorrect: GPUBuffer, loss: GPUBuffer, correct: GPUBuffer, rows: number): void {
    this.dispatch([rowLoss, rowCorrect, loss, correct], 1, [rows]);
  }
}

/** grad [rows, cols] = (softmax(logits) − onehot(0)) · scale. */
export class InfoNceGradPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'InfoNceGrad', code: gradWgsl, storage: ['read', 'write'], workgroupSize: rowThreads(ctx) });
  }
  run(logits: GPUBuffer, grad: GPUBuffer, rows: number, cols: number, scale: number): void {
    this.dispatch([logits, grad], rows, [rows, cols], [scale]);
  }
}

export class InfoNcePosGradPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'InfoNcePosGrad', code: posGradWgsl, storage: ['read', 'read', 'write'] });
  }
  run(grad: GPUBuffer, kPos: GPUBuffer, dq: GPUBuffer, rows: number, d: number, cols: number): void {
    this.dispatch([grad, kPos, dq], this.groupsFor(rows * d), [rows, d, cols]);
  }
}
