import { describe, expect, it } from 'vitest';
import { createMemoryGroups, memoryPeerId } from '../../src/mesh/memory.ts';
import { MeshError } from '../../src/mesh/types.ts';
import { segmentBounds } from '../../src/mesh/collectives.ts';
import { mulberry32 } from '../helpers/rng.ts';

const rng = mulberry32;
function randomTensor(len: number, rand: () => number): Float32Array {
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) out[i] = (rand() - 0.5) * 8;
  return out;
}
/** float64 sum over ranks: the independent reference. */
function referenceSum(inputs: Float32Array[]): Float64Array {
  const out = new Float64Array(inputs[0]!.length);
  for (const t of inputs) for (let i = 0; i < t.length; i++) out[i]! += t[i]!;
  return out;
}
function expectClose(actual: Float32Array, expected: Float64Array, n: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    // n float32 additions of values |x| ≤ 4: error ≤ n · 4n · 2^-24, with margin.
    if (Math.abs(actual[i]! - expected[i]!) > 1e-5 * n * n * 4) {
      throw new Error(`element ${i}: ${actual[i]} vs reference ${expected[i]}`);
    }
  }
}
function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

const SIZES = [0, 1, 2, 7, 1000, 16_385, 40_001];

describe('allReduce on the memory transport', () => {
  for (let n = 1; n <= 8; n++) {
    it(`${n} peers: sum and mean equal the reference and are bit-identical on every rank`, async () => {
      const rand = rng(n * 101);
      // Small chunks and a small ring threshold so both algorithms and reassembly run on small tensors.
      const groups = createMemoryGroups(n, { chunkBytes: 4096, collective: { ringThresholdBytes: 1024, ringPieceBytes: 1000 } });
      const sizes = [...SIZES, 1 + Math.floor(rand() * 5000)];
      for (const len of sizes) {
        const inputs = groups.map(() => randomTensor(len, rand));
        const ref = referenceSum(inputs);
        const sums = await Promise.all(groups.map((g, r) => g.allReduce(inputs[r]!, 'sum')));
        for (const s of sums) expectClose(s, ref, n);
        for (const s of sums) expect(bitsEqual(s, sums[0]!)).toBe(true);
        const means = await Promise.all(groups.map((g, r) => g.allReduce(inputs[r]!, 'mean')));
        expectClose(means[0]!, ref.map((v) => v / n), n);
        for (const m of means) expect(bitsEqual(m, means[0]!)).toBe(true);
      }
      for (const g of groups) g.leave();
    });
  }

  it('direct path reduces in rank order (exactly the float32 rank-order sum)', async () => {
    const n = 5;
    const rand = rng(7);
    const groups = createMemoryGroups(n);
    const inputs = groups.map(() => randomTensor(300, rand));
    const expected = new Float32Array(300);
    for (const t of inputs) for (let i = 0; i < 300; i++) expected[i] = Math.fround(expected[i]! + t[i]!);
    const sums = await Promise.all(groups.map((g, r) => g.allReduce(inputs[r]!)));
    for (const s of sums) expect(bitsEqual(s, expected)).toBe(true);
    for (const g of groups) g.leave();
  });

  it('segments cover the tensor with sizes differing by at most one', () => {
    for (const [len, n] of [[0, 3], [1, 4], [10, 3], [17, 8]] as const) {
      const b = segmentBounds(len, n);
      expect(b[0]).toBe(0);
      expect(b[n]).toBe(len);
      const sizes = b.slice(1).map((v, i) => v - b[i]!);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });
});

describe('other collectives on the memory transport', () => {
  for (const n of [1, 2, 3, 4, 8]) {
    it(`${n} peers: broadcast, allGather (ragged), exchange along a permutation, barrier`, async () => {
      const rand = rng(n);
      const groups = createMemoryGroups(n, { chunkBytes: 1024 });
      for (let root = 0; root < n; root++) {
        const payload = randomTensor(700, rand);
        const got = await Promise.all(groups.map((g, r) => g.broadcast(r === root ? payload : null, root)));
        for (const t of got) expect(bitsEqual(t, payload)).toBe(true);
      }
      const contributions = groups.map((_, r) => randomTensor(r * 300, rand)); // rank 0 sends 0 elements
      const gathered = await Promise.all(groups.map((g, r) => g.allGather(contributions[r]!)));
      for (const all of gathered) {
        expect(all.length).toBe(n);
        all.forEach((t, r) => expect(bitsEqual(t, contributions[r]!)).toBe(true));
      }
      // A random permutation (Fisher-Yates): rank r sends to perm[r] and receives from its inverse.
      const perm = groups.map((_, r) => r);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      const inverse = new Array<number>(n);
      perm.forEach((to, r) => (inverse[to] = r));
      const stats = groups.map(() => randomTensor(1024, rand));
      const received = await Promise.all(groups.map((g, r) => g.exchange(perm[r]!, stats[r]!, inverse[r]!)));
      received.forEach((t, r) => expect(bitsEqual(t, stats[inverse[r]!]!)).toBe(true));
      await Promise.all(groups.map((g) => g.barrier()));
      for (const g of groups) g.leave();
    });
  }

  it('concurrent collectives issued in the same order do not mix', async () => {
    const groups = createMemoryGroups(3, { collective: { ringThresholdBytes: 64 } });
    const rand = rng(3);
    const a = groups.map(() => randomTensor(100, rand));
    const b = groups.map(() => randomTensor(50, rand));
    const results = await Promise.all(groups.map((g, r) => Promise.all([g.allReduce(a[r]!), g.allGather(b[r]!)])));
    for (const [sum, all] of results) {
      expectClose(sum, referenceSum(a), 3);
      all.forEach((t, r) => expect(bitsEqual(t, b[r]!)).toBe(true));
    }
  });
});

describe('failures', () => {
  it('a collective with a silent peer times out naming that peer', async () => {
    const groups = createMemoryGroups(3, { timeoutMs: 50 });
    // Rank 2 never calls allReduce.
    const results = await Promise.allSettled([groups[0]!.allReduce(new Float32Array(4)), groups[1]!.allReduce(new Float32Array(4))]);
    for (const res of results) {
      expect(res.status).toBe('rejected');
      const err = (res as PromiseRejectedResult).reason as MeshError;
      expect(err).toBeInstanceOf(MeshError);
      expect(err.code).toBe('ERR_TIMEOUT');
      expect(err.peerId).toBe(memoryPeerId(2));
      expect(err.message).toContain(memoryPeerId(2));
    }
  });

  it('a peer leaving fails in-flight collectives on every other peer with ERR_PEER_LEFT (before the timeout)', async () => {
    const groups = createMemoryGroups(4, { timeoutMs: 600_000, collective: { ringThresholdBytes: 64 } });
    // Ranks 0, 1, 3 start a ring allReduce; rank 2 leaves instead of joining it.
    const inFlight = [0, 1, 3].map((r) => groups[r]!.allReduce(new Float32Array(1000)).then(() => null, (e: unknown) => e));
    await new Promise((resolve) => setTimeout(resolve, 5));
    groups[2]!.leave();
    const errors = await Promise.all(inFlight);
    for (const err of errors) {
      expect(err).toBeInstanceOf(MeshError);
      expect((err as MeshError).code).toBe('ERR_PEER_LEFT');
      expect((err as MeshError).peerId).toBe(memoryPeerId(2));
    }
    // Later collectives of the broken epoch fail at once too.
    await expect(groups[0]!.barrier()).rejects.toMatchObject({ code: 'ERR_PEER_LEFT' });
  });
});
