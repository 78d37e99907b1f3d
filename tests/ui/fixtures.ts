/**
 * Test data for the UI tests (Node and page side): BN traces whose "after" means are, by construction,
 * the "before" means of each worker's source, and step logs of a run.
 */
import type { BnLayerTrace, StepLog } from '../../src/train/types.ts';

/** Deterministic values in [-1, 1): a small LCG so Node and the page build identical data. */
export function values(seed: number, n: number): number[] {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(s / 2 ** 31 - 1);
  }
  return out;
}

/** One layer: before[w] random, after[w] = before[sourceOf[w]] (what shuffle BN does to the means). */
export function shuffledLayer(layer: number, sourceOf: readonly number[], channels: number, seed = 1): BnLayerTrace {
  const meanBefore = sourceOf.map((_, w) => values(seed * 1000 + layer * 100 + w, channels));
  const varBefore = sourceOf.map((_, w) => values(seed * 7000 + layer * 100 + w, channels).map((v) => v * v + 0.1));
  const meanAfter = sourceOf.map((s) => [...meanBefore[s]!]);
  const varAfter = sourceOf.map((s) => [...varBefore[s]!]);
  const eps = 1e-5;
  // The normalised output's means a correct layer produces with these statistics.
  const meanOut = meanBefore.map((row, w) => row.map((m, ch) => (m - meanAfter[w]![ch]!) / Math.sqrt(varAfter[w]![ch]! + eps)));
  return { layer, kind: 'shuffle', sourceOf: [...sourceOf], count: 8, eps, meanBefore, varBefore, meanAfter, varAfter, meanOut };
}

/** A step log with a BN trace of `layers` layers. */
export function stepLog(step: number, sourceOf: readonly number[], opts: { channels?: number; layers?: number; knn?: boolean } = {}): StepLog {
  const channels = opts.channels ?? 8;
  const bn = Array.from({ length: opts.layers ?? 1 }, (_, l) => shuffledLayer(l, sourceOf, channels, step + 1));
  const log: StepLog = {
    step,
    loss: 7 - step * 0.01 + values(step, 1)[0]! * 0.05,
    pretextAcc: Math.min(1, 0.05 + step * 0.004),
    sourceOf: [...sourceOf],
    computeMs: 3 + step * 0.125,
    commMs: 0.5,
    bn,
  };
  if (opts.knn) log.knnAcc = 0.1 + step * 0.001;
  return log;
}

/** A derangement of n workers: r ← r + shift (mod n). */
export function cyclic(n: number, shift = 1): number[] {
  return Array.from({ length: n }, (_, w) => (w + shift) % n);
}
