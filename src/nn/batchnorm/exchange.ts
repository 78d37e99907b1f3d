/**
 * The BatchNorm exchange, both directions, for one layer of one tab:
 * - forward (`exchangeStatistics`): computes this tab's workers' batch statistics and returns the
 *   ones each worker normalises with: its own (`local`), worker sourceOf[w]'s (`shuffle`: one gather
 *   of (mean ‖ var) rows), or the world's merged exactly from (count, mean, M2) rows (`sync`);
 * - backward (`returnStatGradients`): gathers every worker's gradient w.r.t. the statistics it used
 *   and hands each producer the part that belongs to its statistics (shuffle: the borrower's row,
 *   i.e. the inverse of sourceOf; sync: the world's sum), turned into an input gradient.
 * Row layouts and the checks of received rows live in rows.ts. All host sums run in float64 in
 * global worker order, so every tab gets bit-identical results.
 *
 * Test-only: `setBnMisrouteForTests` (or `globalThis.__SBN_TEST_MISROUTE__`, or the environment
 * variable SBN_TEST_MISROUTE for a whole Node suite) routes statistics wrongly on purpose, to show
 * that the measured traces and the tests catch it. Off unless set.
 */
import { assertBnTrainable, type BnBorrowedBackwardResult, type BnLayout, type Tensor } from '../../backend/backend.ts';
import { assertWorldAtLeastTwo, NnError } from '../errors.ts';
import type { ForwardContext } from '../layers/types.ts';
import { assertSourceOf, inversePermutation } from '../permutation.ts';
import { mergeStats } from './merge.ts';
import { checkGradRows, checkStatRows, decodeSyncRows, packPairRows, packSyncRows, type RowsSite } from './rows.ts';
import type { BnStatsKind } from './types.ts';

/**
 * Deliberate mis-routings (tests only):
 * - `own`: every worker normalises with its own statistics (shuffle, sync);
 * - `borrower`: worker w uses the statistics of the worker that borrows from it (inverse of sourceOf);
 *   backward still routes by sourceOf;
 * - `offset`: the tab forgets its first worker's global index (wrong rows on every tab but the first);
 * - `inverse`: consistently inverse, forward and backward (a valid shuffle, just not the logged one).
 */
export type MisrouteVariant = 'own' | 'borrower' | 'offset' | 'inverse';
export const MISROUTE_VARIANTS: readonly MisrouteVariant[] = ['own', 'borrower', 'offset', 'inverse'];

let misrouteOverride: MisrouteVariant | null | undefined;

/** Test-only: turns a mis-routing on (`null` = off, `undefined` = back to the global/environment). */
export function setBnMisrouteForTests(variant: MisrouteVariant | null | undefined): void {
  misrouteOverride = variant;
}

/** The mis-routing in force: the setter, else `globalThis.__SBN_TEST_MISROUTE__`, else SBN_TEST_MISROUTE. */
export function activeMisroute(): MisrouteVariant | null {
  if (misrouteOverride !== undefined) return misrouteOverride;
  const g = globalThis as { __SBN_TEST_MISROUTE__?: string; process?: { env?: Record<string, string | undefined> } };
  const value = g.__SBN_TEST_MISROUTE__ ?? g.process?.env?.SBN_TEST_MISROUTE;
  if (!value) return null;
  if (!(MISROUTE_VARIANTS as readonly string[]).includes(value)) {
    throw new NnError('ERR_SHAPE', `SBN_TEST_MISROUTE=${value} is not one of ${MISROUTE_VARIANTS.join(', ')}`);
  }
  return value as MisrouteVariant;
}

