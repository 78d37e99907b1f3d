/** Page-side test utilities: seeded data and GPU-vs-reference comparison (pure functions, no vitest). */
import { mulberry32 } from '../../helpers/rng.ts';

/** The bit pattern every op output is pre-filled with: an element still holding it was never written. */
export const SENTINEL_BITS = 0xbaadf00d;

export const rng = mulberry32;

/** float32 normal samples mean + std·N(0, 1) (Box–Muller). */
export function randn(n: number, seed: number, mean = 0, std = 1): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return out;
}

export function randu(n: number, seed: number, lo: number, hi: number): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * u();
  return out;
}

export interface Tolerance {
  /** Relative to each expected element. */
  rtol: number;
  /** Absolute, as a fraction of max |expected| over the tensor (sums of many terms cancel). */
  atolFrac: number;
  /** Absolute floor, for results that cancel to far below the scale of their inputs. */
  atol?: number;
}

export interface Comparison {
  what: string;
  ok: boolean;
  /** Worst |got − want| / (atol + rtol·|want|); ≤ 1 passes. */
  worstRatio: number;
  worstIndex: number;
  got: number;
  want: number;
  /** Elements still holding the sentinel bits (never written by the kernel). */
  unwritten: number;
  lengthMismatch: boolean;
}

/** Compares a GPU result with the reference elementwise; NaN/∞ mismatches and sentinel bits fail. */
export function compare(what: string, got: Float32Array, want: ArrayLike<number>, tol: Tolerance): Comparison {
  const bits = new Uint32Array(got.buffer, got.byteOffset, got.length);
  let maxAbs = 0;
  for (let i = 0; i < want.length; i++) maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
  const atol = tol.atolFrac * maxAbs + (tol.atol ?? 0) + 1e-30;
  let unwritten = 0;
  let worstRatio = 0;
  let worstIndex = -1;
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    if (bits[i] === SENTINEL_BITS) unwritten++;
    const g = got[i]!;
    const w = want[i]!;
    let ratio = Math.abs(g - w) / (atol + tol.rtol * Math.abs(w));
    if (Number.isNaN(ratio)) ratio = Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)) ? 0 : Infinity;
    if (g === w) ratio = 0;
    if (ratio > worstRatio || worstIndex < 0) {
      worstRatio = ratio;
      worstIndex = i;
    }
  }
  const lengthMismatch = got.length !== want.length;
  return {
    what, worstRatio, worstIndex, unwritten, lengthMismatch,
    got: got[worstIndex] ?? NaN, want: want[worstIndex] ?? NaN,
    ok: !lengthMismatch && unwritten === 0 && worstRatio <= 1,
  };
}
