/**
 * Every row layout distributed BatchNorm sends through `WorkerWorld.gatherRows`, with one packer and
 * one validating decoder each. A gather returns `[W, rowLen]` float32, row w = global worker w.
 *
 * | layout        | row (per worker)                                   | who gathers it                    |
 * |---------------|----------------------------------------------------|-----------------------------------|
 * | pair, stats   | mean[0..c) ‖ var[0..c)   (biased variance)         | shuffle forward                   |
 * | pair, grads   | dmean[0..c) ‖ dvar[0..c)                           | shuffle and sync backward         |
 * | sync          | count, mean[0..c), M2[0..c)   (M2 = Σ(x − mean)²)  | sync forward                      |
 * | running       | per record: count, mean[0..c), var[0..c)           | syncRunningStats, once per step   |
 * | trace         | meanBefore, varBefore, meanAfter, varAfter, meanOut | traced steps only (trace.ts)      |
 *
 * Decoders check rows received from other tabs before anything uses them: every value finite,
 * variances and M2 ≥ 0, counts equal to the count this tab declared (every worker normalises over
 * n·hw values). A bad row of this tab's own workers is a training failure (ERR_NONFINITE_STATS,
 * naming layer and step); a bad row of another tab's worker is ERR_BAD_PEER_ROWS naming the worker
 * and its tab rank, so the session can drop that peer. Own rows are checked first.
 */
import { NnError } from '../errors.ts';
import type { WorkerWorld } from '../world.ts';
import type { StatsPartial } from './merge.ts';

/** Where a gather happened, for error messages. */
export interface RowsSite {
  world: Pick<WorkerWorld, 'worldSize' | 'firstWorker' | 'localWorkers' | 'tabOf'>;
  /** What the rows carry, e.g. 'shuffle statistics'. */
  what: string;
  /** BatchNorm layer index in forward order (omitted for whole-model gathers). */
  layer?: number;
  step?: number;
}

/** Returns a description of what is wrong with one worker's row, or null. */
type RowCheck = (row: Float32Array) => string | null;

/** Rows [groups, 2c]: row g = first[g, :] ‖ second[g, :] (both [groups, c] row-major). */
export function packPairRows(first: Float32Array, second: Float32Array, groups: number, c: number): Float32Array {
  const rows = new Float32Array(groups * 2 * c);
  for (let g = 0; g < groups; g++) {
    rows.set(first.subarray(g * c, g * c + c), g * 2 * c);
    rows.set(second.subarray(g * c, g * c + c), g * 2 * c + c);
  }
  return rows;
}

/** Checks gathered (mean ‖ var) rows: finite, var ≥ 0. Returns them unchanged. */
export function checkStatRows(gathered: Float32Array, c: number, site: RowsSite): Float32Array {
  checkRows(gathered, 2 * c, site, (row) => nonFinite(row, 0, 2 * c, ['mean', 'variance'], c) ?? negative(row, c, 2 * c, 'variance'));
  return gathered;
}

/** Checks gathered (dmean ‖ dvar) rows: finite. */
export function checkGradRows(gathered: Float32Array, c: number, site: RowsSite): Float32Array {
  checkRows(gathered, 2 * c, site, (row) => nonFinite(row, 0, 2 * c, ['dmean', 'dvar'], c));
  return gathered;
}

/** Row w's (first, second) halves as arrays: [W][c] each. */
export function splitPairRows(gathered: Float32Array, workers: number, c: number): { first: number[][]; second: number[][] } {
  const first: number[][] = [];
  const second: number[][] = [];
  for (let w = 0; w < workers; w++) {
    first.push(Array.from(gathered.subarray(w * 2 * c, w * 2 * c + c)));
    second.push(Array.from(gathered.subarray(w * 2 * c + c, w * 2 * c + 2 * c)));
  }
  return { first, second };
}

