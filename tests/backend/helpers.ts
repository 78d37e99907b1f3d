/** Test helpers for the CPU backend: seeded random data and closeness checks. */
import { expect } from 'vitest';
import { mulberry32 } from '../helpers/rng.ts';

export const rng = mulberry32;

/** Standard normal samples (Box–Muller) from a seeded PRNG. */
export function randn(n: number, seed: number, mean = 0, std = 1): Float64Array {
  const u = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    out[i] = mean + std * r * Math.cos(2 * Math.PI * u());
  }
  return out;
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise, reporting the worst element.
 */
export function expectClose(
  actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what = 'values',
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}[${worst}]: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}
