/**
 * Which way a validated allReduce travels (collectives.ts allReduceRoute): from 3 ranks on, a bulk
 * tensor goes through segment owners whenever that sends fewer bytes, however small it is, so a room's
 * bytes per tab stay near 2·B as tabs join. Checked on endpoints whose links count what they send
 * (traffic.ts): each rank's tensor bytes equal the owners' formula (and are below the direct
 * exchange's), the sum is bit for bit the direct exchange's, an offender is named on every rank, and
 * statistics-channel and tiny tensors keep the direct exchange.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MeshEndpoint } from '../../src/mesh/endpoint.ts';
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { countedLink, TrafficCounter } from '../../src/mesh/traffic.ts';
import { CHUNK_PAYLOAD_BYTES } from '../../src/mesh/chunker.ts';
import { HEADER_BYTES } from '../../src/mesh/wire.ts';
import { allReduceRoute, DEFAULT_COLLECTIVE_CONFIG, directReduceBytes, ownerReduceBytes, segmentBounds, type CollectiveConfig } from '../../src/mesh/collectives.ts';
import type { CollectiveOptions, ProcessGroup } from '../../src/mesh/types.ts';
import { rankOrderSum, uniformParts } from '../helpers/reduce-reference.ts';

const MAX_ABS = 100;
/** The small model of bench:room: a 34.5 KiB gradient, under the 64 KiB ring threshold. */
const SMALL_GRADIENT = (34.5 * 1024) / 4;
const VALIDATED: CollectiveOptions = { priority: 'bulk', validate: { maxAbs: MAX_ABS } };

let teardown: (() => void)[] = [];
afterEach(() => {
  for (const t of teardown) t();
  teardown = [];
});

/** n endpoints, fully linked over memory links; counters[r] counts what rank r sends. */
function room(n: number, collective: Partial<CollectiveConfig> = {}): { groups: ProcessGroup[]; counters: TrafficCounter[]; ids: string[] } {
  const ids = Array.from({ length: n }, (_, r) => `route-peer-${r}`);
  const counters = ids.map(() => new TrafficCounter());
  const endpoints = ids.map((selfId) => new MeshEndpoint({ selfId, heartbeatIntervalMs: 0, collective }));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const [aToB, bToA] = createMemoryLinkPair(ids[a]!, ids[b]!);
      endpoints[a]!.addLink(countedLink(aToB, counters[a]!));
      endpoints[b]!.addLink(countedLink(bToA, counters[b]!));
    }
  }
  teardown.push(() => endpoints.forEach((e) => e.destroy()));
  return { groups: endpoints.map((e) => e.formGroup(ids, 1)), counters, ids };
}

function inputs(n: number, seed: number, length: number): Float32Array[] {
  return uniformParts(n, seed, length, MAX_ABS);
}

const tensorBytes = (c: TrafficCounter) => {
  const t = c.snapshot().tensorBytes;
  return t.stats + t.bulk;
};
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** One frame-exact count of the owners' three rounds, written from the protocol, not from collectives.ts. */
function ownersBytesByHand(length: number, n: number, rank: number): number {
  const frame = (payload: number) => payload + HEADER_BYTES * Math.max(1, Math.ceil(payload / CHUNK_PAYLOAD_BYTES));
  const bounds = segmentBounds(length, n);
  let bytes = 0;
  for (let s = 0; s < n; s++) if (s !== rank) bytes += frame(4 * (bounds[s + 1]! - bounds[s]!)); // round 0: contributions
  bytes += (n - 1) * frame(20); // round 1: verdicts
  bytes += (n - 1) * frame(4 * (bounds[rank + 1]! - bounds[rank]!)); // round 2: own sum
  return bytes;
}

