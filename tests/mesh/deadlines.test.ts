/**
 * Deadlines that fit the room: a send held back by flow control fails by its deadline naming the peer
 * that never granted credit; a wait on a peer outlives the base deadline while the room's slowest
 * peer reports (in its heartbeats) that it is still working, and not otherwise.
 */
import { describe, expect, it } from 'vitest';
import { MeshEndpoint } from '../../src/mesh/endpoint.ts';
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { encodeFrame, FrameKind } from '../../src/mesh/wire.ts';
import { encodeHeartbeat, MAX_STEP_WAIT_MS } from '../../src/mesh/pace.ts';
import type { Link } from '../../src/mesh/transport.ts';
import { fakeClock } from './fake-timers.ts';

const A = 'peer-aaaa';
const B = 'peer-bbbb';
const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

function setup() {
  const clock = fakeClock(1_000);
  const endpoint = new MeshEndpoint({ selfId: A, heartbeatIntervalMs: 0, timers: clock.timers });
  const [aToB, bToA] = createMemoryLinkPair(A, B);
  endpoint.addLink(aToB);
  const received: number[] = [];
  bToA.onMessage((_channel, data) => received.push(data.byteLength)); // B reads but never grants credit
  return { clock, endpoint, raw: bToA, received };
}

function heartbeat(raw: Link, clockMs: number, paceMs: number): void {
  const payload = encodeHeartbeat(clockMs, paceMs);
  raw.send('stats', encodeFrame({ kind: FrameKind.Heartbeat, round: 0, epoch: 0, step: 0, opId: 0, chunkIndex: 0, chunkCount: 1, totalBytes: payload.byteLength }, payload));
}

function f32(raw: Link, epoch: number, values: number[]): void {
  const payload = new Uint8Array(new Float32Array(values).buffer);
  raw.send('stats', encodeFrame({ kind: FrameKind.F32, round: 0, epoch, step: 0, opId: 0, chunkIndex: 0, chunkCount: 1, totalBytes: payload.byteLength }, payload));
}

describe('deadlines', () => {
  it('a broadcast to a peer that never grants credit fails by its deadline, naming that peer', async () => {
    const { clock, endpoint, received } = setup();
    const group = endpoint.formGroup([A, B], 3);
    const outcome = group.broadcast(new Float32Array(1 << 20), 0, { timeoutMs: 5_000, priority: 'bulk' }).then(
      () => null,
      (err: unknown) => err,
    );
    await flush();
    expect(received.length).toBeGreaterThan(0); // it started sending, then stalled on credit
    clock.advance(4_900);
    await flush();
    let settled = false;
    void outcome.then(() => (settled = true));
    await flush();
    expect(settled).toBe(false);
    clock.advance(200);
    await flush();
    expect(await outcome).toMatchObject({ code: 'ERR_TIMEOUT', peerId: B });
    endpoint.destroy();
  });

  it('a receive outlives the base deadline while the slowest peer reports it is still working', async () => {
    const { clock, endpoint, raw } = setup();
    const group = endpoint.formGroup([A, B], 3);
    const result = group.exchange(0, new Float32Array(1), 1, { timeoutMs: 2_000 });
    let outcome: unknown = 'pending';
    result.then((v) => (outcome = [...v]), (e: unknown) => (outcome = e));
    // B computes for 20 s, heartbeating every second with its step time so far.
    for (let t = 1; t <= 20; t++) {
      heartbeat(raw, clock.now, t * 1_000);
      await flush();
      clock.advance(1_000);
      await flush();
      expect(outcome).toBe('pending');
    }
    const state = endpoint.waitInfo();
    expect(state.slowest).toMatchObject({ peerId: B });
    expect(state.waitingFor).toMatchObject({ peerId: B });
    expect(state.waitingFor!.waitedMs).toBeGreaterThanOrEqual(20_000);
    f32(raw, 3, [7]);
    await flush();
    expect(outcome).toEqual([7]);
    endpoint.destroy();
  });

  it('without pace reports the base deadline holds; a silent slow peer is not waited for', async () => {
    const { clock, endpoint, raw } = setup();
    const group = endpoint.formGroup([A, B], 3);
    const first = group.exchange(0, new Float32Array(1), 1, { timeoutMs: 2_000 }).catch((e: unknown) => e);
    clock.advance(2_100);
    await flush();
    expect(await first).toMatchObject({ code: 'ERR_TIMEOUT', peerId: B });
    // A pace report that stops (the peer went quiet) stops extending the wait.
    const second = group.exchange(0, new Float32Array(1), 1, { timeoutMs: 2_000 }).catch((e: unknown) => e);
    heartbeat(raw, clock.now, 60_000);
    await flush();
    clock.advance(10_000);
    await flush();
    expect(await second).toMatchObject({ code: 'ERR_TIMEOUT', peerId: B });
    endpoint.destroy();
  });

  it('a forged pace cannot stretch a wait beyond MAX_STEP_WAIT_MS', async () => {
    const { clock, endpoint, raw } = setup();
    const group = endpoint.formGroup([A, B], 3);
    const result = group.exchange(0, new Float32Array(1), 1, { timeoutMs: 1_000 }).catch((e: unknown) => e);
    let settled = false;
    void result.then(() => (settled = true));
    for (let t = 0; t < MAX_STEP_WAIT_MS / 1_000 + 5 && !settled; t++) {
      heartbeat(raw, clock.now, 1e12);
      clock.advance(1_000);
      await flush();
    }
    expect(await result).toMatchObject({ code: 'ERR_TIMEOUT', peerId: B });
    expect(clock.now - 1_000).toBeLessThanOrEqual(MAX_STEP_WAIT_MS + 3_000);
    endpoint.destroy();
  });
});
