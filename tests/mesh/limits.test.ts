/**
 * Bounded memory per peer: a hostile or broken peer (a raw link end writing forged frames) cannot make
 * an endpoint allocate from declared sizes, hold unbounded frames of unformed epochs, buffer unbounded
 * early messages, or run operation ids far ahead. Each time it is dropped with ERR_PEER_OVER_LIMIT
 * naming it, and the memory the endpoint holds for it stays under a stated bound.
 */
import { describe, expect, it } from 'vitest';
import { MeshEndpoint, type PeerLimits } from '../../src/mesh/endpoint.ts';
import { chunkCountFor, chunkMessage } from '../../src/mesh/chunker.ts';
import { DEFAULT_HOLD_LIMITS } from '../../src/mesh/held-frames.ts';
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { encodeFrame, FrameKind, HEADER_BYTES, MAX_MESSAGE_BYTES, MAX_CHUNKS } from '../../src/mesh/wire.ts';
import type { MeshError } from '../../src/mesh/types.ts';
import type { Timers } from '../../src/util/timers.ts';
import { fakeClock } from './fake-timers.ts';

const A = 'peer-aaaa';
const B = 'peer-bbbb';
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
const MiB = 1024 * 1024;

function setup(opts: { timers?: Timers; limits?: PeerLimits } = {}) {
  const left: MeshError[] = [];
  const endpoint = new MeshEndpoint({ selfId: A, heartbeatIntervalMs: 0, ...opts, onPeerLeft: (_id, reason) => left.push(reason) });
  const [aToB, bToA] = createMemoryLinkPair(A, B);
  endpoint.addLink(aToB);
  return { endpoint, raw: bToA, left };
}

function frame(fields: { epoch: number; step?: number; opId?: number; round?: number; chunkIndex?: number; chunkCount?: number; totalBytes?: number }, payload: Uint8Array): ArrayBuffer {
  return encodeFrame(
    {
      kind: FrameKind.F32,
      round: fields.round ?? 0,
      epoch: fields.epoch,
      step: fields.step ?? 0,
      opId: fields.opId ?? 0,
      chunkIndex: fields.chunkIndex ?? 0,
      chunkCount: fields.chunkCount ?? 1,
      totalBytes: fields.totalBytes ?? payload.byteLength,
    },
    payload,
  );
}

/** Bytes of ArrayBuffers alive in this process (where typed-array data lives in Node). */
function arrayBufferBytes(): number {
  return process.memoryUsage().arrayBuffers;
}

