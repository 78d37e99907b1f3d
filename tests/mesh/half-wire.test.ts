import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/mesh/half-codec.ts';
import { createMemoryGroups, memoryPeerId } from '../../src/mesh/memory.ts';
import { MeshError } from '../../src/mesh/types.ts';
import { mulberry32 } from '../helpers/rng.ts';

/** Element-wise rounding of the format, from the scalar codec (itself checked against PyTorch). */
const ROUND = {
  f16: (v: number) => f16BitsToF32(f32ToF16Bits(v)),
  bf16: (v: number) => bf16BitsToF32(f32ToBf16Bits(v)),
} as const;

function gradientLike(length: number, rand: () => number): Float32Array {
  return Float32Array.from({ length }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 6 - 5));
}

describe('allReduce with a 16-bit wire (memory transport)', () => {
  for (const wire of ['f16', 'bf16'] as const) {
    it(`${wire}: every rank gets exactly the float32 rank-order sum of the rounded contributions, validated or not, above the ring threshold too`, async () => {
      const rand = mulberry32(wire === 'f16' ? 16 : 17);
      const groups = createMemoryGroups(3, { chunkBytes: 4096, collective: { ringThresholdBytes: 1024 } });
      for (const length of [1, 7, 3001]) {
        const inputs = groups.map(() => gradientLike(length, rand));
        const expected = new Float32Array(length);
        for (const part of inputs) for (let i = 0; i < length; i++) expected[i] = Math.fround(expected[i]! + ROUND[wire](part[i]!));
        for (const validate of [undefined, { maxAbs: 1e6 }]) {
          const sums = await Promise.all(groups.map((g, r) => g.allReduce(inputs[r]!, 'sum', { wire, ...(validate ? { validate } : {}) })));
          for (const s of sums) expect(Array.from(s)).toEqual(Array.from(expected));
        }
      }
      for (const g of groups) g.leave();
    });
  }

  it('f16: a contribution beyond the format (it overflows to Inf) is refused on every rank, naming its sender', async () => {
    const groups = createMemoryGroups(3);
    const inputs = groups.map(() => Float32Array.from([0.5, -0.25, 1]));
    inputs[2]![1] = 70_000;
    const results = await Promise.allSettled(groups.map((g, r) => g.allReduce(inputs[r]!, 'sum', { wire: 'f16', validate: { maxAbs: 1e6 } })));
    for (const res of results) {
      expect(res.status).toBe('rejected');
      const err = (res as PromiseRejectedResult).reason as MeshError;
      expect(err.code).toBe('ERR_BAD_PEER_DATA');
      expect(err.peerId).toBe(memoryPeerId(2));
    }
    for (const g of groups) g.leave();
  });

  it('a peer whose 16-bit payload has the wrong size is named by every rank', async () => {
    const groups = createMemoryGroups(2);
    const results = await Promise.allSettled([
      groups[0]!.allReduce(new Float32Array(10), 'sum', { wire: 'bf16' }),
      groups[1]!.allReduce(new Float32Array(14), 'sum', { wire: 'bf16' }),
    ]);
    expect(results.map((r) => (r as PromiseRejectedResult).reason?.code)).toEqual(['ERR_BAD_PEER_DATA', 'ERR_BAD_PEER_DATA']);
    expect((results[0] as PromiseRejectedResult).reason.peerId).toBe(memoryPeerId(1));
    expect((results[1] as PromiseRejectedResult).reason.peerId).toBe(memoryPeerId(0));
    for (const g of groups) g.leave();
  });
});
