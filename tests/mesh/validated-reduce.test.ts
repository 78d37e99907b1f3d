/**
 * The validated allReduce of large tensors from 3 ranks on (validated-reduce.ts): each segment's owner
 * checks every contribution to it and shares its verdict. Checked here: the sum is the float32
 * rank-order sum on every rank, the bytes are the ring's rather than a direct exchange's, and every
 * rank names the same offender wherever in the tensor its bad value sits.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryGroups, memoryPeerId, type MemoryGroup } from '../../src/mesh/memory.ts';
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { segmentBounds } from '../../src/mesh/collectives.ts';
import { FrameKind } from '../../src/mesh/wire.ts';
import { rankOrderSum, uniformParts } from '../helpers/reduce-reference.ts';

const MAX_ABS = 100;
const LENGTH = 10_001;
/** Small chunks: the owner path runs with reassembly (the ring threshold no longer decides validated tensors). */
const OPTIONS = { collective: { ringThresholdBytes: 256, validatedOwners: true }, chunkBytes: 1024, timeoutMs: 5_000 };

function inputs(n: number, seed: number, length = LENGTH): Float32Array[] {
  return uniformParts(n, seed, length, MAX_ABS);
}

let groups: MemoryGroup[] = [];
afterEach(() => {
  for (const g of groups) g.leave();
  groups = [];
  vi.restoreAllMocks();
});

