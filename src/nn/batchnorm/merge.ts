/**
 * Exact merging of per-worker BatchNorm partial statistics (count, mean, M2 = Σ(x − mean)²) into
 * global ones with Chan et al.'s pairwise update, in float64. Used by `sync` BatchNorm: every tab
 * merges the same gathered rows in global worker order, so every tab gets bit-identical results.
 */
import { NnError } from '../errors.ts';

/** One worker's per-channel partial statistics. */
export interface StatsPartial {
  count: number;
  mean: ArrayLike<number>;
  m2: ArrayLike<number>;
}

/** Merged per-channel statistics. `variance` is the biased one (M2 / count), as BatchNorm uses. */
export interface MergedStats {
  count: number;
  mean: Float64Array;
  m2: Float64Array;
  variance: Float64Array;
}

/**
 * Merges partials in the given order: for A ∪ B, δ = μB − μA, μ = μA + δ·nB/n,
 * M2 = M2A + M2B + δ²·nA·nB/n. Partials with count 0 are skipped.
 */
export function mergeStats(parts: readonly StatsPartial[], channels: number): MergedStats {
  const mean = new Float64Array(channels);
  const m2 = new Float64Array(channels);
  let count = 0;
  for (const part of parts) {
    if (part.mean.length !== channels || part.m2.length !== channels) {
      throw new NnError('ERR_SHAPE', `partial statistics have ${part.mean.length}/${part.m2.length} channels, expected ${channels}`);
    }
    if (part.count <= 0) continue;
    const total = count + part.count;
    for (let ch = 0; ch < channels; ch++) {
      const delta = part.mean[ch]! - mean[ch]!;
      mean[ch] = mean[ch]! + (delta * part.count) / total;
      m2[ch] = m2[ch]! + part.m2[ch]! + (delta * delta * count * part.count) / total;
    }
    count = total;
  }
  const variance = new Float64Array(channels);
  if (count > 0) for (let ch = 0; ch < channels; ch++) variance[ch] = m2[ch]! / count;
  return { count, mean, m2, variance };
}