/** What bnApply consumes, plus what backward, the running statistics and the trace need. */
export interface UsedStats {
  /** [groups, c]: own (local), borrowed (shuffle) or global (sync); passed to bnApply. Owned by the caller. */
  mean: Tensor;
  variance: Tensor;
  /** shuffle: this tab's own batch means (the producer side of backward); else null. */
  ownMean: Tensor | null;
  /**
   * This tab's own statistics [groups, c] as read back for the exchange (shuffle, sync); null in
   * local mode, where nothing is read back unless the step is traced.
   */
  own: { mean: Float32Array; variance: Float32Array } | null;
  /** Values behind each used statistic (unbiased running variance): n·hw, or the world's total (sync). */
  recordCount: number;
  /** sync: local values over global values, scaling the global statistics' gradient; else 1. */
  countRatio: number;
}

/** Computes (and for shuffle/sync, exchanges) the statistics of BatchNorm layer `layer`. */
export async function exchangeStatistics(kind: BnStatsKind, x: Tensor, layout: BnLayout, ctx: ForwardContext, layer: number): Promise<UsedStats> {
  const { backend, world } = ctx;
  const { groups, c } = layout;
  const localCount = layout.n * layout.hw;
  // Unlike PyTorch's SyncBatchNorm (which only needs 2 values in the world), every worker needs 2:
  // the backend's statistics refuse single values.
  assertBnTrainable(layout);
  if (kind === 'local') {
    const stats = backend.bnStats(x, layout);
    return { mean: stats.mean, variance: stats.var, ownMean: null, own: null, recordCount: localCount, countRatio: 1 };
  }
  assertWorldAtLeastTwo(world.worldSize, `${kind} BatchNorm`);
  const site: RowsSite = { world, what: `${kind} statistics`, layer, ...(ctx.step !== undefined ? { step: ctx.step } : {}) };
  const misroute = activeMisroute();
  if (kind === 'shuffle') {
    assertSourceOf(ctx.sourceOf, world.worldSize);
    const stats = backend.bnStats(x, layout);
    const [mean, variance] = await Promise.all([backend.read(stats.mean), backend.read(stats.var)]);
    backend.dispose(stats.var);
    let gathered: Float32Array;
    try {
      gathered = checkStatRows(await world.gatherRows(packPairRows(mean, variance, groups, c), 2 * c), c, site);
    } catch (err) {
      backend.dispose(stats.mean);
      throw err;
    }
    const lent = new Float32Array(groups * 2 * c);
    for (let g = 0; g < groups; g++) {
      const lender = lenderOf(world.firstWorker + g, g, ctx.sourceOf, misroute);
      lent.set(gathered.subarray(lender * 2 * c, (lender + 1) * 2 * c), g * 2 * c);
    }
    const [borrowedMean, borrowedVar] = unpair(lent, groups, c);
    return {
      mean: backend.fromArray(borrowedMean, [groups, c]),
      variance: backend.fromArray(borrowedVar, [groups, c]),
      ownMean: stats.mean,
      own: { mean, variance },
      recordCount: localCount,
      countRatio: 1,
    };
  }
  // sync: rows [count, mean, M2] per worker, merged in float64 in worker order on every tab.
  const partial = backend.bnPartial(x, layout);
  const [mean, m2] = await Promise.all([backend.read(partial.mean), backend.read(partial.m2)]);
  backend.dispose(partial.mean);
  backend.dispose(partial.m2);
  const rows = await world.gatherRows(packSyncRows(partial.count, mean, m2, groups, c), 2 * c + 1);
  const merged = mergeStats(decodeSyncRows(rows, world.worldSize, c, partial.count, site), c);
  const ownVariance = Float32Array.from(m2, (v) => v / partial.count);
  const usedMean = misroute === 'own' ? mean : tileRows(merged.mean, groups);
  const usedVar = misroute === 'own' ? ownVariance : tileRows(merged.variance, groups);
  return {
    mean: backend.fromArray(usedMean, [groups, c]),
    variance: backend.fromArray(usedVar, [groups, c]),
    ownMean: null,
    own: { mean, variance: ownVariance },
    recordCount: merged.count,
    countRatio: localCount / merged.count,
  };
}

/** What the forward left for the backward exchange. */
export interface SavedExchange {
  /** The statistics bnApply used, [groups, c]. */
  mean: Tensor;
  /** shuffle: this tab's own batch means. */
  ownMean: Tensor | null;
  sourceOf: readonly number[] | null;
  countRatio: number;
}

