/**
 * The attacks of issue 10 that come from outside a room: idle sockets, errors before joining, forged
 * client addresses and room hoarding (in-room attacks: attacks-room.test.ts). Each is bounded (limits
 * lowered through the options) against a real server on 127.0.0.1; legitimate clients from another
 * address still create, join and relay during and after it, and memory comes back (attack-helpers.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ATTACKER, expectMemoryBack, from, LEGIT, TestPool } from './attack-helpers.ts';
import { ManualTimers, memoryInUse, TestClient, waitFor } from './helpers.ts';

const pool = new TestPool();
const { serve, connect, legitimateUse } = pool;
afterEach(() => pool.closeAll());

describe('idle sockets (issue: 4000 sockets that never join lock everyone out)', () => {
  it('caps sockets per address with 429 and closes sockets that do not join in time (200 idle sockets)', async () => {
    const timers = new ManualTimers();
    const server = await serve({ timers, maxConnectionsPerAddress: 50, maxConnections: 300, joinDeadlineMs: 10_000 });
    await legitimateUse(server);
    const before = await memoryInUse();
    const idle: TestClient[] = [];
    // Four attacking addresses, each opening sockets until refused: 429 after exactly 50 each.
    for (let a = 0; a < 4; a++) {
      let refusal: unknown = null;
      let opened = 0;
      for (let i = 0; i < 60 && refusal === null; i++) {
        await TestClient.connect(server.url, from(`198.51.100.${70 + a}`)).then((c) => (idle.push(c), opened++), (err: unknown) => (refusal = err));
      }
      expect(opened).toBe(50);
      expect(refusal).toMatchObject({ status: 429 });
    }
    await legitimateUse(server); // during the attack
    const peak = await memoryInUse();
    timers.advance(9_999);
    expect(idle.every((c) => c.closeCode === null)).toBe(true);
    timers.advance(1);
    // ws clients answer pings, which kept such sockets open before; the join deadline does not care.
    expect(new Set(await Promise.all(idle.map((c) => c.closed)))).toEqual(new Set([4001]));
    expect(idle[0]!.messages.at(-1)).toMatchObject({ type: 'error', code: 'ERR_JOIN_TIMEOUT' });
    await waitFor(() => server.signaling.stats().connections === 0, 'idle sockets gone');
    await legitimateUse(server); // after
    await legitimateUse(server, "198.51.100.70"); // the address is not banned, only capped
    await waitFor(() => server.signaling.stats().connections === 0, 'clients gone');
    expect(server.signaling.stats()).toMatchObject({ rooms: 0, addresses: 0, pendingTimers: 0 });
    idle.length = 0; // the attacker's client objects are this process's memory too
    await expectMemoryBack('200 idle sockets', before, peak);
  });

  it('closes a socket after maxErrorsBeforeJoin error replies before it joins (300 sent)', async () => {
    const server = await serve({});
    const limit = server.signaling.options.maxErrorsBeforeJoin;
    const before = await memoryInUse();
    const noisy = await connect(server, ATTACKER);
    for (let i = 0; i < 300; i++) noisy.send(i % 2 ? { type: 'leave' } : { type: 'signal', to: 'abcdefghijkl', data: { type: 'offer', sdp: 'x' } });
    expect(await noisy.closed).toBe(1008);
    const errors = noisy.messages.filter((m) => m.type === 'error');
    expect(errors).toHaveLength(limit);
    expect(new Set(errors.map((e) => e.type === 'error' && e.code))).toEqual(new Set(['ERR_NOT_IN_ROOM']));
    await legitimateUse(server);
    await waitFor(() => server.signaling.stats().connections === 0, 'clients gone');
    await expectMemoryBack('300 messages before joining', before, before);
  });

  it('counts addresses only through a trusted proxy: forged X-Forwarded-For from others is ignored', async () => {
    const server = await serve({ trustedProxies: [], maxConnectionsPerAddress: 5 });
    for (let i = 0; i < 5; i++) await connect(server, `192.0.2.${i + 1}`);
    await expect(TestClient.connect(server.url, from('192.0.2.99'))).rejects.toMatchObject({ status: 429 });
    // Behind a trusted proxy the rightmost untrusted hop is the client, whatever the client wrote before it.
    const proxied = await serve({ trustedProxies: ['127.0.0.1', '10.0.0.1'], maxConnectionsPerAddress: 2 });
    await connect(proxied, `1.1.1.1, ${ATTACKER}, 10.0.0.1`);
    await connect(proxied, `2.2.2.2, ${ATTACKER}`);
    await expect(TestClient.connect(proxied.url, from(`3.3.3.3, ${ATTACKER}`))).rejects.toMatchObject({ status: 429 });
    await connect(proxied, `${ATTACKER}, ${LEGIT}`);
    // Some proxies append the client's port; it is not part of the address.
    await connect(proxied, `${LEGIT}:50123`);
    await expect(TestClient.connect(proxied.url, from(`[::ffff:${LEGIT}]:443`))).rejects.toMatchObject({ status: 429 });
    expect(proxied.signaling.stats().addresses).toBe(2);
  });
});

describe('room exhaustion (issue: one client created 899 rooms, then nobody could)', () => {
  it('caps rooms per address; others still create, and members recreate their room after a restart', async () => {
    const resumeKey = new Uint8Array(32).fill(3);
    const options = { resumeKey, maxRoomsPerAddress: 5, maxRooms: 12 };
    const first = await serve(options);
    const [m1, m2] = [await connect(first), await connect(first)];
    const { roomId, peerId: id1, resumeToken: token1 } = await m1.create();
    const { peerId: id2, resumeToken: token2 } = await m2.join(roomId);
    await first.close();

    const second = await serve(options);
    const before = await memoryInUse();
    const hoarders: TestClient[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await connect(second, ATTACKER);
      c.send({ type: 'create' });
      const reply = await c.next(); // welcome, or the refusal
      if (reply.type === 'error') expect(reply.code).toBe('ERR_TOO_MANY_ROOMS');
      hoarders.push(c);
    }
    expect(second.signaling.stats().rooms).toBe(5);
    const peak = await memoryInUse();
    // The members come back with their tokens: the room is recreated, ranks as before.
    const [r2, r1] = [await connect(second), await connect(second)];
    expect((await r2.join(roomId, { resumePeerId: id2, resumeToken: token2 })).peerId).toBe(id2);
    expect((await r1.join(roomId, { resumePeerId: id1, resumeToken: token1 })).peerId).toBe(id1);
    expect((await r1.membersWhere((l) => l.members.length === 2)).members.map((m) => m.id)).toEqual([id1, id2]);
    await legitimateUse(second);
    await Promise.all(hoarders.map((c) => c.close()));
    await Promise.all([r1.close(), r2.close()]);
    await waitFor(() => second.signaling.stats().rooms === 0, 'rooms freed');
    await legitimateUse(second, ATTACKER); // the quota is back once the rooms are gone
    await expectMemoryBack('8 room hoarders', before, peak);
  });
});
