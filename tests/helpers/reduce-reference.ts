/**
 * Inputs and the expected sum for all-reduce tests, written apart from the code under test: the
 * direct exchange adds contributions in rank order in float32, and so does `rankOrderSum`.
 */
import { mulberry32 } from './rng.ts';

/** `n` tensors of `length` values, uniform in (−maxAbs, maxAbs), reproducible from `seed`. */
export function uniformParts(n: number, seed: number, length: number, maxAbs: number): Float32Array[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length }, () => (rand() - 0.5) * 2 * maxAbs));
}

/** Float32 adds in rank order. */
export function rankOrderSum(parts: readonly Float32Array[]): Float32Array {
  const sum = new Float32Array(parts[0]!.length);
  for (const part of parts) for (let i = 0; i < sum.length; i++) sum[i] = Math.fround(sum[i]! + part[i]!);
  return sum;
}