/**
 * Backward of the exchange (shuffle, sync): one gather of every worker's (dmean ‖ dvar) rows; each of
 * this tab's workers gets the gradient w.r.t. its own statistics back and adds the resulting input
 * gradient to `result.dx` in place. `route` false (test-only) gathers but drops that gradient.
 */
export async function returnStatGradients(
  kind: 'shuffle' | 'sync',
  result: BnBorrowedBackwardResult,
  x: Tensor,
  layout: BnLayout,
  saved: SavedExchange,
  ctx: ForwardContext,
  layer: number,
  route: boolean,
): Promise<void> {
  const { backend, world } = ctx;
  const { groups, c } = layout;
  const [dmean, dvar] = await Promise.all([backend.read(result.dmean), backend.read(result.dvar)]);
  backend.dispose(result.dmean);
  backend.dispose(result.dvar);
  const site: RowsSite = { world, what: `${kind} statistics gradients`, layer, ...(ctx.step !== undefined ? { step: ctx.step } : {}) };
  const gathered = checkGradRows(await world.gatherRows(packPairRows(dmean, dvar, groups, c), 2 * c), c, site);
  if (!route) return;
  let statGrads: { dmean: Float32Array; dvar: Float32Array };
  if (kind === 'shuffle') {
    const sourceOf = activeMisroute() === 'inverse' ? inversePermutation(saved.sourceOf!) : saved.sourceOf!;
    statGrads = routeToProducers(gathered, sourceOf, world.firstWorker, groups, c);
  } else {
    statGrads = sumForAllGroups(gathered, world.worldSize, groups, c, saved.countRatio);
  }
  const dmeanT = backend.fromArray(statGrads.dmean, [groups, c]);
  const dvarT = backend.fromArray(statGrads.dvar, [groups, c]);
  // Producer side: shuffle uses this tab's own means; sync the global mean (which it used too).
  const statDx = backend.bnStatsBackward(x, layout, saved.ownMean ?? saved.mean, dmeanT, dvarT);
  backend.addScaledInPlace(result.dx, statDx, 1);
  for (const t of [dmeanT, dvarT, statDx]) backend.dispose(t);
}

/** The worker whose (mean, var) row worker `worker` (this tab's group g) normalises with. */
function lenderOf(worker: number, g: number, sourceOf: readonly number[], misroute: MisrouteVariant | null): number {
  switch (misroute) {
    case 'own':
      return worker;
    case 'borrower':
    case 'inverse':
      return sourceOf.indexOf(worker);
    case 'offset':
      return sourceOf[g]!;
    default:
      return sourceOf[worker]!;
  }
}

/** [groups, 2c] (first ‖ second) rows back into two [groups, c] arrays. */
function unpair(rows: Float32Array, groups: number, c: number): [Float32Array, Float32Array] {
  const first = new Float32Array(groups * c);
  const second = new Float32Array(groups * c);
  for (let g = 0; g < groups; g++) {
    first.set(rows.subarray(g * 2 * c, g * 2 * c + c), g * c);
    second.set(rows.subarray(g * 2 * c + c, (g + 1) * 2 * c), g * c);
  }
  return [first, second];
}

/**
 * Shuffle backward: gathered row b holds borrower b's gradient w.r.t. the statistics it used, which
 * belong to worker sourceOf[b]. Each of this tab's workers w receives the sum over its borrowers
 * (exactly one for a permutation). Returns [groups, c] dmean and dvar.
 */
export function routeToProducers(gathered: Float32Array, sourceOf: readonly number[], firstWorker: number, groups: number, c: number): { dmean: Float32Array; dvar: Float32Array } {
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
function tileRows(row: ArrayLike<number>, groups: number): Float32Array {
  const c = row.length;
  const out = new Float32Array(groups * c);
  for (let g = 0; g < groups; g++) for (let ch = 0; ch < c; ch++) out[g * c + ch] = row[ch]!;
  return out;
}