describe('validated allReduce through segment owners', () => {
  for (const n of [3, 4, 5]) {
    it(`${n} ranks: every rank gets the float32 rank-order sum, bit for bit`, async () => {
      groups = createMemoryGroups(n, OPTIONS);
      const parts = inputs(n, n);
      const sums = await Promise.all(groups.map((g, r) => g.allReduce(parts[r]!, 'sum', { validate: { maxAbs: MAX_ABS } })));
      const expected = rankOrderSum(parts);
      for (const sum of sums) expect(Buffer.from(sum.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    });
  }

  it('4 ranks send the ring’s 2(n−1)/n of the tensor each, not the direct exchange’s n−1 times it', async () => {
    const n = 4;
    const proto = Object.getPrototypeOf(createMemoryLinkPair('x', 'y')[0]) as { send(channel: string, data: ArrayBuffer): void };
    let bytes = 0;
    const realSend = proto.send;
    vi.spyOn(proto, 'send').mockImplementation(function (this: unknown, channel: string, data: ArrayBuffer) {
      bytes += data.byteLength;
      return realSend.call(this, channel, data);
    });
    groups = createMemoryGroups(n, { collective: { ringThresholdBytes: 256, validatedOwners: true } });
    const parts = inputs(n, 7, 1 << 18); // 1 MiB each
    await Promise.all(groups.map((g, r) => g.allReduce(parts[r]!, 'sum', { validate: { maxAbs: MAX_ABS } })));
    const tensorBytes = parts[0]!.byteLength;
    const ringBytes = n * 2 * ((n - 1) / n) * tensorBytes;
    expect(bytes).toBeGreaterThanOrEqual(ringBytes);
    expect(bytes).toBeLessThan(ringBytes * 1.01); // headers, verdicts and credits
    expect(bytes).toBeLessThan(n * (n - 1) * tensorBytes * 0.6); // the direct exchange's bytes
  });

  it('a contribution beyond the bound is named on every rank, whichever owner checks it', async () => {
    const n = 4;
    const bounds = segmentBounds(LENGTH, n);
    for (const offender of [0, 2]) {
      for (let owner = 0; owner < n; owner++) {
        groups = createMemoryGroups(n, OPTIONS);
        const parts = inputs(n, 10 + owner);
        const element = bounds[owner]! + 3;
        parts[offender]![element] = 3 * MAX_ABS;
        const results = await Promise.allSettled(groups.map((g, r) => g.allReduce(parts[r]!, 'sum', { validate: { maxAbs: MAX_ABS } })));
        results.forEach((result, r) => {
          expect(result.status, `rank ${r}, offender ${offender}, owner ${owner}`).toBe('rejected');
          const reason = (result as PromiseRejectedResult).reason;
          expect(reason).toMatchObject({ code: 'ERR_BAD_PEER_DATA', peerId: memoryPeerId(offender) });
          expect(reason.message).toContain(`element ${element}`);
        });
        for (const g of groups) g.leave();
        groups = [];
      }
    }
  });

  // Before F32Unchecked the wire refused the value at its segment's owner alone: that owner dropped
  // the sender and the other ranks timed out (ERR_TIMEOUT / ERR_PEER_LEFT), naming nobody in common.
  for (const n of [3, 4]) {
    it(`${n} ranks: a non-finite contribution in any segment is named on every honest rank`, async () => {
      const bounds = segmentBounds(LENGTH, n);
      const values = [Infinity, NaN, -Infinity];
      for (const offender of [1, n - 1]) {
        for (let owner = 0; owner < n; owner++) {
          groups = createMemoryGroups(n, OPTIONS);
          const parts = inputs(n, 20 + owner);
          const element = bounds[owner]! + 1 + owner;
          const value = values[(owner + offender) % values.length]!;
          parts[offender]![element] = value;
          const results = await Promise.allSettled(groups.map((g, r) => g.allReduce(parts[r]!, 'sum', { validate: { maxAbs: MAX_ABS } })));
          results.forEach((result, r) => {
            const where = `rank ${r}, offender ${offender}, owner ${owner}, value ${value}`;
            expect(result.status, where).toBe('rejected');
            const reason = (result as PromiseRejectedResult).reason;
            expect(reason, where).toMatchObject({ code: 'ERR_BAD_PEER_DATA', peerId: memoryPeerId(offender) });
            expect(reason.message, where).toContain(`element ${element}`);
            expect(reason.message, where).toContain('not finite');
          });
          for (const g of groups) g.leave();
          groups = [];
        }
      }
    });
  }

  it('unchecked float32 is refused outside the owners’ contribution round', async () => {
    // Rank 1 turns its checked frames into unchecked ones (kind byte 5 of the header; the checksum
    // covers only the payload), carrying a NaN into an allGather that relies on the wire's check.
    const proto = Object.getPrototypeOf(createMemoryLinkPair('x', 'y')[0]) as { send(channel: string, data: ArrayBuffer): void };
    const realSend = proto.send;
    vi.spyOn(proto, 'send').mockImplementation(function (this: { remoteId: string }, channel: string, data: ArrayBuffer) {
      const bytes = new Uint8Array(data);
      if (this.remoteId === memoryPeerId(0) && bytes[5] === FrameKind.F32) bytes[5] = FrameKind.F32Unchecked;
      return realSend.call(this, channel, data);
    });
    groups = createMemoryGroups(2, OPTIONS);
    const results = await Promise.allSettled(groups.map((g, r) => g.allGather(Float32Array.from([r, r === 1 ? NaN : 1, 2]))));
    expect(results[0]!.status).toBe('rejected');
    const reason = (results[0] as PromiseRejectedResult).reason;
    expect(reason.peerId).toBe(memoryPeerId(1));
    expect([reason.code, reason.cause?.code]).toContain('ERR_BAD_FRAME');
  });

  it('a contribution of the wrong length is named by every rank of the right length', async () => {
    groups = createMemoryGroups(3, OPTIONS);
    const parts = inputs(3, 5);
    parts[1] = Float32Array.from([...parts[1]!, 0]);
    const results = await Promise.allSettled(groups.map((g, r) => g.allReduce(parts[r]!, 'sum', { validate: { maxAbs: MAX_ABS } })));
    for (const r of [0, 2]) {
      expect(results[r]!.status).toBe('rejected');
      expect((results[r] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_BAD_PEER_DATA', peerId: memoryPeerId(1) });
    }
    expect(results[1]!.status).toBe('rejected');
  });
});
