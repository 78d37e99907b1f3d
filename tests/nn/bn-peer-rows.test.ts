/**
 * Rows received from other tabs are checked before use (ERR_BAD_PEER_ROWS naming worker and tab rank),
 * a non-finite statistic of this tab stops training naming layer and step (ERR_NONFINITE_STATS), and a
 * tab cannot make its peers allocate for an absurd worker count (ERR_WORLD_TOO_LARGE).
 */
import { describe, expect, it } from 'vitest';
import { BatchNorm } from '../../src/nn/layers/batchnorm.ts';
import { syncRunningStats } from '../../src/nn/batchnorm/running-stats.ts';
import type { BnStatsKind } from '../../src/nn/batchnorm/types.ts';
import { MAX_TABS, MAX_WORKERS_PER_TAB, processGroupWorld, type GatherGroup, type WorkerWorld } from '../../src/nn/world.ts';
import { backend, concat, makeCtx, workerRows } from './helpers.ts';

const N = 4;
const C = 3;

/**
 * This tab runs workers 0, 1; a peer tab (rank 1) runs 2, 3 and sends a copy of our rows, which
 * `corrupt(rows, rowLen, call)` may spoil on the call-th gather.
 */
function peerWorld(corrupt: (rows: Float32Array, rowLen: number, call: number) => void): WorkerWorld {
  let calls = 0;
  return {
    worldSize: 4,
    firstWorker: 0,
    localWorkers: 2,
    tabOf: (w) => (w < 2 ? 0 : 1),
    async gatherRows(local, rowLen) {
      const rows = concat([local, local]);
      corrupt(rows, rowLen, calls++);
      return rows;
    },
  };
}

const input = (poison = false) => {
  const x = concat([workerRows(1, 0, N, C), workerRows(1, 1, N, C)]);
  if (poison) x[C + 1] = NaN; // worker 0, row 1, channel 1
  return backend.fromArray(x, [2 * N, C]);
};

async function forward(kind: BnStatsKind, world: WorkerWorld, x = input()) {
  const bn = new BatchNorm(backend, C, { mode: kind });
  const ctx = makeCtx(world, [1, 2, 3, 0], { step: 7 });
  const y = await bn.forward(x, ctx);
  return { bn, ctx, y };
}

describe('rows received from peers', () => {
  const cases: Array<[string, BnStatsKind, (rows: Float32Array, rowLen: number) => void, number]> = [
    ['shuffle: a NaN mean', 'shuffle', (rows, len) => (rows[3 * len + 1] = NaN), 3],
    ['shuffle: an infinite variance', 'shuffle', (rows, len) => (rows[2 * len + C] = Infinity), 2],
    ['shuffle: a negative variance', 'shuffle', (rows, len) => (rows[3 * len + C + 2] = -0.5), 3],
    ['sync: a count other than n·hw', 'sync', (rows, len) => (rows[2 * len] = 1e6), 2],
    ['sync: a negative M2', 'sync', (rows, len) => (rows[3 * len + 1 + C] = -1), 3],
    ['sync: a NaN mean', 'sync', (rows, len) => (rows[3 * len + 2] = NaN), 3],
  ];
  for (const [name, kind, spoil, worker] of cases) {
    it(`${name} is refused with ERR_BAD_PEER_ROWS naming worker ${worker}, tab rank 1, layer and step`, async () => {
      const world = peerWorld((rows, len, call) => call === 0 && spoil(rows, len));
      await expect(forward(kind, world)).rejects.toMatchObject({ code: 'ERR_BAD_PEER_ROWS', worker, rank: 1, layer: 0, step: 7 });
    });
  }

  it('backward: a non-finite statistics gradient from a peer is refused', async () => {
    const world = peerWorld((rows, len, call) => call === 1 && (rows[2 * len + C] = NaN));
    const { bn, ctx, y } = await forward('shuffle', world);
    await expect(bn.backward(y, ctx)).rejects.toMatchObject({ code: 'ERR_BAD_PEER_ROWS', worker: 2, rank: 1, layer: 0 });
  });

  it('running statistics: a peer record with another count is refused, naming the layer', async () => {
    const world = peerWorld((rows, len, call) => call === 1 && (rows[3 * len] = 5));
    const { bn, ctx } = await forward('shuffle', world);
    await expect(syncRunningStats(bn, ctx)).rejects.toMatchObject({ code: 'ERR_BAD_PEER_ROWS', worker: 3, rank: 1, layer: 0, step: 7 });
  });

  it('well-formed rows pass', async () => {
    for (const kind of ['shuffle', 'sync'] as const) {
      const { bn, ctx, y } = await forward(kind, peerWorld(() => {}));
      await bn.backward(y, ctx);
      await syncRunningStats(bn, ctx);
    }
  });
});

