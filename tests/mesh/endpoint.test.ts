/**
 * The frame router under the collectives: epoch/step filtering, malformed frames, heartbeats. Peers are
 * MeshEndpoints on in-memory links; a raw link end plays a misbehaving or stale peer.
 */
import { describe, expect, it } from 'vitest';
import { MeshEndpoint } from '../../src/mesh/endpoint.ts';
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { encodeFrame, FrameKind } from '../../src/mesh/wire.ts';
import { MeshError } from '../../src/mesh/types.ts';
import type { Link } from '../../src/mesh/transport.ts';
import type { Timers } from '../../src/util/timers.ts';

const A = 'peer-aaaa';
const B = 'peer-bbbb';
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Endpoint A with a raw link end standing in for peer B. */
function setup(timers?: Timers) {
  const left: Array<{ peerId: string; reason: MeshError }> = [];
  const endpoint = new MeshEndpoint({ selfId: A, heartbeatIntervalMs: 0, ...(timers ? { timers } : {}), onPeerLeft: (peerId, reason) => left.push({ peerId, reason }) });
  const [aToB, bToA] = createMemoryLinkPair(A, B);
  endpoint.addLink(aToB);
  return { endpoint, raw: bToA, left };
}
function f32Frame(fields: { epoch: number; step: number; opId?: number; round?: number }, values: number[]): ArrayBuffer {
  const payload = new Uint8Array(new Float32Array(values).buffer);
  return encodeFrame({ kind: FrameKind.F32, round: fields.round ?? 0, epoch: fields.epoch, step: fields.step, opId: fields.opId ?? 0, chunkIndex: 0, chunkCount: 1, totalBytes: payload.byteLength }, payload);
}
function sendRaw(raw: Link, frame: ArrayBuffer): void {
  raw.send('stats', frame);
}