/** Sync rows [groups, 2c + 1]: count, mean, M2 of each of this tab's groups. */
export function packSyncRows(count: number, mean: Float32Array, m2: Float32Array, groups: number, c: number): Float32Array {
  const rowLen = 2 * c + 1;
  const rows = new Float32Array(groups * rowLen);
  for (let g = 0; g < groups; g++) {
    rows[g * rowLen] = count;
    rows.set(mean.subarray(g * c, g * c + c), g * rowLen + 1);
    rows.set(m2.subarray(g * c, g * c + c), g * rowLen + 1 + c);
  }
  return rows;
}

/**
 * Gathered sync rows as partials in worker order, after checking each: count equal to `count` (the
 * n·hw this tab normalises over), mean and M2 finite, M2 ≥ 0. Without a site (tests, merging
 * known-good rows) only the length is checked.
 */
export function decodeSyncRows(rows: Float32Array, workers: number, c: number, count?: number, site?: RowsSite): StatsPartial[] {
  const rowLen = 2 * c + 1;
  if (rows.length !== workers * rowLen) {
    throw new NnError('ERR_SHAPE', `expected ${workers} statistics rows of ${rowLen} values, got ${rows.length} values`);
  }
  if (site) {
    checkRows(rows, rowLen, site, (row) =>
      row[0] !== count ? `count ${row[0]} where every worker normalises over ${count} values` : (nonFinite(row, 1, rowLen, ['mean', 'M2'], c) ?? negative(row, 1 + c, rowLen, 'M2')),
    );
  }
  return Array.from({ length: workers }, (_, w) => {
    const base = w * rowLen;
    return { count: rows[base]!, mean: rows.subarray(base + 1, base + 1 + c), m2: rows.subarray(base + 1 + c, base + rowLen) };
  });
}

/** One running-statistics record of this tab: [groups, c] mean and variance over `count` values. */
export interface RunningRecordRows {
  c: number;
  count: number;
  mean: Float32Array;
  variance: Float32Array;
}

/** Running rows [groups, Σ(1 + 2c)]: for each record in order, count ‖ mean ‖ var. */
export function packRunningRows(records: readonly RunningRecordRows[], groups: number): { rows: Float32Array; rowLen: number } {
  const rowLen = records.reduce((sum, r) => sum + 1 + 2 * r.c, 0);
  const rows = new Float32Array(groups * rowLen);
  for (let g = 0; g < groups; g++) {
    let offset = g * rowLen;
    for (const { c, count, mean, variance } of records) {
      rows[offset] = count;
      rows.set(mean.subarray(g * c, g * c + c), offset + 1);
      rows.set(variance.subarray(g * c, g * c + c), offset + 1 + c);
      offset += 1 + 2 * c;
    }
  }
  return { rows, rowLen };
}

/**
 * Checks gathered running rows (every record's count equals this tab's, values finite, var ≥ 0; a
 * failure names the record's `layer`) and returns, per record, the float64 sums over all workers of
 * mean and variance.
 */
export function sumRunningRows(
  gathered: Float32Array,
  records: readonly (Pick<RunningRecordRows, 'c' | 'count'> & { layer: number; what?: string })[],
  site: RowsSite,
): Array<{ meanSum: Float64Array; varSum: Float64Array }> {
  const rowLen = records.reduce((sum, r) => sum + 1 + 2 * r.c, 0);
  let offset = 0;
  return records.map(({ c, count, layer, what }) => {
    const at = offset;
    checkRows(gathered, rowLen, { ...site, layer, what: what ?? site.what }, (row) =>
      row[at] !== count
        ? `normalised over ${row[at]} values, this tab over ${count}: per-worker batches must match`
        : (nonFinite(row, at + 1, at + 1 + 2 * c, ['mean', 'variance'], c) ?? negative(row, at + 1 + c, at + 1 + 2 * c, 'variance')),
    );
    const meanSum = new Float64Array(c);
    const varSum = new Float64Array(c);
    for (let w = 0; w < site.world.worldSize; w++) {
      const base = w * rowLen + at;
      for (let ch = 0; ch < c; ch++) {
        meanSum[ch]! += gathered[base + 1 + ch]!;
        varSum[ch]! += gathered[base + 1 + c + ch]!;
      }
    }
    offset += 1 + 2 * c;
    return { meanSum, varSum };
  });
}

