/** Elementwise kernels on plain arrays (float32 in the backend, float64 in tests). */
import type { Real } from './tensor.ts';

/** out = a + b. */
export function addKernel(a: Real, b: Real, out: Real): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
}

/** a += alpha · b, in place. */
export function addScaledKernel(a: Real, b: Real, alpha: number): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! + alpha * b[i]!;
}

/** out = a · s. */
export function scaleKernel(a: Real, s: number, out: Real): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! * s;
}

/** out = max(x, 0); NaN stays NaN so that a broken upstream value is not hidden. */
export function reluKernel(x: Real, out: Real): void {
  for (let i = 0; i < out.length; i++) {
    const v = x[i]!;
    out[i] = v < 0 ? 0 : v === 0 ? 0 : v;
  }
}

/** dx = dy where y > 0, else 0 (the mask comes from the forward output, as PyTorch's threshold_backward). */
export function reluBackwardKernel(dy: Real, y: Real, dx: Real): void {
  for (let i = 0; i < dx.length; i++) dx[i] = y[i]! > 0 ? dy[i]! : 0;
}
