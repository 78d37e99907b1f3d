/** Pure host-side geometry of the GPU backend: BN reduction grids and pooled buffer sizes (Node). */
import { describe, expect, it } from 'vitest';
import { BN_MAX_ROWS_PER_STATS_THREAD, BN_ROWS_PER_THREAD, BN_STATS_THREADS, columnGrid, statsGrid } from '../../src/gpu/passes/batchnorm.ts';
import { pooledSize } from '../../src/gpu/buffer-pool.ts';

describe('BN reduction grids', () => {
  const layouts = [
    { groups: 1, n: 2, c: 1, hw: 1 },
    { groups: 3, n: 37, c: 70, hw: 1 },
    { groups: 2, n: 65536, c: 64, hw: 1 },
    { groups: 1, n: 256, c: 64, hw: 256 },
    { groups: 2, n: 150, c: 3, hw: 8 },
    { groups: 1, n: 40, c: 4, hw: 49 },
    { groups: 2, n: 1, c: 3, hw: 16 },
  ];

  it('backward row chunks cover every row exactly once, none longer than BN_ROWS_PER_THREAD', () => {
    for (const l of layouts) {
      const g = columnGrid(l);
      expect(g.chunk).toBeLessThanOrEqual(BN_ROWS_PER_THREAD);
      expect(g.chunks * g.chunk).toBeGreaterThanOrEqual(l.n);
      expect((g.chunks - 1) * g.chunk).toBeLessThan(l.n);
      expect(g.width).toBe(l.c * l.hw);
      expect(g.blocks * 64).toBeGreaterThanOrEqual(g.width);
    }
  });

  it('picks the plane kernel for hw % 4 = 0, vec4 columns for c·hw % 4 = 0, scalar columns otherwise', () => {
    const kinds = layouts.map((l) => statsGrid(l).kind);
    expect(kinds).toEqual(['column', 'column', 'column4', 'plane', 'plane', 'column4', 'plane']);
  });

  it('statistics chunks are whole blocks of BN_ROWS_PER_THREAD rows, grown only while there would be too many threads, up to the row cap', () => {
    for (const l of [...layouts, { groups: 1, n: 4096, c: 256, hw: 1 }, { groups: 1, n: 1 << 20, c: 4, hw: 1 }, { groups: 1, n: 9000, c: 13, hw: 1 }]) {
      const g = statsGrid(l);
      if (g.kind === 'plane') continue;
      const threadsPerChunk = l.groups * (g.kind === 'column4' ? g.width / 4 : g.width);
      expect(g.chunks * g.chunk).toBeGreaterThanOrEqual(l.n);
      expect((g.chunks - 1) * g.chunk).toBeLessThan(l.n);
      expect(g.chunk).toBeLessThanOrEqual(BN_MAX_ROWS_PER_STATS_THREAD);
      if (g.chunk > BN_ROWS_PER_THREAD) {
        expect(g.chunk % BN_ROWS_PER_THREAD).toBe(0);
        // Half the chunk would have left more threads than the target.
        expect(threadsPerChunk * Math.ceil(l.n / (g.chunk / 2))).toBeGreaterThan(BN_STATS_THREADS);
      }
      if (g.chunk < BN_MAX_ROWS_PER_STATS_THREAD && g.chunks > 1) expect(threadsPerChunk * g.chunks).toBeLessThanOrEqual(BN_STATS_THREADS);
    }
    // The tall shape of bench:kernels: 256-row chunks, 256 partials per channel for stage 2 to merge.
    expect(statsGrid({ groups: 1, n: 65536, c: 64, hw: 1 })).toMatchObject({ kind: 'column4', chunk: 256, chunks: 256 });
    // A wide one keeps 64-row chunks.
    expect(statsGrid({ groups: 1, n: 4096, c: 256, hw: 1 })).toMatchObject({ kind: 'column4', chunk: 64, chunks: 64 });
    // Few threads allowed: the chunk stops at the cap.
    expect(statsGrid({ groups: 1, n: 9000, c: 13, hw: 1 }, 8)).toMatchObject({ kind: 'column', chunk: BN_MAX_ROWS_PER_STATS_THREAD, chunks: 3 });
  });

  it('partials account for every value: Σ items · values per row = n · hw per (group, channel)', () => {
    for (const l of layouts) {
      const g = statsGrid(l);
      let values = 0;
      for (let k = 0; k < g.chunks; k++) values += Math.min(g.chunk, l.n - k * g.chunk) * g.positions * g.valuesPerRow;
      expect(values).toBe(l.n * l.hw);
      expect(g.partialSize).toBe(l.groups * g.chunks * (g.kind === 'plane' ? l.c : l.c * l.hw));
    }
  });
});

describe('pooled buffer sizes', () => {
  it('fit the request, are multiples of 16 bytes (vec4 kernels) and bucket large sizes', () => {
    for (const bytes of [0, 4, 12, 255, 256, 257, 4096, 4 * 1024 * 1024, 4 * 1024 * 1024 + 4, 67_111_936]) {
      const size = pooledSize(bytes);
      expect(size).toBeGreaterThanOrEqual(Math.max(bytes, 4));
      expect(size % 16).toBe(0);
    }
    expect(pooledSize(5_000_000)).toBe(pooledSize(6_000_000));
  });
});