/** The five [groups, c] blocks of one layer's trace rows, in row order. */
export const TRACE_FIELDS = ['meanBefore', 'varBefore', 'meanAfter', 'varAfter', 'meanOut'] as const;
export type TraceField = (typeof TRACE_FIELDS)[number];

/** Trace rows [groups, 5c]: meanBefore ‖ varBefore ‖ meanAfter ‖ varAfter ‖ meanOut. */
export function packTraceRows(blocks: Record<TraceField, ArrayLike<number>>, groups: number, c: number): Float32Array {
  const rows = new Float32Array(groups * 5 * c);
  for (let g = 0; g < groups; g++) {
    TRACE_FIELDS.forEach((field, k) => {
      for (let ch = 0; ch < c; ch++) rows[g * 5 * c + k * c + ch] = blocks[field][g * c + ch]!;
    });
  }
  return rows;
}

/**
 * Gathered trace rows as [W][c] arrays per field. Values are logged as measured, NaN included (a
 * broken kernel must show in the log), so only the length is checked.
 */
export function splitTraceRows(gathered: Float32Array, workers: number, c: number): Record<TraceField, number[][]> {
  if (gathered.length !== workers * 5 * c) throw new NnError('ERR_SHAPE', `expected ${workers} trace rows of ${5 * c} values, got ${gathered.length}`);
  const out = Object.fromEntries(TRACE_FIELDS.map((f) => [f, [] as number[][]])) as Record<TraceField, number[][]>;
  for (let w = 0; w < workers; w++) {
    TRACE_FIELDS.forEach((field, k) => {
      const base = w * 5 * c + k * c;
      out[field].push(Array.from(gathered.subarray(base, base + c)));
    });
  }
  return out;
}

/** Runs `check` on every worker's row, this tab's workers first; throws on the first bad row. */
function checkRows(gathered: Float32Array, rowLen: number, site: RowsSite, check: RowCheck): void {
  const { world } = site;
  if (gathered.length !== world.worldSize * rowLen) {
    throw new NnError('ERR_SHAPE', `${site.what}: expected ${world.worldSize} rows of ${rowLen} values, got ${gathered.length}`);
  }
  const own = (w: number) => w >= world.firstWorker && w < world.firstWorker + world.localWorkers;
  const order = [...Array(world.worldSize).keys()].sort((a, b) => Number(own(b)) - Number(own(a)));
  for (const w of order) {
    const problem = check(gathered.subarray(w * rowLen, (w + 1) * rowLen));
    if (problem === null) continue;
    const where = `${site.layer !== undefined ? `BatchNorm layer ${site.layer}` : 'BatchNorm'}${site.step !== undefined ? ` at step ${site.step}` : ''}`;
    if (own(w)) {
      throw new NnError('ERR_NONFINITE_STATS', `${where}: this tab's worker ${w} produced bad ${site.what} (${problem}); training stopped before the model took it in`, {
        worker: w,
        ...(site.layer !== undefined ? { layer: site.layer } : {}),
        ...(site.step !== undefined ? { step: site.step } : {}),
      });
    }
    const rank = world.tabOf(w);
    throw new NnError('ERR_BAD_PEER_ROWS', `${where}: worker ${w} (tab rank ${rank}) sent bad ${site.what} (${problem})`, {
      worker: w,
      rank,
      ...(site.layer !== undefined ? { layer: site.layer } : {}),
      ...(site.step !== undefined ? { step: site.step } : {}),
    });
  }
}

/** First non-finite value in row[from, to), named by block (`names[k]` covers c values each). */
function nonFinite(row: Float32Array, from: number, to: number, names: readonly string[], c: number): string | null {
  for (let i = from; i < to; i++) {
    if (!Number.isFinite(row[i]!)) return `${names[Math.floor((i - from) / c)]} of channel ${(i - from) % c} is ${row[i]}`;
  }
  return null;
}

/** First negative value in row[from, to). */
function negative(row: Float32Array, from: number, to: number, name: string): string | null {
  for (let i = from; i < to; i++) if (row[i]! < 0) return `${name} of channel ${i - from} is ${row[i]} < 0`;
  return null;
}
