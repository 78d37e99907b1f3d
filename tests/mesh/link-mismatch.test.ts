/**
 * Link types in one room (src/mesh/link-signals.ts): a pair whose sides use different link types (split
 * links on one side only) is refused once, reported once on both sides as ERR_LINK_MISMATCH and never
 * retried, while the pairs that match train on; and a split link's two offers, in either order, begin
 * one link, a second round of them restarts it. Real signaling server, in-memory links that open only
 * after their handshake (tests/helpers/handshake-links.ts), timers 20× fast.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LINK_CONNECT_TIMEOUT_MS, LINK_RETRY_DELAY_MS, Mesh } from '../../src/mesh/mesh.ts';
import type { MeshError } from '../../src/mesh/types.ts';
import type { WebSocketCtor } from '../../src/mesh/signaling-client.ts';
import type { SignalingLinkFactory } from '../../src/mesh/link-signals.ts';
import { fastTimers, handshakeFactory, type MadeLink } from '../helpers/handshake-links.ts';
import { startTestSignaling, type TestSignaling } from '../helpers/signaling-server.ts';

const SPEED = 20;
let signaling: TestSignaling;
let url: string;
const meshes: Mesh[] = [];

async function join(room: { create: true } | { roomId: string }, linkFactory: SignalingLinkFactory): Promise<{ mesh: Mesh; errors: MeshError[] }> {
  const errors: MeshError[] = [];
  const mesh = await Mesh.join({ room, signalingUrl: url, WebSocket: WebSocket as unknown as WebSocketCtor, linkFactory, heartbeatIntervalMs: 0, peerTimeoutMs: 1e9, timers: fastTimers(SPEED) });
  mesh.on('error', (e) => errors.push(e));
  meshes.push(mesh);
  return { mesh, errors };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Mesh with two link types in one room', () => {
  beforeEach(async () => {
    signaling = await startTestSignaling();
    url = signaling.url;
  });
  afterEach(async () => {
    for (const m of meshes.splice(0)) m.destroy();
    await signaling.close();
  });

  it('a split-link tab and a one-connection tab: ERR_LINK_MISMATCH once on each side, no retries, the matching pair trains', async () => {
    const made: MadeLink[] = [];
    // Two split tabs around one tab of one connection: its pairs mismatch whichever side initiates.
    const a = await join({ create: true }, handshakeFactory('split', made));
    const b = await join({ roomId: a.mesh.roomId }, handshakeFactory('one', made));
    const c = await join({ roomId: a.mesh.roomId }, handshakeFactory('split', made));
    const [groupA, groupC] = await Promise.all([a.mesh.waitForSize(2, 5000), c.mesh.waitForSize(2, 5000)]);
    await expect.poll(() => b.errors.length, { timeout: 5000 }).toBe(2);
    await expect.poll(() => a.errors.length + c.errors.length, { timeout: 5000 }).toBe(2);
    // Long enough for several connect timeouts and retries of the old silent loop.
    await sleep((3 * (LINK_CONNECT_TIMEOUT_MS + LINK_RETRY_DELAY_MS)) / SPEED);

    const described = (m: { errors: MeshError[] }) => m.errors.map((e) => `${e.code} ${e.peerId}`).sort();
    expect(described(a)).toEqual([`ERR_LINK_MISMATCH ${b.mesh.selfId}`]);
    expect(described(c)).toEqual([`ERR_LINK_MISMATCH ${b.mesh.selfId}`]);
    expect(described(b)).toEqual([`ERR_LINK_MISMATCH ${a.mesh.selfId}`, `ERR_LINK_MISMATCH ${c.mesh.selfId}`].sort());
    expect(a.errors[0]!.message).toMatch(/same link type/);
    // Each mismatched pair started at most one link (its initiator's), never again.
    for (const other of [a, c]) {
      const pair = new Set([b.mesh.selfId, other.mesh.selfId]);
      const started = made.filter((link) => pair.has(link.selfId) && pair.has(link.remoteId));
      expect(started.length, `links started between ${[...pair]}`).toBeLessThanOrEqual(1);
    }
    // The room goes on without the odd one: A and C form a complete group and train; B is complete alone.
    expect(groupA.epoch).toBe(groupC.epoch);
    expect(a.mesh.group.epoch).toBe(groupA.epoch);
    const sums = await Promise.all([groupA, groupC].map((g, r) => g.allReduce(new Float32Array([r + 1]))));
    for (const s of sums) expect([...s]).toEqual([3]);
    expect(b.mesh.group.size).toBe(1);
    expect(b.mesh.excludedPeers.get(a.mesh.selfId)?.code).toBe('ERR_LINK_MISMATCH');
  });

  it('split links: both offers begin one link in either order, and a repeated one restarts it', async () => {
    const made: MadeLink[] = [];
    const a = await join({ create: true }, handshakeFactory('split', made));
    const b = await join({ roomId: a.mesh.roomId }, handshakeFactory('split', made));
    await Promise.all([a.mesh.waitForSize(2, 5000), b.mesh.waitForSize(2, 5000)]);
    const [initiator, answerer] = a.mesh.selfId < b.mesh.selfId ? [a, b] : [b, a];
    const left: string[] = [];
    answerer.mesh.on('peer-left', ({ reason }) => left.push(reason.message));
    // The initiator's offers for a new link, as a restart sends them, in either order. (The restart
    // closes the answerer's old link, so the initiator retries with a link of its own as well.)
    const offer = (connection: string) => initiator.mesh.signaling.sendSignal(answerer.mesh.selfId, { type: 'offer', sdp: 'memory', connection });
    for (const order of [['stats', 'bulk'], ['bulk', 'stats']]) {
      const before = left.length;
      for (const connection of order) offer(connection);
      await expect.poll(() => left.length > before, { timeout: 5000 }).toBe(true);
      expect(left[before]).toBe(`peer ${initiator.mesh.selfId} restarted its link`);
      await expect.poll(() => [a, b].every((m) => m.mesh.group.size === 2 && m.mesh.group.epoch === a.mesh.group.epoch), { timeout: 5000 }).toBe(true);
      const sums = await Promise.all([a, b].map((m) => m.mesh.group.allReduce(new Float32Array([1]))));
      for (const sum of sums) expect([...sum]).toEqual([2]);
    }
    // Every link the answerer made took both offers of one pair: none began at the second offer.
    const answererLinks = made.filter((link) => link.selfId === answerer.mesh.selfId);
    expect(answererLinks.length).toBeGreaterThanOrEqual(3);
    for (const link of answererLinks) expect([...link.offers].sort()).toEqual(['bulk', 'stats']);
    expect(answerer.errors).toEqual([]);
  });
});
