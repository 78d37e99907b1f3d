/**
 * The attacks of issue 10 from inside a room, or from someone holding its link: receivers that stop
 * reading, seat taking, epoch churn, and loose transceiverRequest payloads. Bounded, against a real
 * server on 127.0.0.1; the rest of the room keeps working and memory comes back (attack-helpers.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ATTACKER, expectMemoryBack, from, LEGIT, TestPool } from './attack-helpers.ts';
import { ManualTimers, memoryInUse, TestClient, type TestServer } from './helpers.ts';

const pool = new TestPool();
const { serve, connect, legitimateUse } = pool;
afterEach(() => pool.closeAll());

/** A room of `n` legitimate members; the creator first. */
async function roomOf(server: TestServer, n: number) {
  const members: TestClient[] = [];
  const welcomes: Awaited<ReturnType<TestClient['create']>>[] = [];
  for (let i = 0; i < n; i++) {
    const c = await connect(server);
    welcomes.push(i === 0 ? await c.create() : await c.join(welcomes[0]!.roomId));
    members.push(c);
  }
  // The creator's first list came with create(); every other list ends at n members.
  if (n > 1) for (const c of members) await c.membersWhere((l) => l.members.length === n);
  return { members, welcomes, roomId: welcomes[0]!.roomId, ids: welcomes.map((w) => w.peerId) };
}

describe('slow readers (issue: relaying to 4 stalled members grew the server by 44 MB, never released)', () => {
  it('terminates a receiver past maxBufferedBytes; its peers see it leave; sender and room carry on', async () => {
    const maxBufferedBytes = 256 * 1024;
    // The sender's rate limit is raised so that it, not the limiter, is what the server must withstand.
    const server = await serve({ maxBufferedBytes, messagesPerSecond: 1e6, messageBurst: 1e6 });
    await legitimateUse(server); // warms up the code paths, so their one-time allocations are not counted
    const before = await memoryInUse();
    const sender = await connect(server);
    const { roomId, peerId: senderId } = await sender.create();
    const reader = await connect(server);
    const { peerId: readerId } = await reader.join(roomId);
    const stalled: TestClient[] = [];
    const stalledIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await TestClient.connect(server.url, from(LEGIT)); // not in the pool: closed by hand below
      stalledIds.push((await c.join(roomId)).peerId);
      stalled.push(c);
    }
    await sender.membersWhere((l) => l.members.length === 6);
    // The four stop reading: their TCP receive windows fill, then the server's send queues grow.
    for (const c of stalled) (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();

    const sdp = 's'.repeat(60_000);
    const MAX_SENT_BYTES = 4 * 16 * 1024 * 1024; // bound on the attack: 16 MB per stalled member
    let sentBytes = 0;
    let peak = 0;
    let peakQueue = 0;
    for (let round = 0; server.signaling.stats().evictedTotal < 4 && sentBytes < MAX_SENT_BYTES; round++) {
      for (const to of stalledIds) sender.send({ type: 'signal', to, data: { type: 'offer', sdp } });
      sentBytes += 4 * sdp.length;
      // Let the server read and relay (client and server share this process).
      if (round % 8 === 7) await new Promise((r) => setTimeout(r, 1));
      if (round === 40) peak = await memoryInUse(); // ~10 MB in, mid-attack
      peakQueue = Math.max(peakQueue, server.signaling.stats().maxQueuedBytes);
    }
    // The sender's last messages may still be on their way through the server: let it drain them
    // (bounded) before counting, sampling its send queues meanwhile.
    for (let waited = 0; server.signaling.stats().evictedTotal < 4 && waited < 10_000; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
      peakQueue = Math.max(peakQueue, server.signaling.stats().maxQueuedBytes);
    }
    console.log(`[relay] ${(sentBytes / 2 ** 20).toFixed(1)} MB relayed before all 4 stalled receivers were closed; largest server send queue ${(peakQueue / 1024).toFixed(0)} KiB`);
    expect(server.signaling.stats().evictedTotal).toBe(4);
    // What the server held for one socket never passed the bound (the kernel's buffers come on top).
    expect(peakQueue).toBeLessThanOrEqual(maxBufferedBytes);
    // The reader sees them leave at once (no grace period); sender and reader still talk both ways.
    const list = await reader.membersWhere((l) => l.members.length === 2);
    expect(list.members.map((m) => m.id)).toEqual([senderId, readerId]);
    sender.send({ type: 'signal', to: readerId, data: { type: 'offer', sdp: 'still here' } });
    expect((await reader.next('signal')).data).toEqual({ type: 'offer', sdp: 'still here' });
    reader.send({ type: 'signal', to: senderId, data: { type: 'answer', sdp: 'me too' } });
    expect((await sender.next('signal')).from).toBe(readerId);
    expect(sender.closeCode).toBeNull();
    await legitimateUse(server);
    expect(server.signaling.stats()).toMatchObject({ members: 2, seatsInGrace: 0 });
    for (const c of stalled) c.ws.terminate();
    stalled.length = 0;
    await expectMemoryBack(`4 stalled readers, ${(sentBytes / 2 ** 20).toFixed(0)} MB relayed`, before, peak);
  });
});