describe('bounded memory per peer', () => {
  it('8 chunks declaring 512 MiB in all: nothing is allocated from the declaration; the sender is dropped', async () => {
    const { endpoint, raw, left } = setup();
    endpoint.formGroup([A, B], 7);
    // The first chunk of each of 8 messages declaring the largest size: 65,536 chunks of 1 KiB each.
    const chunkBytes = MAX_MESSAGE_BYTES / MAX_CHUNKS;
    const payload = new Uint8Array(chunkBytes);
    const before = arrayBufferBytes();
    let peak = 0;
    for (let opId = 0; opId < 8 && raw.open; opId++) {
      raw.send('bulk', frame({ epoch: 7, opId, chunkCount: MAX_CHUNKS, totalBytes: MAX_MESSAGE_BYTES }, payload));
      await flush();
      peak = Math.max(peak, arrayBufferBytes() - before);
    }
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ code: 'ERR_PEER_OVER_LIMIT', peerId: B });
    expect(left[0]!.message).toContain('declaring');
    expect(endpoint.hasLink(B)).toBe(false);
    // Stated bound: the received chunks and frame copies only (≈ 8.5 KB), far below one declared message.
    expect(peak).toBeLessThan(4 * MiB);
    endpoint.destroy();
  });

  it('a legitimate chunked message still arrives whole (lazy reassembly)', async () => {
    const { endpoint, raw } = setup();
    const group = endpoint.formGroup([A, B], 7);
    const values = Float32Array.from({ length: 3000 }, (_, i) => i * 0.5);
    const frames = chunkMessage({ kind: FrameKind.F32, round: 0, epoch: 7, step: 0, opId: 0 }, new Uint8Array(values.buffer), 1024);
    expect(frames.length).toBeGreaterThan(10);
    // Out of order: last chunk first.
    for (const f of [frames.at(-1)!, ...frames.slice(0, -1)]) raw.send('bulk', f);
    const got = await group.exchange(0, new Float32Array(1), 1, { timeoutMs: 1000 });
    expect([...got]).toEqual([...values]);
    endpoint.destroy();
  });

  it('10,000 future-step messages: at most the early-message cap is buffered, then the sender is dropped', async () => {
    const limits: PeerLimits = { match: { maxEarlyMessages: 1000 } };
    const { endpoint, raw, left } = setup({ limits });
    endpoint.formGroup([A, B], 7);
    const payload = new Uint8Array(64);
    let peakHeld = 0;
    for (let i = 0; i < 10_000 && raw.open; i++) {
      // Within the operation window, every one a distinct (round) tag, stamped with steps far ahead.
      raw.send('stats', frame({ epoch: 7, step: 1000 + i, opId: 1, round: i }, payload));
      if (i % 100 === 0) await flush();
    }
    await flush();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ code: 'ERR_PEER_OVER_LIMIT', peerId: B });
    expect(left[0]!.message).toContain('ahead of this peer');
    peakHeld = Math.max(peakHeld, endpoint.heldBytes);
    expect(peakHeld).toBe(0); // everything of the dropped peer is released
    endpoint.destroy();
  });

  it('frames of an epoch never formed here: counted with headers per sender, capped, and expired on a timer', async () => {
    const clock = fakeClock();
    const limits: PeerLimits = { hold: { maxFramesPerPeer: 100, maxHoldMs: 5_000 } };
    const { endpoint, raw, left } = setup({ timers: clock.timers, limits });
    endpoint.formGroup([A, B], 7);
    // Zero-payload frames cost their header: 50 of them hold 50 × 40 bytes.
    for (let i = 0; i < 50; i++) raw.send('stats', frame({ epoch: 99, opId: i }, new Uint8Array(0)));
    await flush();
    expect(endpoint.heldBytes).toBe(50 * HEADER_BYTES);
    clock.advance(6_000);
    expect(endpoint.heldBytes).toBe(0);
    expect(left).toHaveLength(0);
    // A flood beyond the per-sender cap drops the sender.
    for (let i = 0; i < 10_000 && raw.open; i++) raw.send('stats', frame({ epoch: 100 + i, opId: 0 }, new Uint8Array(0)));
    await flush();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ code: 'ERR_PEER_OVER_LIMIT', peerId: B });
    expect(left[0]!.message).toContain('epochs not formed here');
    expect(endpoint.heldBytes).toBe(0);
    endpoint.destroy();
  });

  it('an operation id far ahead of the current one drops the sender; a slightly ahead one is kept', async () => {
    const { endpoint, raw, left } = setup();
    const group = endpoint.formGroup([A, B], 7);
    raw.send('stats', frame({ epoch: 7, opId: 1 }, new Uint8Array(new Float32Array([42]).buffer)));
    await flush();
    expect(left).toHaveLength(0);
    raw.send('stats', frame({ epoch: 7, opId: 0 }, new Uint8Array(new Float32Array([1]).buffer)));
    expect([...(await group.exchange(0, new Float32Array(1), 1, { timeoutMs: 1000 }))]).toEqual([1]);
    expect([...(await group.exchange(0, new Float32Array(1), 1, { timeoutMs: 1000 }))]).toEqual([42]);
    raw.send('stats', frame({ epoch: 7, opId: 1_000_000 }, new Uint8Array(4)));
    await flush();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ code: 'ERR_PEER_OVER_LIMIT', peerId: B });
    endpoint.destroy();
  });

  it('a long collective stays current while more short ones than the window start and finish beside it', async () => {
    const { endpoint, raw, left } = setup();
    const group = endpoint.formGroup([A, B], 7);
    // Op 0 (think: a 16 MiB allReduce) waits for B while 40 statistics exchanges (ops 1..40) complete.
    const long = group.exchange(0, new Float32Array(1), 1, { timeoutMs: 5_000 });
    for (let op = 1; op <= 40; op++) {
      raw.send('stats', frame({ epoch: 7, opId: op }, new Uint8Array(new Float32Array([op]).buffer)));
      expect([...(await group.exchange(0, new Float32Array(1), 1, { timeoutMs: 1_000 }))]).toEqual([op]);
    }
    raw.send('bulk', frame({ epoch: 7, opId: 0 }, new Uint8Array(new Float32Array([-1]).buffer)));
    expect([...(await long)]).toEqual([-1]);
    expect(left).toHaveLength(0);
    endpoint.destroy();
  });

  it('the default hold cap admits the frames of one largest message (a state broadcast of a new epoch) and more', () => {
    expect(DEFAULT_HOLD_LIMITS.maxFramesPerPeer).toBeGreaterThan(chunkCountFor(MAX_MESSAGE_BYTES) + 64);
    expect(DEFAULT_HOLD_LIMITS.maxBytesPerPeer).toBeGreaterThan(MAX_MESSAGE_BYTES + chunkCountFor(MAX_MESSAGE_BYTES) * HEADER_BYTES);
  });

  it('half-received messages count against the per-sender limit and expire when their sender gives up', async () => {
    const clock = fakeClock();
    const limits: PeerLimits = { reassembly: { maxPartialMessages: 4, maxPartialAgeMs: 10_000 } };
    const { endpoint, raw, left } = setup({ timers: clock.timers, limits });
    endpoint.formGroup([A, B], 7);
    const chunk = new Uint8Array(1024);
    for (let opId = 0; opId < 4; opId++) raw.send('bulk', frame({ epoch: 7, opId, chunkCount: 4, totalBytes: 4096 }, chunk));
    await flush();
    expect(endpoint.heldBytes).toBe(4 * (1024 + HEADER_BYTES));
    clock.advance(11_000);
    expect(endpoint.heldBytes).toBe(0);
    for (let opId = 4; opId < 9 && raw.open; opId++) raw.send('bulk', frame({ epoch: 7, opId, chunkCount: 4, totalBytes: 4096 }, chunk));
    await flush();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ code: 'ERR_PEER_OVER_LIMIT', peerId: B });
    expect(left[0]!.message).toContain('incomplete messages');
    endpoint.destroy();
  });
});
