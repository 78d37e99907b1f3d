/** Rooms, relay and config: the signaling server's behaviour with well-formed clients. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RoomId } from '../../src/signaling/protocol.ts';
import { startTestServer, TestClient, type TestServer } from './helpers.ts';

let server: TestServer;
const clients: TestClient[] = [];

async function client(): Promise<TestClient> {
  const c = await TestClient.connect(server.url);
  clients.push(c);
  return c;
}

beforeEach(async () => {
  server = await startTestServer();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.close();
});

const OFFER = { type: 'offer', sdp: 'v=0\r\n' };

describe('rooms', () => {
  it('creates rooms with distinct 128-bit base64url ids and welcomes the creator as rank 0', async () => {
    const a = await client();
    const b = await client();
    const wa = await a.create({ name: 'alpha' });
    const wb = await b.create();
    expect(RoomId.safeParse(wa.roomId).success).toBe(true);
    // The id decodes to at least 16 bytes (128 bits).
    const decoded = atob(wa.roomId.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (wa.roomId.length % 4)) % 4));
    expect(decoded.length).toBeGreaterThanOrEqual(16);
    expect(wa.roomId).not.toBe(wb.roomId);
    expect(wa).toMatchObject({ version: 1, iceServers: [], limits: { maxPeersPerRoom: 16 } });
    expect(server.signaling.stats()).toMatchObject({ rooms: 2, members: 2, connections: 2 });
  });

  it('hands out the configured ICE servers in welcome', async () => {
    await server.close();
    const iceServers = [{ urls: 'stun:stun.test:3478' }, { urls: ['turn:turn.test'], username: 'u', credential: 'p' }];
    server = await startTestServer({ iceServers });
    const a = await client();
    expect((await a.create()).iceServers).toEqual(iceServers);
  });

  it('keeps join order as rank, bumps the epoch on each change and renumbers after a leave', async () => {
    const [a, b, c] = [await client(), await client(), await client()];
    const { roomId, peerId: idA } = await a.create();
    const { peerId: idB } = await b.join(roomId, { meta: { name: 'b' } });
    const { peerId: idC } = await c.join(roomId);
    const seen = await c.next('members');
    expect(seen.members.map((m) => [m.id, m.rank])).toEqual([[idA, 0], [idB, 1], [idC, 2]]);
    expect(seen.members[1]!.meta).toEqual({ name: 'b' });

    b.send({ type: 'leave' });
    const after = await c.next('members');
    expect(after.epoch).toBeGreaterThan(seen.epoch);
    expect(after.members.map((m) => [m.id, m.rank])).toEqual([[idA, 0], [idC, 1]]);

    c.send({ type: 'meta', meta: { name: 'charlie', backend: 'cpu', virtualWorkers: 2 } });
    const withMeta = await c.next('members');
    expect(withMeta.epoch).toBeGreaterThan(after.epoch);
    expect(withMeta.members[1]).toEqual({ id: idC, rank: 1, meta: { name: 'charlie', backend: 'cpu', virtualWorkers: 2 } });
  });

  it('refuses an unknown room id with ERR_ROOM_NOT_FOUND and a readable message', async () => {
    const a = await client();
    a.send({ type: 'join', roomId: 'A'.repeat(22) });
    const err = await a.next('error');
    expect(err.code).toBe('ERR_ROOM_NOT_FOUND');
    expect(err.message).toMatch(/room link is not known.*new link/);
    expect(server.signaling.stats().rooms).toBe(0);
  });

  it('refuses the 17th peer with ERR_ROOM_FULL and admits one again after a leave', async () => {
    const first = await client();
    const { roomId } = await first.create();
    for (let i = 1; i < 16; i++) await (await client()).join(roomId);
    const late = await client();
    late.send({ type: 'join', roomId });
    expect((await late.next('error')).code).toBe('ERR_ROOM_FULL');
    expect(server.signaling.stats().members).toBe(16);
    first.send({ type: 'leave' });
    const welcome = await late.join(roomId);
    expect(welcome.roomId).toBe(roomId);
    expect(server.signaling.stats().members).toBe(16);
  });

  it('relays a signal only within a room: a peer of another room is unknown and gets nothing', async () => {
    const [a, b, intruder] = [await client(), await client(), await client()];
    const { roomId, peerId: idA } = await a.create();
    const { peerId: idB } = await b.join(roomId);
    const { peerId: idIntruder } = await intruder.create();
    intruder.send({ type: 'signal', to: idB, data: OFFER });
    const err = await intruder.next('error');
    expect(err.code).toBe('ERR_UNKNOWN_PEER');
    // The refusal was processed before this legitimate signal, so b's next signal must be a's.
    a.send({ type: 'signal', to: idB, data: { type: 'answer', sdp: 'from-a' } });
    const got = await b.next('signal');
    expect(got.data).toEqual({ type: 'answer', sdp: 'from-a' });
    expect(got.from).toBe(idA);
    expect(got.from).not.toBe(idIntruder);
    expect(b.messages.some((m) => m.type === 'signal')).toBe(false);
  });

  it('stamps `from` itself: a client-supplied from is ignored, unknown fields are dropped', async () => {
    const [a, b] = [await client(), await client()];
    const { roomId, peerId: idA } = await a.create();
    const { peerId: idB } = await b.join(roomId);
    a.send({ type: 'signal', to: idB, from: idB, evil: 1, data: { ...OFFER, extra: 'x'.repeat(100) } });
    const got = await b.next('signal');
    expect(got).toEqual({ type: 'signal', from: idA, data: OFFER });
  });

  it('relays the connection a split link names, and refuses one it does not know', async () => {
    const [a, b] = [await client(), await client()];
    const { roomId, peerId: idA } = await a.create();
    const { peerId: idB } = await b.join(roomId);
    a.send({ type: 'signal', to: idB, data: { ...OFFER, connection: 'stats' } });
    expect(await b.next('signal')).toEqual({ type: 'signal', from: idA, data: { ...OFFER, connection: 'stats' } });
    a.send({ type: 'signal', to: idB, data: { ...OFFER, connection: 'video' } });
    expect((await a.next('error')).code).toBe('ERR_BAD_MESSAGE');
  });

  it('refuses a signal to oneself and signals before joining', async () => {
    const a = await client();
    a.send({ type: 'signal', to: 'abcdefghijkl', data: OFFER });
    expect((await a.next('error')).code).toBe('ERR_NOT_IN_ROOM');
    const { peerId } = await a.create();
    a.send({ type: 'signal', to: peerId, data: OFFER });
    expect((await a.next('error')).code).toBe('ERR_UNKNOWN_PEER');
  });

  it('refuses create/join while in a room', async () => {
    const a = await client();
    const { roomId } = await a.create();
    a.send({ type: 'join', roomId });
    expect((await a.next('error')).code).toBe('ERR_ALREADY_IN_ROOM');
    a.send({ type: 'create' });
    expect((await a.next('error')).code).toBe('ERR_ALREADY_IN_ROOM');
  });

  it('broadcasts config to the room, keeps the latest and sends it to a new joiner after welcome', async () => {
    const [a, b, c, other] = [await client(), await client(), await client(), await client()];
    const { roomId, peerId: idA } = await a.create();
    await b.join(roomId);
    await other.create();
    a.send({ type: 'config', config: { lr: 0.1, batch: 32 } });
    expect(await b.next('config')).toEqual({ type: 'config', from: idA, config: { lr: 0.1, batch: 32 } });
    expect(await a.next('config')).toEqual({ type: 'config', from: idA, config: { lr: 0.1, batch: 32 } });
    b.send({ type: 'config', config: { lr: 0.05, shuffle: true } });
    const latest = await a.next('config');
    expect(latest.config).toEqual({ lr: 0.05, shuffle: true });

    c.send({ type: 'join', roomId });
    const order = [await c.next(), await c.next(), await c.next()].map((m) => m.type);
    expect(order).toEqual(['welcome', 'members', 'config']);
    expect(other.messages.some((m) => m.type === 'config')).toBe(false);
  });

  it('frees a room when its last member leaves or disconnects cleanly', async () => {
    const [a, b] = [await client(), await client()];
    const { roomId } = await a.create();
    await b.join(roomId);
    a.send({ type: 'leave' });
    await b.next('members');
    await b.next('members');
    await b.close();
    await a.create();
    expect(server.signaling.stats()).toMatchObject({ rooms: 1, members: 1, seatsInGrace: 0 });
    const probe = await client();
    probe.send({ type: 'join', roomId });
    expect((await probe.next('error')).code).toBe('ERR_ROOM_NOT_FOUND');
  });
});
