/**
 * The statistics each worker of this tab normalises with in a training forward, per BatchNorm mode
 * (see layers/batchnorm.ts for the modes). Shuffle and sync run exactly one `gatherRows` here; local
 * runs one only when a trace is requested.
 */
import { assertBnTrainable, type BnLayout, type Tensor } from '../backend/backend.ts';
import { packPairRows, pickBorrowedRows, tileRows, traceEntry, worldStatsFromPairRows } from './bn-rows.ts';
import { assertWorldAtLeastTwo } from './errors.ts';
import { mergeStats, partialsFromRows } from './merge-stats.ts';
import { assertSourceOf } from './permutation.ts';
import type { ForwardContext } from './layers/types.ts';

/** Statistics used by bnApply, plus what backward and the running-stat update need. */
export interface UsedStats {
  /** [groups, c]: own (local), borrowed (shuffle) or global (sync). Owned by the caller. */
  mean: Tensor;
  variance: Tensor;
  /** shuffle: this tab's own batch means (the producer side of backward); else null. */
  ownMean: Tensor | null;
  /** Values behind each used statistic (unbiased running variance): n·hw, or the world's total (sync). */
  recordCount: number;
  /** sync: local values over global values, scaling the global statistics' gradient; else 1. */
  countRatio: number;
}

/** Computes (and for shuffle/sync, exchanges) the statistics; appends to ctx.trace when given. */
export async function batchStatistics(kind: 'local' | 'shuffle' | 'sync', x: Tensor, layout: BnLayout, ctx: ForwardContext): Promise<UsedStats> {
  const { backend, world } = ctx;
  const { groups, c } = layout;
  const localCount = layout.n * layout.hw;
  if (kind === 'local') {
    assertBnTrainable(layout);
    const stats = backend.bnStats(x, layout);
    if (ctx.trace) {
      const [mean, variance] = await Promise.all([backend.read(stats.mean), backend.read(stats.var)]);
      const gathered = await world.gatherRows(packPairRows(mean, variance, groups, c), 2 * c);
      const before = worldStatsFromPairRows(gathered, world.worldSize, c);
      ctx.trace.push(traceEntry(ctx.trace.length, before, { sourceOf: before.mean.map((_, w) => w) }));
    }
    return { mean: stats.mean, variance: stats.var, ownMean: null, recordCount: localCount, countRatio: 1 };
  }
  assertWorldAtLeastTwo(world.worldSize, `${kind} BatchNorm`);
  if (kind === 'shuffle') {
    assertSourceOf(ctx.sourceOf, world.worldSize);
    assertBnTrainable(layout);
    const stats = backend.bnStats(x, layout);
    const [mean, variance] = await Promise.all([backend.read(stats.mean), backend.read(stats.var)]);
    backend.dispose(stats.var);
    const gathered = await world.gatherRows(packPairRows(mean, variance, groups, c), 2 * c);
    const borrowed = pickBorrowedRows(gathered, ctx.sourceOf, world.firstWorker, groups, c);
    if (ctx.trace) {
      const before = worldStatsFromPairRows(gathered, world.worldSize, c);
      ctx.trace.push(traceEntry(ctx.trace.length, before, { sourceOf: ctx.sourceOf }));
    }
    return {
      mean: backend.fromArray(borrowed.mean, [groups, c]),
      variance: backend.fromArray(borrowed.variance, [groups, c]),
      ownMean: stats.mean,
      recordCount: localCount,
      countRatio: 1,
    };
  }
  // Unlike PyTorch's SyncBatchNorm (which only needs 2 values in the world), every worker needs 2:
  // the backend's partial statistics refuse single values.
  assertBnTrainable(layout);
  // sync: rows [count, mean, M2] per worker, merged in float64 in worker order on every tab.
  const partial = backend.bnPartial(x, layout);
  const [mean, m2] = await Promise.all([backend.read(partial.mean), backend.read(partial.m2)]);
  backend.dispose(partial.mean);
  backend.dispose(partial.m2);
  const rowLen = 2 * c + 1;
  const rows = new Float32Array(groups * rowLen);
  for (let g = 0; g < groups; g++) {
    rows[g * rowLen] = partial.count;
    rows.set(mean.subarray(g * c, g * c + c), g * rowLen + 1);
    rows.set(m2.subarray(g * c, g * c + c), g * rowLen + 1 + c);
  }
  const parts = partialsFromRows(await world.gatherRows(rows, rowLen), world.worldSize, c);
  const merged = mergeStats(parts, c);
  if (ctx.trace) {
    const before = {
      mean: parts.map((p) => Array.from(p.mean)),
      variance: parts.map((p) => Array.from(p.m2, (v) => (p.count > 0 ? v / p.count : 0))),
    };
    ctx.trace.push(traceEntry(ctx.trace.length, before, { sharedMean: Array.from(merged.mean), sharedVar: Array.from(merged.variance) }));
  }
  return {
    mean: backend.fromArray(tileRows(merged.mean, groups), [groups, c]),
    variance: backend.fromArray(tileRows(merged.variance, groups), [groups, c]),
    ownMean: null,
    recordCount: merged.count,
    countRatio: localCount / merged.count,
  };
}