describe('seat taking (issue: resumePeerId alone took a member\'s seat, or made up a room)', () => {
  it('a resume without the seat\'s token gets a fresh id at the last rank; the member is untouched', async () => {
    const server = await serve({});
    const { members: [a, b], roomId, ids: [idA, idB], welcomes } = await roomOf(server, 2);
    const tokenA = welcomes[0]!.resumeToken;
    const flipped = tokenA.slice(0, -1) + (tokenA.endsWith('A') ? 'B' : 'A');
    const strangers = await Promise.all([0, 1, 2, 3].map(() => connect(server, ATTACKER)));
    const { resumeToken: ownToken } = await strangers[0]!.join(roomId);
    const attempts = [
      { resumePeerId: idA }, // no token
      { resumePeerId: idA, resumeToken: flipped }, // a's token, one character changed
      { resumePeerId: idA, resumeToken: ownToken }, // a valid token, but for another seat
    ];
    const strangerIds: string[] = [];
    for (const [i, attempt] of attempts.entries()) {
      const w = await strangers[i + 1]!.join(roomId, attempt);
      strangerIds.push(w.peerId);
      expect(w.peerId).not.toBe(idA);
      const list = await strangers[i + 1]!.next('members');
      expect(list.members.at(-1)).toMatchObject({ id: w.peerId, rank: 2 + i + 1 });
      expect(list.members.slice(0, 2).map((m) => m.id)).toEqual([idA, idB]);
    }
    // a keeps its socket and its signals; a stranger's offer arrives under the stranger's own id.
    b.send({ type: 'signal', to: idA, data: { type: 'offer', sdp: 'for a' } });
    expect((await a.next('signal')).data).toEqual({ type: 'offer', sdp: 'for a' });
    expect(a.closeCode).toBeNull();
    strangers[1]!.send({ type: 'signal', to: idB, data: { type: 'offer', sdp: 'x' } });
    expect((await b.next('signal')).from).toBe(strangerIds[0]);
    // The real token still works (control).
    const a2 = await connect(server);
    expect((await a2.join(roomId, { resumePeerId: idA, resumeToken: tokenA })).peerId).toBe(idA);
    expect(await a.closed).toBe(4000);
  });

  it('a resume for an unknown room without a valid token is refused and creates nothing', async () => {
    const server = await serve({});
    const before = await memoryInUse();
    const { welcomes } = await roomOf(server, 1);
    const { resumeToken } = welcomes[0]!;
    for (let i = 0; i < 100; i++) {
      const c = await connect(server, ATTACKER);
      const roomId = `${'R'.repeat(20)}${String(i).padStart(2, '0')}`;
      c.send({ type: 'join', roomId, resumePeerId: 'chosen-id-0', resumeToken: i % 2 ? resumeToken : `0.${'A'.repeat(43)}` });
      expect(await c.next()).toMatchObject({ type: 'error', code: 'ERR_ROOM_NOT_FOUND' });
      await c.close();
    }
    expect(server.signaling.stats()).toMatchObject({ rooms: 1, members: 1 });
    await legitimateUse(server);
    await expectMemoryBack('100 made-up resumes', before, before);
  });
});

