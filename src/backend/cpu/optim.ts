/** Optimiser and MoCo state-update kernels (in place). */
import type { Real } from './tensor.ts';

/**
 * PyTorch SGD (dampening 0, no Nesterov): g = grad + wd·p; v = momentum·v + g; p −= lr·v.
 * PyTorch's first step sets v = g, which is the same as this update from v = 0.
 */
export function sgdKernel(param: Real, grad: Real, velocity: Real, lr: number, momentum: number, weightDecay: number): void {
  for (let i = 0; i < param.length; i++) {
    const p = param[i]!;
    const g = grad[i]! + weightDecay * p;
    const v = momentum * velocity[i]! + g;
    velocity[i] = v;
    param[i] = p - lr * v;
  }
}

/** target = m·target + (1 − m)·source (momentum/key encoder update). */
export function emaKernel(target: Real, source: Real, m: number): void {
  const oneMinusM = 1 - m;
  for (let i = 0; i < target.length; i++) target[i] = m * target[i]! + oneMinusM * source[i]!;
}

/** queue rows (ptr + i) mod K = keys[i]; queue is [K, D], keys [B, D] with B ≤ K. */
export function enqueueKernel(queue: Real, keys: Real, queueRows: number, rowSize: number, ptr: number): void {
  const batch = rowSize === 0 ? 0 : keys.length / rowSize;
  const start = ((ptr % queueRows) + queueRows) % queueRows;
  for (let i = 0; i < batch; i++) {
    const row = (start + i) % queueRows;
    queue.set(keys.subarray(i * rowSize, (i + 1) * rowSize), row * rowSize);
  }
}
