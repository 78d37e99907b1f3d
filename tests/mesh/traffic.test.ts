/**
 * The sent-traffic counter: what it reports for a peer equals what that peer's links delivered to the
 * other ends (counted at the receivers, by channel and decoded frame kind), and the tensor part equals
 * the wire layout's cost of the collective (payload + one 40-byte header per chunk, to every other peer).
 * A Mesh counts every link it opens.
 */
import { describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { attachSignaling } from '../../src/server/signaling.ts';
import { Mesh } from '../../src/mesh/mesh.ts';
import { MemoryLinkHub } from '../../src/mesh/memory-link.ts';
import type { WebSocketCtor } from '../../src/mesh/signaling-client.ts';
import { MeshEndpoint } from '../../src/mesh/endpoint.ts';
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { countedLink, TrafficCounter } from '../../src/mesh/traffic.ts';
import { CHUNK_PAYLOAD_BYTES } from '../../src/mesh/chunker.ts';
import { decodeFrame, FrameKind, HEADER_BYTES } from '../../src/mesh/wire.ts';
import type { Channel, Link } from '../../src/mesh/transport.ts';

type Received = Record<Channel, { bytes: number; tensorBytes: number }>;

/** `link` with every message it delivers tallied in `into` (the receiving side's own count). */
function tallied(link: Link, into: Received): Link {
  return {
    get remoteId() {
      return link.remoteId;
    },
    get open() {
      return link.open;
    },
    send: (channel, data) => link.send(channel, data),
    bufferedAmount: (channel) => link.bufferedAmount(channel),
    whenDrained: (channel, low) => link.whenDrained(channel, low),
    onMessage: (handler) =>
      link.onMessage((channel, data) => {
        into[channel].bytes += data.byteLength;
        if (decodeFrame(data, link.remoteId).kind === FrameKind.F32) into[channel].tensorBytes += data.byteLength;
        handler(channel, data);
      }),
    onClose: (handler) => link.onClose(handler),
    destroy: (reason) => link.destroy(reason),
  };
}

/** n endpoints, fully linked; peer r's sends are counted by counters[r], what r sends is tallied where it arrives in received[r]. */
function mesh(n: number) {
  const ids = Array.from({ length: n }, (_, r) => `traffic-peer-${r}`);
  const counters = ids.map(() => new TrafficCounter());
  const received: Received[] = ids.map(() => ({ stats: { bytes: 0, tensorBytes: 0 }, bulk: { bytes: 0, tensorBytes: 0 } }));
  const endpoints = ids.map((selfId) => new MeshEndpoint({ selfId, heartbeatIntervalMs: 0 }));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const [aToB, bToA] = createMemoryLinkPair(ids[a]!, ids[b]!);
      // a's link end counts what a sends; b's end tallies what arrives from a (and vice versa).
      endpoints[a]!.addLink(tallied(countedLink(aToB, counters[a]!), received[b]!));
      endpoints[b]!.addLink(tallied(countedLink(bToA, counters[b]!), received[a]!));
    }
  }
  const groups = endpoints.map((e) => e.formGroup(ids, 1));
  return { groups, counters, received, destroy: () => endpoints.forEach((e) => e.destroy()) };
}

/** Bytes of one message of `floats` float32 values on the wire: payload plus a header per chunk. */
function wireBytes(floats: number): number {
  const payload = floats * 4;
  return payload + HEADER_BYTES * Math.max(1, Math.ceil(payload / CHUNK_PAYLOAD_BYTES));
}

describe('TrafficCounter', () => {
  it('counts what the links delivered, by channel, tensor frames apart from control', async () => {
    const n = 3;
    const { groups, counters, received, destroy } = mesh(n);
    // A small gather (stats channel) and a multi-chunk one (bulk, with flow-control credit coming back on stats).
    const small = 2 * 64;
    const large = Math.ceil((2.5 * CHUNK_PAYLOAD_BYTES) / 4);
    await Promise.all(groups.map((g, r) => g.allGather(new Float32Array(small).fill(r), { priority: 'stats' })));
    await Promise.all(groups.map((g, r) => g.allGather(new Float32Array(large).fill(r), { priority: 'bulk' })));
    await new Promise((resolve) => setTimeout(resolve, 0)); // the last credit frames
    for (let r = 0; r < n; r++) {
      const sent = counters[r]!.snapshot();
      for (const channel of ['stats', 'bulk'] as const) {
        expect(sent.bytes[channel], `peer ${r} ${channel}`).toBe(received[r]![channel].bytes);
        expect(sent.tensorBytes[channel], `peer ${r} ${channel} tensors`).toBe(received[r]![channel].tensorBytes);
      }
      expect(sent.tensorBytes.stats).toBe((n - 1) * wireBytes(small));
      expect(sent.tensorBytes.bulk).toBe((n - 1) * wireBytes(large));
      expect(sent.frames.bulk).toBe((n - 1) * 3);
      // Credit frames for the bulk messages received from the others.
      expect(sent.bytes.stats).toBeGreaterThan(sent.tensorBytes.stats);
    }
    destroy();
  });

  it('does not count a send the link refused', () => {
    const counter = new TrafficCounter();
    const [a, b] = createMemoryLinkPair('traffic-a', 'traffic-b');
    const link = countedLink(a, counter);
    b.destroy();
    a.destroy();
    expect(() => link.send('stats', new ArrayBuffer(48))).toThrow();
    expect(counter.snapshot().bytes).toEqual({ stats: 0, bulk: 0 });
  });
});

describe('Mesh traffic', () => {
  it('a mesh counts the frames its links send', async () => {
    const server = http.createServer();
    const signaling = attachSignaling(server, {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const hub = new MemoryLinkHub();
    const join = (room: { create: true } | { roomId: string }) =>
      Mesh.join({ room, signalingUrl: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/signal`, WebSocket: WebSocket as unknown as WebSocketCtor, linkFactory: hub.factory, heartbeatIntervalMs: 0 });
    const first = await join({ create: true });
    const second = await join({ roomId: first.roomId });
    try {
      const groups = await Promise.all([first, second].map((m) => m.waitForSize(2, 5000)));
      const before = [first, second].map((m) => m.traffic.snapshot().tensorBytes.stats);
      await Promise.all(groups.map((g) => g.allGather(new Float32Array(100), { priority: 'stats' })));
      for (const [i, m] of [first, second].entries()) expect(m.traffic.snapshot().tensorBytes.stats - before[i]!).toBe(wireBytes(100));
    } finally {
      first.destroy();
      second.destroy();
      signaling.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