describe('epoch churn (issue: 50 meta messages made 50 epochs)', () => {
  it('coalesces a burst of meta into one epoch, at most one per metaEpochIntervalMs; joins are not delayed', async () => {
    const timers = new ManualTimers();
    const server = await serve({ timers, metaSettleMs: 250, metaEpochIntervalMs: 2_000 });
    const { members, ids, roomId } = await roomOf(server, 4);
    const [a, b, c, d] = members as [TestClient, TestClient, TestClient, TestClient];
    const epochOf = async (client: TestClient) => (await client.next('members')).epoch;
    let marker = 0;
    const flush = async (client: TestClient) => {
      // Messages are handled in order: once this config's echo is back, every meta before it was handled.
      const mine = ++marker;
      client.send({ type: 'config', config: { marker: mine } });
      while ((await client.next('config')).config.marker !== mine);
    };
    for (const m of members) m.drain('members');
    // The burst: every tab reports new settings at once, and one tab sends 50 metas.
    for (const [i, m] of members.entries()) m.send({ type: 'meta', meta: { virtualWorkers: 2, name: `tab${i}` } });
    for (let i = 0; i < 50; i++) d.send({ type: 'meta', meta: { virtualWorkers: 1 + (i % 4), name: 'tab3' } });
    for (const m of members) await flush(m);
    expect(a.messages.filter((m) => m.type === 'members')).toHaveLength(0);
    timers.advance(250);
    const one = await a.next('members');
    expect(one.members.map((m) => m.meta)).toEqual([
      { virtualWorkers: 2, name: 'tab0' }, { virtualWorkers: 2, name: 'tab1' }, { virtualWorkers: 2, name: 'tab2' }, { virtualWorkers: 2, name: 'tab3' },
    ]);
    for (const m of [b, c, d]) expect(await epochOf(m)).toBe(one.epoch);
    // A second burst right away waits for the interval, then is one more epoch.
    for (let i = 0; i < 50; i++) b.send({ type: 'meta', meta: { name: `again${i}` } });
    await flush(b);
    timers.advance(1_000);
    await flush(a);
    expect(a.messages.filter((m) => m.type === 'members')).toHaveLength(0);
    timers.advance(1_000);
    const two = await a.next('members');
    expect(two.epoch).toBe(one.epoch + 1);
    expect(two.members[1]!.meta).toEqual({ name: 'again49' });
    // A join is not delayed, and carries a pending meta in its own epoch.
    c.send({ type: 'meta', meta: { name: 'pending' } });
    await flush(c);
    const e = await connect(server);
    await e.join(roomId);
    const three = await a.membersWhere((l) => l.members.length === 5);
    expect(three.epoch).toBe(two.epoch + 1);
    expect(three.members[2]).toMatchObject({ id: ids[2], meta: { name: 'pending' } });
    timers.advance(5_000);
    await flush(a);
    expect(a.messages.filter((m) => m.type === 'members')).toHaveLength(0); // nothing left to flush
    expect(server.signaling.stats().pendingTimers).toBe(0);
  });
});

describe('loose schema (issue: transceiverRequest relayed arbitrary JSON)', () => {
  it('relays only the exact shape simple-peer 9.11.1 emits', async () => {
    const server = await serve({});
    const { members: [a, b], ids: [, idB] } = await roomOf(server, 2);
    const deep = JSON.parse('{"x":'.repeat(500) + '1' + '}'.repeat(500)) as unknown;
    const extraKeys = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v'.repeat(10)]));
    const refused: unknown[] = [
      { kind: 'video', init: deep },
      { kind: 'video', ...extraKeys },
      { kind: 'video', init: { direction: 'recvonly', ...extraKeys } },
      { kind: 'screen' },
      { kind: 'audio', init: { streams: [{}] } },
      { kind: 'audio', init: { sendEncodings: Array.from({ length: 5 }, () => ({})) } },
      { kind: 'audio', init: { sendEncodings: [{ rid: 'a', evil: 1 }] } },
    ];
    for (const request of refused) {
      a.send({ type: 'signal', to: idB, data: { type: 'transceiverRequest', transceiverRequest: request } });
      expect((await a.next('error')).code).toBe('ERR_BAD_MESSAGE');
    }
    const accepted = [
      { kind: 'video' },
      { kind: 'audio', init: { direction: 'recvonly' } },
      { kind: 'video', init: { direction: 'sendrecv', sendEncodings: [{ rid: 'h', active: true, maxBitrate: 900_000, scaleResolutionDownBy: 1 }] } },
    ];
    for (const request of accepted) {
      a.send({ type: 'signal', to: idB, data: { type: 'transceiverRequest', transceiverRequest: request } });
      expect((await b.next('signal')).data).toEqual({ type: 'transceiverRequest', transceiverRequest: request });
    }
    expect(b.messages.filter((m) => m.type === 'signal')).toHaveLength(0);
  });
});
