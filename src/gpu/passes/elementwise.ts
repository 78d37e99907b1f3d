/**
 * Elementwise passes: one thread per 4 elements (vec4), 256 threads per workgroup. Buffers are pooled
 * in multiples of 16 bytes, so ⌈n/4⌉ vec4s always fit; the tail past n lands in padding.
 */
import fillWgsl from '../../../shaders/fill.wgsl?raw';
import addWgsl from '../../../shaders/add.wgsl?raw';
import addScaledWgsl from '../../../shaders/add_scaled.wgsl?raw';
import scaleWgsl from '../../../shaders/scale.wgsl?raw';
import reluWgsl from '../../../shaders/relu.wgsl?raw';
import reluBackwardWgsl from '../../../shaders/relu_backward.wgsl?raw';
import sgdWgsl from '../../../shaders/sgd.wgsl?raw';
import emaWgsl from '../../../shaders/ema.wgsl?raw';
import { ComputePass, type PassContext } from '../compute-pass.ts';

/** out[0..n) = a 32-bit pattern (sentinels in tests). */
export class FillPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'Fill', code: fillWgsl, storage: ['write'] });
  }
  run(out: GPUBuffer, n: number, bits: number): void {
    this.dispatch([out], this.groupsFor(Math.ceil(n / 4)), [Math.ceil(n / 4), bits >>> 0]);
  }
}

export class AddPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'Add', code: addWgsl, storage: ['read', 'read', 'write'] });
  }
  run(a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, n: number): void {
    this.dispatch([a, b, out], this.groupsFor(Math.ceil(n / 4)), [Math.ceil(n / 4)]);
  }
}

export class AddScaledPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'AddScaled', code: addScaledWgsl, storage: ['write', 'read'] });
  }
  run(a: GPUBuffer, b: GPUBuffer, n: number, alpha: number): void {
    this.dispatch([a, b], this.groupsFor(Math.ceil(n / 4)), [Math.ceil(n / 4)], [alpha]);
  }
}

export class ScalePass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'Scale', code: scaleWgsl, storage: ['read', 'write'] });
  }
  run(a: GPUBuffer, out: GPUBuffer, n: number, s: number): void {
    this.dispatch([a, out], this.groupsFor(Math.ceil(n / 4)), [Math.ceil(n / 4)], [s]);
  }
}

export class ReluPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'Relu', code: reluWgsl, storage: ['read', 'write'] });
  }
  run(x: GPUBuffer, out: GPUBuffer, n: number): void {
    this.dispatch([x, out], this.groupsFor(Math.ceil(n / 4)), [Math.ceil(n / 4)]);
  }
}

export class ReluBackwardPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'ReluBackward', code: reluBackwardWgsl, storage: ['read', 'read', 'write'] });
  }
  run(dy: GPUBuffer, y: GPUBuffer, dx: GPUBuffer, n: number): void {
    this.dispatch([dy, y, dx], this.groupsFor(Math.ceil(n / 4)), [Math.ceil(n / 4)]);
  }
}

export class SgdPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'Sgd', code: sgdWgsl, storage: ['write', 'read', 'write'] });
  }
  run(param: GPUBuffer, grad: GPUBuffer, velocity: GPUBuffer, n: number, lr: number, momentum: number, weightDecay: number): void {
    this.dispatch([param, grad, velocity], this.groupsFor(Math.ceil(n / 4)), [Math.ceil(n / 4)], [lr, momentum, weightDecay]);
  }
}

export class EmaPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'Ema', code: emaWgsl, storage: ['write', 'read'] });
  }
  run(target: GPUBuffer, source: GPUBuffer, n: number, m: number): void {
    this.dispatch([target, source], this.groupsFor(Math.ceil(n / 4)), [Math.ceil(n / 4)], [m]);
  }
}
