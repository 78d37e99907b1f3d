/**
 * Host-side bookkeeping of distributed BatchNorm: packing per-worker channel statistics into the rows
 * that `WorkerWorld.gatherRows` exchanges, picking the borrowed rows, routing the statistics'
 * gradients back to the workers that produced them, and filling the trace. Rows are
 * `[mean[0..c), var[0..c)]` (or `[dmean, dvar]` in backward): one gather per layer carries both.
 * All sums run in float64 in global worker order, so every tab gets bit-identical results.
 */
import type { BnLayerTrace } from '../train/types.ts';

/** Rows [groups, 2c]: row g = first[g, :] ‖ second[g, :] (both [groups, c] row-major). */
export function packPairRows(first: Float32Array, second: Float32Array, groups: number, c: number): Float32Array {
  const rows = new Float32Array(groups * 2 * c);
  for (let g = 0; g < groups; g++) {
    rows.set(first.subarray(g * c, g * c + c), g * 2 * c);
    rows.set(second.subarray(g * c, g * c + c), g * 2 * c + c);
  }
  return rows;
}

/** The (mean, var) rows that this tab's workers borrow: worker firstWorker + g uses row sourceOf[firstWorker + g]. */
export function pickBorrowedRows(
  gathered: Float32Array,
  sourceOf: readonly number[],
  firstWorker: number,
  groups: number,
  c: number,
): { mean: Float32Array; variance: Float32Array } {
  const mean = new Float32Array(groups * c);
  const variance = new Float32Array(groups * c);
  for (let g = 0; g < groups; g++) {
    const base = sourceOf[firstWorker + g]! * 2 * c;
    mean.set(gathered.subarray(base, base + c), g * c);
    variance.set(gathered.subarray(base + c, base + 2 * c), g * c);
  }
  return { mean, variance };
}

/**
 * Shuffle backward: gathered row b holds borrower b's gradient w.r.t. the statistics it used, which
 * belong to worker sourceOf[b]. Each of this tab's workers w receives the sum over its borrowers
 * (exactly one for a permutation). Returns [groups, c] dmean and dvar.
 */
export function routeToProducers(
  gathered: Float32Array,
  sourceOf: readonly number[],
  firstWorker: number,
  groups: number,
  c: number,
): { dmean: Float32Array; dvar: Float32Array } {
  const dmean = new Float64Array(groups * c);
  const dvar = new Float64Array(groups * c);
  sourceOf.forEach((producer, borrower) => {
    const g = producer - firstWorker;
    if (g < 0 || g >= groups) return;
    const base = borrower * 2 * c;
    for (let ch = 0; ch < c; ch++) {
      dmean[g * c + ch]! += gathered[base + ch]!;
      dvar[g * c + ch]! += gathered[base + c + ch]!;
    }
  });
  return { dmean: Float32Array.from(dmean), dvar: Float32Array.from(dvar) };
}

/**
 * Sync backward: the global mean/var gradient is the sum of every worker's row; each local group
 * gets it scaled by `scale` (= local count / global count, see BatchNorm), tiled to [groups, c].
 */
export function sumForAllGroups(gathered: Float32Array, workers: number, groups: number, c: number, scale: number): { dmean: Float32Array; dvar: Float32Array } {
  const sumMean = new Float64Array(c);
  const sumVar = new Float64Array(c);
  for (let w = 0; w < workers; w++) {
    const base = w * 2 * c;
    for (let ch = 0; ch < c; ch++) {
      sumMean[ch]! += gathered[base + ch]!;
      sumVar[ch]! += gathered[base + c + ch]!;
    }
  }
  return { dmean: tileRows(sumMean.map((v) => v * scale), groups), dvar: tileRows(sumVar.map((v) => v * scale), groups) };
}

/** [groups, c] float32 with every row equal to `row`. */
export function tileRows(row: ArrayLike<number>, groups: number): Float32Array {
  const c = row.length;
  const out = new Float32Array(groups * c);
  for (let g = 0; g < groups; g++) for (let ch = 0; ch < c; ch++) out[g * c + ch] = row[ch]!;
  return out;
}

/** Per-worker channel statistics of the whole world, as plain arrays. */
export interface WorldStats {
  mean: number[][];
  variance: number[][];
}

/** Splits gathered [W, 2c] (mean ‖ var) rows into per-worker arrays. */
export function worldStatsFromPairRows(gathered: Float32Array, workers: number, c: number): WorldStats {
  const mean: number[][] = [];
  const variance: number[][] = [];
  for (let w = 0; w < workers; w++) {
    mean.push(Array.from(gathered.subarray(w * 2 * c, w * 2 * c + c)));
    variance.push(Array.from(gathered.subarray(w * 2 * c + c, w * 2 * c + 2 * c)));
  }
  return { mean, variance };
}

/**
 * One trace entry: `before` are each worker's own statistics, `after[w]` the statistics worker w
 * normalised with: `before[sourceOf[w]]` (the same values), or the shared merged statistics (sync).
 */
export function traceEntry(layer: number, before: WorldStats, after: { sourceOf: readonly number[] } | { sharedMean: number[]; sharedVar: number[] }): BnLayerTrace {
  const workers = before.mean.length;
  const meanAfter: number[][] = [];
  const varAfter: number[][] = [];
  for (let w = 0; w < workers; w++) {
    if ('sourceOf' in after) {
      meanAfter.push([...before.mean[after.sourceOf[w]!]!]);
      varAfter.push([...before.variance[after.sourceOf[w]!]!]);
    } else {
      meanAfter.push([...after.sharedMean]);
      varAfter.push([...after.sharedVar]);
    }
  }
  return { layer, meanBefore: before.mean, meanAfter, varBefore: before.variance, varAfter };
}