describe('MeshEndpoint', () => {
  it('delivers a frame of the current epoch to the matching receive', async () => {
    const { endpoint, raw } = setup();
    const group = endpoint.formGroup([A, B], 10);
    sendRaw(raw, f32Frame({ epoch: 10, step: 0 }, [1, 2, 3]));
    // B (rank 1) sends to A (rank 0) in an exchange; A sends nowhere (to itself).
    const got = await group.exchange(0, new Float32Array([9]), 1);
    expect([...got]).toEqual([1, 2, 3]);
  });

  it('discards frames of a stale (retired) epoch', async () => {
    const { endpoint, raw } = setup();
    endpoint.formGroup([A, B], 10);
    const group = endpoint.formGroup([A, B], 11); // epoch 10 retired
    const pending = group.exchange(0, new Float32Array([9]), 1, { timeoutMs: 100 });
    sendRaw(raw, f32Frame({ epoch: 10, step: 0 }, [666]));
    await expect(pending).rejects.toMatchObject({ code: 'ERR_TIMEOUT', peerId: B });
    // Not held for later either: re-forming epoch 10 does not resurrect it.
    const again = endpoint.formGroup([A, B], 10);
    await expect(again.exchange(0, new Float32Array([9]), 1, { timeoutMs: 100 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
  });

  it('discards frames of an older step', async () => {
    const { endpoint, raw } = setup();
    const group = endpoint.formGroup([A, B], 10);
    group.setStep(5);
    const pending = group.exchange(0, new Float32Array([9]), 1, { timeoutMs: 100 });
    sendRaw(raw, f32Frame({ epoch: 10, step: 4 }, [666]));
    await expect(pending).rejects.toMatchObject({ code: 'ERR_TIMEOUT', peerId: B });
    // The same frame stamped with the current step is accepted (op 1: the next collective).
    sendRaw(raw, f32Frame({ epoch: 10, step: 5, opId: 1 }, [5]));
    expect([...(await group.exchange(0, new Float32Array([9]), 1, { timeoutMs: 1000 }))]).toEqual([5]);
  });

  it('holds frames of an epoch not formed yet and delivers them once it is', async () => {
    const { endpoint, raw } = setup();
    endpoint.formGroup([A, B], 10);
    sendRaw(raw, f32Frame({ epoch: 12, step: 0 }, [4, 2]));
    await flush();
    const group = endpoint.formGroup([A, B], 12);
    const got = await group.exchange(0, new Float32Array([9]), 1, { timeoutMs: 1000 });
    expect([...got]).toEqual([4, 2]);
  });

  const malformed: Array<[string, () => ArrayBuffer]> = [
    ['bad magic', () => {
      const f = f32Frame({ epoch: 10, step: 0 }, [1]);
      new DataView(f).setUint32(0, 0, true);
      return f;
    }],
    ['NaN payload', () => f32Frame({ epoch: 10, step: 0 }, [1, NaN])],
    ['bad checksum', () => {
      const f = f32Frame({ epoch: 10, step: 0 }, [1]);
      new Uint8Array(f)[f.byteLength - 1]! ^= 1;
      return f;
    }],
    ['duplicate chunk', () => {
      // Chunk 0 of 2, sent twice by the test below.
      const payload = new Uint8Array(new Float32Array([1]).buffer);
      return encodeFrame({ kind: FrameKind.F32, round: 0, epoch: 10, step: 0, opId: 0, chunkIndex: 0, chunkCount: 2, totalBytes: 8 }, payload);
    }],
  ];
  for (const [name, make] of malformed) {
    it(`drops the sender of a malformed frame (${name}) with ERR_BAD_FRAME, failing the in-flight collective`, async () => {
      const { endpoint, raw, left } = setup();
      const group = endpoint.formGroup([A, B], 10);
      const pending = group.allReduce(new Float32Array(1), 'sum', { timeoutMs: 60_000 }).catch((e: unknown) => e);
      sendRaw(raw, make());
      if (name === 'duplicate chunk') sendRaw(raw, make());
      const err = (await pending) as MeshError;
      expect(err).toBeInstanceOf(MeshError);
      expect(err.code).toBe('ERR_PEER_LEFT');
      expect(err.peerId).toBe(B);
      expect(left).toHaveLength(1);
      expect(left[0]!.peerId).toBe(B);
      expect(left[0]!.reason.code).toBe('ERR_BAD_FRAME');
      expect(left[0]!.reason.peerId).toBe(B);
      expect(raw.open).toBe(false);
      expect(endpoint.hasLink(B)).toBe(false);
    });
  }

  it('drops a silent peer after the heartbeat timeout', async () => {
    let now = 0;
    const intervals: Array<() => void> = [];
    const timers: Timers = {
      now: () => now,
      setTimeout: () => 0,
      clearTimeout: () => {},
      setInterval: (fn) => intervals.push(fn),
      clearInterval: () => {},
    };
    const left: MeshError[] = [];
    const endpoint = new MeshEndpoint({ selfId: A, timers, heartbeatIntervalMs: 1000, peerTimeoutMs: 4000, onPeerLeft: (_id, reason) => left.push(reason) });
    const [aToB] = createMemoryLinkPair(A, B); // B's end is never read: B is silent
    endpoint.addLink(aToB);
    for (now = 1000; now <= 4000; now += 1000) intervals[0]!();
    expect(left).toHaveLength(0);
    now = 4001;
    intervals[0]!();
    expect(left).toHaveLength(1);
    expect(left[0]!.code).toBe('ERR_PEER_LEFT');
    expect(left[0]!.message).toContain('heartbeat');
    endpoint.destroy();
  });

  it('answers heartbeats and measures the round trip', async () => {
    const a = new MeshEndpoint({ selfId: A, heartbeatIntervalMs: 5 });
    const b = new MeshEndpoint({ selfId: B, heartbeatIntervalMs: 5 });
    const [aToB, bToA] = createMemoryLinkPair(A, B);
    a.addLink(aToB);
    b.addLink(bToA);
    await expect.poll(() => a.rttMs(B)).toBeGreaterThanOrEqual(0);
    a.destroy();
    b.destroy();
  });

  it('destroy is idempotent and fails the current group with ERR_DESTROYED', async () => {
    const { endpoint } = setup();
    const group = endpoint.formGroup([A, B], 3);
    const pending = group.barrier().catch((e: unknown) => e);
    endpoint.destroy();
    endpoint.destroy();
    expect(((await pending) as MeshError).code).toMatch(/ERR_DESTROYED|ERR_PEER_LEFT/);
  });
});
