/** Heartbeat, resume after a dropped socket, server restart, and no leaks over 1000 join/leave cycles. */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTimers, startTestServer, TestClient, waitFor, type TestServer } from './helpers.ts';

const servers: TestServer[] = [];
const clients: TestClient[] = [];

async function serve(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  servers.push(s);
  return s;
}

async function connect(server: TestServer, options = {}): Promise<TestClient> {
  const c = await TestClient.connect(server.url, options);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const GRACE_MS = 1_000;

describe('heartbeat', () => {
  it('terminates a socket that stops answering pings; its peer leaves after the grace period', async () => {
    const server = await serve({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 400, resumeGraceMs: 100 });
    const silent = await connect(server, { autoPong: false });
    const alive = await connect(server);
    const { roomId } = await silent.create();
    const { peerId: aliveId } = await alive.join(roomId);
    await alive.next('members');
    expect(await silent.closed).toBe(1006); // terminated: no close frame
    const after = await alive.next('members');
    expect(after.members).toEqual([{ id: aliveId, rank: 0, meta: {} }]);
    expect(alive.closeCode).toBeNull();
    expect(server.signaling.stats()).toMatchObject({ rooms: 1, members: 1, connections: 1, pendingTimers: 0 });
  });

  it('uses the injected clock: silence is measured on it, activity resets it', async () => {
    const timers = new ManualTimers();
    // Grace shorter than the ping interval, so b (silent from t=200) is not itself timed out while a's grace runs.
    const server = await serve({ timers, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 250, resumeGraceMs: 50 });
    const [a, b] = [await connect(server, { autoPong: false }), await connect(server, { autoPong: false })];
    const { roomId } = await a.create();
    const { peerId: idB } = await b.join(roomId);
    await a.membersWhere((l) => l.members.length === 2);
    timers.advance(200); // two pings, both still within the timeout
    b.send({ type: 'config', config: { active: 'b' } }); // b is active at t=200
    expect((await a.next('config')).config).toEqual({ active: 'b' });
    timers.advance(100); // t=300: a silent for 300 > 250, b for 100
    expect(await a.closed).toBe(1006);
    await waitFor(() => server.signaling.stats().seatsInGrace === 1, 'a in grace');
    expect(b.closeCode).toBeNull();
    timers.advance(50);
    const after = await b.membersWhere((l) => l.members.length === 1);
    expect(after.members.map((m) => m.id)).toEqual([idB]);
    expect(server.signaling.stats()).toMatchObject({ members: 1, pendingTimers: 0 });
  });
});

describe('resume', () => {
  async function roomOfThree(server: TestServer) {
    const [a, b, c] = [await connect(server), await connect(server), await connect(server)];
    const { roomId, peerId: idA } = await a.create();
    const { peerId: idB, resumeToken: tokenB } = await b.join(roomId);
    const { peerId: idC } = await c.join(roomId);
    for (const x of [a, b, c]) await x.membersWhere((l) => l.members.length === 3);
    return { a, b, c, roomId, idA, idB, idC, tokenB };
  }

  it('keeps id and rank for a peer that rejoins within the grace period, without disturbing the others', async () => {
    const timers = new ManualTimers();
    const server = await serve({ timers, resumeGraceMs: GRACE_MS });
    const { a, b, c, roomId, idA, idB, idC, tokenB } = await roomOfThree(server);
    b.ws.terminate(); // the network vanished: no close frame
    await waitFor(() => server.signaling.stats().seatsInGrace === 1, 'b in grace');
    a.send({ type: 'signal', to: idB, data: { type: 'offer', sdp: 'lost' } });
    expect((await a.next('error')).code).toBe('ERR_UNKNOWN_PEER');

    timers.advance(GRACE_MS - 1);
    const b2 = await connect(server);
    const welcome = await b2.join(roomId, { resumePeerId: idB, resumeToken: tokenB, meta: {} });
    expect(welcome.peerId).toBe(idB);
    const list = await b2.next('members');
    expect(list.members.map((m) => [m.id, m.rank])).toEqual([[idA, 0], [idB, 1], [idC, 2]]);
    expect(server.signaling.stats()).toMatchObject({ seatsInGrace: 0, pendingTimers: 0, members: 3 });

    // Nothing changed for a and c: their next message is this signal, not a member list.
    c.send({ type: 'signal', to: idA, data: { type: 'answer', sdp: 'marker' } });
    expect((await a.next()).type).toBe('signal');
    a.send({ type: 'signal', to: idB, data: { type: 'offer', sdp: 'found' } });
    expect(await b2.next('signal')).toEqual({ type: 'signal', from: idA, data: { type: 'offer', sdp: 'found' } });
    timers.advance(GRACE_MS * 2); // the cancelled grace timer must not remove the resumed seat
    c.send({ type: 'signal', to: idB, data: { type: 'answer', sdp: 'still' } });
    expect((await b2.next('signal')).from).toBe(idC);
  });

  it('drops the seat when the grace period ends; a late resume gets its id back but the last rank', async () => {
    const timers = new ManualTimers();
    const server = await serve({ timers, resumeGraceMs: GRACE_MS });
    const { a, b, roomId, idA, idB, idC, tokenB } = await roomOfThree(server);
    b.ws.terminate();
    await waitFor(() => server.signaling.stats().seatsInGrace === 1, 'b in grace');
    timers.advance(GRACE_MS);
    const after = await a.next('members');
    expect(after.members.map((m) => [m.id, m.rank])).toEqual([[idA, 0], [idC, 1]]);
    const b2 = await connect(server);
    expect((await b2.join(roomId, { resumePeerId: idB, resumeToken: tokenB })).peerId).toBe(idB);
    expect((await b2.next('members')).members.map((m) => m.id)).toEqual([idA, idC, idB]);
  });

  it('moves a live seat to a newer socket and closes the old one with 4000', async () => {
    const server = await serve();
    const { b, roomId, idB, tokenB } = await roomOfThree(server);
    const b2 = await connect(server);
    expect((await b2.join(roomId, { resumePeerId: idB, resumeToken: tokenB })).peerId).toBe(idB);
    expect(await b.closed).toBe(4000);
    await waitFor(() => server.signaling.stats().connections === 3, 'old socket gone');
    expect(server.signaling.stats()).toMatchObject({ members: 3, seatsInGrace: 0, connections: 3 });
  });

  it('a clean close (1001, tab closed) leaves at once, without a grace period', async () => {
    const server = await serve();
    const { a, b, idA, idC } = await roomOfThree(server);
    await b.close(1001);
    expect((await a.next('members')).members.map((m) => m.id)).toEqual([idA, idC]);
    expect(server.signaling.stats().pendingTimers).toBe(0);
  });

  it('recreates a room after a server restart (same key) for members with tokens, in their old rank order', async () => {
    const resumeKey = new Uint8Array(32).fill(7);
    const first = await serve({ resumeKey });
    const [a, b, c] = [await connect(first), await connect(first), await connect(first)];
    const { roomId, peerId: idA, resumeToken: tokenA } = await a.create();
    const { peerId: idB, resumeToken: tokenB } = await b.join(roomId);
    const { peerId: idC, resumeToken: tokenC } = await c.join(roomId);
    await first.close();
    const second = await serve({ resumeKey });
    const stranger = await connect(second);
    stranger.send({ type: 'join', roomId, resumePeerId: idA }); // an id without its token proves nothing
    expect((await stranger.next('error')).code).toBe('ERR_ROOM_NOT_FOUND');
    const [c2, a2, b2] = [await connect(second), await connect(second), await connect(second)];
    expect(await c2.join(roomId, { resumePeerId: idC, resumeToken: tokenC })).toMatchObject({ roomId, peerId: idC });
    expect(await a2.join(roomId, { resumePeerId: idA, resumeToken: tokenA })).toMatchObject({ roomId, peerId: idA });
    expect(await b2.join(roomId, { resumePeerId: idB, resumeToken: tokenB })).toMatchObject({ roomId, peerId: idB });
    // They came back as c, a, b; the ranks are the old ones.
    const list = await c2.membersWhere((l) => l.members.length === 3);
    expect(list.members.map((m) => [m.id, m.rank])).toEqual([[idA, 0], [idB, 1], [idC, 2]]);
    // A server with another key (the key file was deleted) does not honour the old tokens.
    const third = await serve();
    const late = await connect(third);
    late.send({ type: 'join', roomId, resumePeerId: idA, resumeToken: tokenA });
    expect((await late.next('error')).code).toBe('ERR_ROOM_NOT_FOUND');
  });
  it('after the restore window a returning member takes the last rank (the others went on without it)', async () => {
    const resumeKey = new Uint8Array(32).fill(9);
    const first = await serve({ resumeKey });
    const [a, c] = [await connect(first), await connect(first)];
    const { roomId, peerId: idA, resumeToken: tokenA } = await a.create();
    const { peerId: idC, resumeToken: tokenC } = await c.join(roomId);
    await first.close();
    const timers = new ManualTimers();
    const second = await serve({ resumeKey, timers, roomRestoreMs: 30_000, joinDeadlineMs: 60_000 });
    const c2 = await connect(second);
    await c2.join(roomId, { resumePeerId: idC, resumeToken: tokenC });
    timers.advance(30_000);
    const a2 = await connect(second);
    expect((await a2.join(roomId, { resumePeerId: idA, resumeToken: tokenA })).peerId).toBe(idA);
    expect((await c2.membersWhere((l) => l.members.length === 2)).members.map((m) => m.id)).toEqual([idC, idA]);
  });
});

describe('no leaks', () => {
  it('returns to its baseline after 1000 join/leave cycles of every kind', async () => {
    const timers = new ManualTimers();
    // The join deadline outlasts the 13 s this test's clock runs: the reuser idles outside a room meanwhile.
    const server = await serve({ timers, resumeGraceMs: GRACE_MS, joinDeadlineMs: 60_000 });
    const httpServer = server.http;
    const upgradeListeners = httpServer.listenerCount('upgrade');
    const listenerCounts = () => Object.fromEntries(httpServer.eventNames().map((e) => [String(e), httpServer.listenerCount(e)]));
    const baseline = listenerCounts();
    const holder = await connect(server);
    const { roomId, peerId: holderId } = await holder.create();

    for (let i = 0; i < 400; i++) {
      const c = await TestClient.connect(server.url); // join, then close the socket cleanly
      await c.join(roomId);
      await c.close(i % 2 ? 1000 : 1001);
    }
    const reuser = await connect(server);
    for (let i = 0; i < 300; i++) {
      await reuser.join(roomId); // join and leave on one socket
      reuser.send({ type: 'leave' });
      timers.advance(10); // 2 messages per 10 ms stays within the rate limit
    }
    for (let i = 0; i < 200; i++) {
      const c = await TestClient.connect(server.url); // a room of one, freed on close
      await c.create();
      await c.close();
    }
    for (let batch = 0; batch < 10; batch++) {
      const dropped: TestClient[] = [];
      for (let i = 0; i < 10; i++) {
        const c = await TestClient.connect(server.url); // abrupt drops: seats wait out the grace period
        await c.join(roomId);
        c.ws.terminate();
        dropped.push(c);
      }
      await Promise.all(dropped.map((c) => c.closed));
      await waitFor(() => server.signaling.stats().pendingTimers === 10, 'grace timers started');
      timers.advance(GRACE_MS);
    }
    await waitFor(() => server.signaling.stats().connections === 2, 'sockets closed');

    expect(server.signaling.stats()).toMatchObject({
      rooms: 1, members: 1, seatsInGrace: 0, connections: 2, wsClients: 2, pendingTimers: 0, acceptedTotal: 702,
    });
    const { peerId: reuserId } = await reuser.join(roomId);
    const list = await holder.membersWhere((l) => l.members.some((m) => m.id === reuserId));
    expect(list.members.map((m) => m.rank)).toEqual([0, 1]);
    expect(list.members[0]!.id).toBe(holderId);
    expect(timers.size).toBe(1); // the heartbeat interval only
    expect(httpServer.listenerCount('upgrade')).toBe(upgradeListeners);
    expect(listenerCounts()).toEqual(baseline);

    server.signaling.close();
    server.signaling.close(); // idempotent
    expect(httpServer.listenerCount('upgrade')).toBe(upgradeListeners - 1);
    expect(timers.size).toBe(0);
    expect(server.signaling.stats()).toMatchObject({ rooms: 0, connections: 0, pendingTimers: 0 });
  });
});