describe('allReduce route by bytes', () => {
  for (const n of [3, 4, 8]) {
    it(`${n} ranks: a validated 34.5 KiB gradient goes through segment owners, each rank sending the owners' bytes`, async () => {
      const { groups, counters } = room(n);
      const parts = inputs(n, n, SMALL_GRADIENT);
      const sums = await Promise.all(groups.map((g, r) => g.allReduce(parts[r]!, 'sum', VALIDATED)));
      const B = SMALL_GRADIENT * 4;
      counters.forEach((c, r) => {
        expect(tensorBytes(c), `rank ${r}`).toBe(ownersBytesByHand(SMALL_GRADIENT, n, r));
        expect(tensorBytes(c)).toBe(ownerReduceBytes(SMALL_GRADIENT, n, r));
        expect(tensorBytes(c)).toBeLessThan(directReduceBytes(SMALL_GRADIENT, n));
        // 2(n−1)/n of the tensor plus headers and verdicts: does not grow with n.
        expect(tensorBytes(c)).toBeLessThan(2 * B + 40 * 64);
      });
      const expected = rankOrderSum(parts);
      for (const sum of sums) expect(sameBits(sum, expected)).toBe(true);
    });
  }

  it('4 ranks: the owners’ sums are bit for bit those of the direct exchange', async () => {
    const n = 4;
    const parts = inputs(n, 41, SMALL_GRADIENT);
    const owners = room(n);
    const viaOwners = await Promise.all(owners.groups.map((g, r) => g.allReduce(parts[r]!, 'sum', VALIDATED)));
    const direct = room(n, { validatedOwners: false });
    const viaDirect = await Promise.all(direct.groups.map((g, r) => g.allReduce(parts[r]!, 'sum', VALIDATED)));
    // Each room really took its route (its bytes), so the comparison is between two routes.
    owners.counters.forEach((c, r) => expect(tensorBytes(c)).toBe(ownersBytesByHand(SMALL_GRADIENT, n, r)));
    for (const c of direct.counters) expect(tensorBytes(c)).toBe(directReduceBytes(SMALL_GRADIENT, n));
    for (let r = 0; r < n; r++) expect(sameBits(viaOwners[r]!, viaDirect[r]!)).toBe(true);
  });

  for (const n of [3, 5]) {
    it(`${n} ranks: a bad value in a small gradient is named on every rank, in any owner's segment`, async () => {
      const bounds = segmentBounds(SMALL_GRADIENT, n);
      for (let owner = 0; owner < n; owner++) {
        const offender = (owner + 1) % n;
        const { groups, ids } = room(n);
        const parts = inputs(n, 60 + owner, SMALL_GRADIENT);
        const element = bounds[owner]! + 2;
        parts[offender]![element] = owner % 2 ? NaN : 5 * MAX_ABS;
        const results = await Promise.allSettled(groups.map((g, r) => g.allReduce(parts[r]!, 'sum', VALIDATED)));
        results.forEach((result, r) => {
          const where = `rank ${r}, offender ${offender}, owner ${owner}`;
          expect(result.status, where).toBe('rejected');
          const reason = (result as PromiseRejectedResult).reason;
          expect(reason, where).toMatchObject({ code: 'ERR_BAD_PEER_DATA', peerId: ids[offender] });
          expect(reason.message, where).toContain(`element ${element}`);
        });
      }
    });
  }

  it('statistics-channel, tiny and 2-rank tensors keep the direct exchange', async () => {
    const cases: { n: number; length: number; opts: CollectiveOptions }[] = [
      { n: 4, length: 1024, opts: { priority: 'stats', validate: { maxAbs: MAX_ABS } } }, // statistics rows
      { n: 4, length: 1024, opts: { validate: { maxAbs: MAX_ABS } } }, // ≤ 16 KiB defaults to stats
      { n: 8, length: 2 + 8, opts: VALIDATED }, // the step's figures: owners would send more
      { n: 2, length: SMALL_GRADIENT, opts: VALIDATED },
    ];
    for (const { n, length, opts } of cases) {
      const { groups, counters } = room(n);
      const parts = inputs(n, length, length);
      const sums = await Promise.all(groups.map((g, r) => g.allReduce(parts[r]!, 'sum', opts)));
      for (const c of counters) expect(tensorBytes(c), `${n} ranks, ${length} floats`).toBe(directReduceBytes(length, n));
      for (const sum of sums) expect(sameBits(sum, rankOrderSum(parts))).toBe(true);
    }
  });

  it('the rule: owners exactly when they send fewer bytes, the same answer for every rank', () => {
    const config = DEFAULT_COLLECTIVE_CONFIG;
    for (const n of [3, 4, 8, 16]) {
      for (const length of [1, 10, 18, 100, 1000, SMALL_GRADIENT, 1 << 20]) {
        const fewer = ownerReduceBytes(length, n) < directReduceBytes(length, n);
        expect(allReduceRoute({ length, ranks: n, channel: 'bulk', wire: 'f32', validated: true, config }), `${n} ranks, ${length}`).toBe(fewer ? 'owners' : 'direct');
        expect(allReduceRoute({ length, ranks: n, channel: 'bulk', wire: 'f16', validated: true, config })).toBe('direct');
      }
      expect(allReduceRoute({ length: SMALL_GRADIENT, ranks: n, channel: 'bulk', wire: 'f32', validated: true, config })).toBe('owners');
    }
    // Unvalidated: the ring above its threshold, as before.
    expect(allReduceRoute({ length: 1 << 20, ranks: 4, channel: 'bulk', wire: 'f32', validated: false, config })).toBe('ring');
    expect(allReduceRoute({ length: SMALL_GRADIENT, ranks: 4, channel: 'bulk', wire: 'f32', validated: false, config })).toBe('direct');
  });
});
