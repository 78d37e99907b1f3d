/**
 * Mesh logic in Node: real signaling server (src/server/) on an ephemeral port, the `ws` client as the
 * WebSocket, in-memory links instead of WebRTC. Membership, ranks, epochs, leave, room full.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { attachSignaling } from '../../src/server/signaling.ts';
import { Mesh, roomFromLink, type MeshOptions } from '../../src/mesh/mesh.ts';
import { MemoryLinkHub } from '../../src/mesh/memory-link.ts';
import { MeshError } from '../../src/mesh/types.ts';
import type { WebSocketCtor } from '../../src/mesh/signaling-client.ts';

let server: http.Server;
let close: () => void;
let url: string;
let hub: MemoryLinkHub;
const meshes: Mesh[] = [];

async function start(maxPeersPerRoom = 16): Promise<void> {
  server = http.createServer();
  const handle = attachSignaling(server, { maxPeersPerRoom });
  close = () => handle.close();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/signal`;
}

function join(room: MeshOptions['room']): Promise<Mesh> {
  return Mesh.join({ room, signalingUrl: url, WebSocket: WebSocket as unknown as WebSocketCtor, linkFactory: hub.factory, heartbeatIntervalMs: 0 }).then((m) => {
    meshes.push(m);
    return m;
  });
}

describe('Mesh (signaling server + in-memory links)', () => {
  beforeEach(async () => {
    hub = new MemoryLinkHub();
    await start();
  });
  afterEach(async () => {
    for (const m of meshes.splice(0)) m.destroy();
    close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('three peers form one group: same epoch and member order everywhere, ranks by join order', async () => {
    const first = await join({ create: true });
    expect(first.group.size).toBe(1);
    const link = first.roomLink('http://example.test/app/?x=1');
    expect(roomFromLink(link)).toEqual({ roomId: first.roomId });
    const second = await join(roomFromLink(link));
    const third = await join(roomFromLink(link));
    const groups = await Promise.all([first, second, third].map((m) => m.waitForSize(3, 5000)));
    expect(groups.map((g) => g.rank)).toEqual([0, 1, 2]);
    expect(new Set(groups.map((g) => g.epoch)).size).toBe(1);
    expect(new Set([first, second, third].map((m) => m.members.map((x) => x.id).join())).size).toBe(1);
    const sums = await Promise.all(groups.map((g, r) => g.allReduce(new Float32Array([r, 1]))));
    for (const s of sums) expect([...s]).toEqual([3, 3]);
    expect(third.roomMemberList.map((m) => m.id)).toEqual([first, second, third].map((m) => m.selfId));
  });

  it('a joiner sees the config stored in the room before it joined', async () => {
    const first = await join({ create: true });
    first.setConfig({ steps: 12, mode: 'shuffle' });
    await expect.poll(() => first.roomConfig?.config).toEqual({ steps: 12, mode: 'shuffle' });
    const second = await join({ roomId: first.roomId });
    expect(second.roomConfig?.config).toEqual({ steps: 12, mode: 'shuffle' });
  });

  it('a peer leaving: in-flight collectives fail with ERR_PEER_LEFT naming it, then a smaller epoch forms', async () => {
    const a = await join({ create: true });
    const b = await join({ roomId: a.roomId });
    const c = await join({ roomId: a.roomId });
    const groups = await Promise.all([a, b, c].map((m) => m.waitForSize(3, 5000)));
    const oldEpoch = groups[0]!.epoch;
    const left: string[] = [];
    a.on('peer-left', ({ peerId, reason }) => left.push(`${peerId} ${reason.code}`));
    const nextA = new Promise<{ size: number; epoch: number }>((resolve) => a.on('membership', ({ group }) => resolve(group)));
    const inFlight = [groups[0]!, groups[1]!].map((g) => g.allReduce(new Float32Array(8)).then(() => null, (e: unknown) => e));
    c.destroy();
    for (const err of await Promise.all(inFlight)) {
      expect(err).toBeInstanceOf(MeshError);
      expect((err as MeshError).code).toBe('ERR_PEER_LEFT');
      expect((err as MeshError).peerId).toBe(c.selfId);
    }
    const after = await nextA;
    expect(after.size).toBe(2);
    expect(after.epoch).not.toBe(oldEpoch);
    expect(left[0]).toContain(c.selfId);
    // Both settle on one new epoch (it may be a later one than a's first: an epoch formed before, such
    // as this pair's while c was connecting, is never formed again, and the server's next one is used).
    await expect.poll(() => a.group.size === 2 && a.group.epoch === b.group.epoch && a.group.epoch !== oldEpoch, { timeout: 5000 }).toBe(true);
    const sums = await Promise.all([a.group, b.group].map((g) => g.allReduce(new Float32Array([2]))));
    for (const s of sums) expect([...s]).toEqual([4]);
  });

  it('a dropped link (peer still in the room) is reported, shrinks the group, and is re-established', async () => {
    const a = await join({ create: true });
    const b = await join({ roomId: a.roomId });
    const c = await join({ roomId: a.roomId });
    const full = await Promise.all([a, b, c].map((m) => m.waitForSize(3, 5000)));
    const left: string[] = [];
    c.on('peer-left', ({ peerId }) => left.push(peerId));
    const sizes: number[] = [];
    c.on('membership', ({ group }) => sizes.push(group.size));
    const inFlight = full[2]!.allReduce(new Float32Array(4)).then(() => null, (e: unknown) => e);
    hub.cut(b.selfId, c.selfId);
    expect(((await inFlight) as MeshError).code).toBe('ERR_PEER_LEFT');
    expect(left).toEqual([b.selfId]);
    // The initiator retries after LINK_RETRY_DELAY_MS and bumps the room's epoch: all three re-form together.
    const meshesABC = [a, b, c];
    await expect
      .poll(() => meshesABC.every((m) => m.group.size === 3 && m.group.epoch === meshesABC[0]!.group.epoch && m.group.epoch !== full[0]!.epoch), { timeout: 5000 })
      .toBe(true);
    const again = meshesABC.map((m) => m.group);
    expect(sizes).toContain(2);
    expect(new Set(again.map((g) => g.epoch)).size).toBe(1);
    const sums = await Promise.all(again.map((g) => g.allReduce(new Float32Array([1]))));
    for (const s of sums) expect([...s]).toEqual([3]);
  });

  it('links survive a signaling outage; the client resumes its peer id and the group is unchanged', async () => {
    const sockets = new Set<import('node:net').Socket>();
    server.on('connection', (socket) => sockets.add(socket));
    const a = await join({ create: true });
    const b = await join({ roomId: a.roomId });
    const before = await Promise.all([a, b].map((m) => m.waitForSize(2, 5000)));
    const reconnected = Promise.all([a, b].map((m) => new Promise<void>((resolve) => {
      const off = m.signaling.on('state', (state) => {
        if (state === 'open') {
          off();
          resolve();
        }
      });
    })));
    let epochChanges = 0;
    for (const m of [a, b]) m.on('membership', () => epochChanges++);
    for (const socket of sockets) socket.destroy(); // every signaling connection drops at once
    // While signaling is down the data path still works.
    const during = await Promise.all(before.map((g) => g.allReduce(new Float32Array([1]))));
    for (const s of during) expect([...s]).toEqual([2]);
    await reconnected;
    expect(a.signaling.peerId).toBe(a.selfId);
    expect(b.signaling.peerId).toBe(b.selfId);
    expect(a.group).toBe(before[0]);
    expect(epochChanges).toBe(0);
    const after = await Promise.all([a.group, b.group].map((g) => g.allReduce(new Float32Array([3]))));
    for (const s of after) expect([...s]).toEqual([6]);
  });

  it('a full room refuses with ERR_ROOM_FULL; an unknown room with ERR_ROOM_NOT_FOUND', async () => {
    close();
    await new Promise((resolve) => server.close(resolve));
    await start(2);
    const a = await join({ create: true });
    await join({ roomId: a.roomId });
    await expect(join({ roomId: a.roomId })).rejects.toMatchObject({ code: 'ERR_ROOM_FULL' });
    await expect(join({ roomId: 'Z'.repeat(22) })).rejects.toMatchObject({ code: 'ERR_ROOM_NOT_FOUND' });
  });
});
