/** Chan merging of partial statistics, and worker worlds over process groups. */
import { describe, expect, it } from 'vitest';
import { mergeStats } from '../../src/nn/batchnorm/merge.ts';
import { decodeSyncRows } from '../../src/nn/batchnorm/rows.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createRng } from '../../src/util/rng.ts';
import { makeWorlds } from './helpers.ts';

/** Two-pass float64 mean and biased variance of one big batch, per channel ([rows, c]). */
function twoPass(data: number[][], c: number): { mean: number[]; variance: number[] } {
  const mean = Array.from({ length: c }, (_, ch) => data.reduce((s, row) => s + row[ch]!, 0) / data.length);
  const variance = mean.map((mu, ch) => data.reduce((s, row) => s + (row[ch]! - mu) ** 2, 0) / data.length);
  return { mean, variance };
}

describe('mergeStats', () => {
  it('merging per-worker partials equals the statistics of the concatenated batch', () => {
    const rng = createRng(5);
    const c = 3;
    // Uneven batch sizes, a large common offset (1e4) and a small spread: a naive E[x²] − E[x]² would fail.
    const batches = [5, 1, 9, 2, 7].map((n, w) => Array.from({ length: n }, () => Array.from({ length: c }, (_, ch) => 1e4 + ch + w * 0.5 + rng.normal() * 0.01)));
    const parts = batches.map((rows) => {
      const s = twoPass(rows, c);
      return { count: rows.length, mean: s.mean, m2: s.variance.map((v) => v * rows.length) };
    });
    const merged = mergeStats(parts, c);
    const reference = twoPass(batches.flat(), c);
    expect(merged.count).toBe(24);
    for (let ch = 0; ch < c; ch++) {
      expect(merged.mean[ch]).toBeCloseTo(reference.mean[ch]!, 9);
      expect(Math.abs(merged.variance[ch]! - reference.variance[ch]!) / reference.variance[ch]!).toBeLessThan(1e-9);
    }
  });

  it('skips empty partials and reads gathered [count, mean, m2] rows', () => {
    const rows = Float32Array.of(2, 1, 10, 0.5, 8, /* worker 1 */ 0, 0, 0, 0, 0, /* worker 2 */ 2, 3, 20, 0.5, 8);
    const merged = mergeStats(decodeSyncRows(rows, 3, 2), 2);
    expect(merged.count).toBe(4);
    expect(Array.from(merged.mean)).toEqual([2, 15]);
    // M2 = 0.5 + 0.5 + δ²·2·2/4 with δ = (2, 10).
    expect(Array.from(merged.m2)).toEqual([0.5 + 0.5 + 4, 8 + 8 + 100]);
    expect(() => decodeSyncRows(rows, 2, 2)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });
});

describe('WorkerWorld', () => {
  it('localWorld gathers by copying and checks the row count', async () => {
    const world = localWorld(3);
    const rows = Float32Array.of(1, 2, 3, 4, 5, 6);
    const out = await world.gatherRows(rows, 2);
    expect(out).toEqual(rows);
    expect(out).not.toBe(rows);
    await expect(world.gatherRows(rows, 3)).rejects.toMatchObject({ code: 'ERR_SHAPE' });
  });

  it('processGroupWorld: tabs with different worker counts get contiguous ranges and identical gathers', async () => {
    const worlds = await makeWorlds([2, 1, 3]);
    expect(worlds.map((w) => [w.worldSize, w.firstWorker, w.localWorkers])).toEqual([
      [6, 0, 2],
      [6, 2, 1],
      [6, 3, 3],
    ]);
    // Each worker's row is [global index, global index · 10].
    const gathered = await Promise.all(
      worlds.map((w) => w.gatherRows(Float32Array.from({ length: w.localWorkers * 2 }, (_, i) => (w.firstWorker + (i >> 1)) * (i % 2 ? 10 : 1)), 2)),
    );
    const expected = Float32Array.from({ length: 12 }, (_, i) => (i >> 1) * (i % 2 ? 10 : 1));
    for (const g of gathered) expect(g).toEqual(expected);
  });
});