describe('a non-finite statistic in training', () => {
  for (const kind of ['shuffle', 'sync'] as const) {
    it(`${kind}: stops the forward with ERR_NONFINITE_STATS naming layer, step and worker (after the gather)`, async () => {
      let gathered = 0;
      const world = peerWorld(() => gathered++);
      await expect(forward(kind, world, input(true))).rejects.toMatchObject({ code: 'ERR_NONFINITE_STATS', layer: 0, step: 7, worker: 0 });
      // The tab still took part in the collective: its peers are not left waiting.
      expect(gathered).toBe(1);
    });
  }

  it('local: caught at the running-statistics sync of the same step (no extra readback), naming layer and step', async () => {
    const { bn, ctx } = await forward('local', peerWorld(() => {}), input(true));
    await expect(syncRunningStats(bn, ctx)).rejects.toMatchObject({ code: 'ERR_NONFINITE_STATS', layer: 0, step: 7 });
  });

  it('local, traced step: caught in the forward', async () => {
    const bn = new BatchNorm(backend, C, { mode: 'local' });
    await expect(bn.forward(input(true), makeCtx(peerWorld(() => {}), null, { step: 3, trace: [] }))).rejects.toMatchObject({ code: 'ERR_NONFINITE_STATS', layer: 0, step: 3 });
  });
});

describe('processGroupWorld caps', () => {
  function group(rank: number, counts: readonly Float32Array[]): GatherGroup {
    return { rank, size: counts.length, allGather: async () => counts.map((c) => c.slice()) };
  }

  it(`a peer claiming more than ${MAX_WORKERS_PER_TAB} workers is refused before anything is sized by it`, async () => {
    await expect(processGroupWorld(group(0, [Float32Array.of(2), Float32Array.of(16_000_000)]), 2)).rejects.toMatchObject({ code: 'ERR_WORLD_TOO_LARGE', rank: 1 });
    await expect(processGroupWorld(group(0, [Float32Array.of(2), Float32Array.of(2.5)]), 2)).rejects.toMatchObject({ code: 'ERR_WORLD_TOO_LARGE', rank: 1 });
    await expect(processGroupWorld(group(0, [Float32Array.of(2), Float32Array.of(1, 1)]), 2)).rejects.toMatchObject({ code: 'ERR_WORLD_TOO_LARGE', rank: 1 });
    await expect(processGroupWorld(group(0, [Float32Array.of(2)]), MAX_WORKERS_PER_TAB + 1)).rejects.toMatchObject({ code: 'ERR_WORLD_TOO_LARGE' });
    const tooManyTabs = Array.from({ length: MAX_TABS + 1 }, () => Float32Array.of(1));
    await expect(processGroupWorld(group(0, tooManyTabs), 1)).rejects.toMatchObject({ code: 'ERR_WORLD_TOO_LARGE' });
  });

  it('the largest allowed world is accepted and knows every worker\'s tab', async () => {
    const counts = Array.from({ length: MAX_TABS }, () => Float32Array.of(MAX_WORKERS_PER_TAB));
    const world = await processGroupWorld(group(3, counts), MAX_WORKERS_PER_TAB);
    expect(world.worldSize).toBe(MAX_TABS * MAX_WORKERS_PER_TAB);
    expect(world.firstWorker).toBe(3 * MAX_WORKERS_PER_TAB);
    expect([0, MAX_WORKERS_PER_TAB - 1, MAX_WORKERS_PER_TAB, world.worldSize - 1].map((w) => world.tabOf(w))).toEqual([0, 0, 1, MAX_TABS - 1]);
  });
});
