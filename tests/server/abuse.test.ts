/**
 * Hostile input: oversized frames, fragment floods, ≥1000 fuzzed malformed frames, rate limits, origin
 * checks. After each, the server must still serve a normal client.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { attachSignaling } from '../../src/server/signaling.ts';
import { ManualTimers, startTestServer, TestClient, waitFor, type TestServer } from './helpers.ts';
import { fuzzFrames } from './fuzz.ts';

let server: TestServer | undefined;
const clients: TestClient[] = [];

async function connect(url = server!.url, options = {}): Promise<TestClient> {
  const c = await TestClient.connect(url, options);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = undefined;
});

/** Proves the server still works: two fresh clients make a room and relay a signal. */
async function assertServes(): Promise<void> {
  const [a, b] = [await connect(), await connect()];
  const { roomId, peerId: idA } = await a.create();
  const { peerId: idB } = await b.join(roomId);
  a.send({ type: 'signal', to: idB, data: { type: 'offer', sdp: 'ok' } });
  expect(await b.next('signal')).toEqual({ type: 'signal', from: idA, data: { type: 'offer', sdp: 'ok' } });
}

/** A masked client frame (RFC 6455 §5.2) built by hand, so fragments can be sent one by one. */
function clientFrame(opcode: number, fin: boolean, payload: Uint8Array): Uint8Array {
  const len = payload.length;
  const header = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = new Uint8Array(header + 4 + len);
  frame[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) frame[1] = 0x80 | len;
  else if (len < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = len >> 8;
    frame[3] = len & 0xff;
  } else throw new Error('frame too long for this helper');
  const mask = [0x12, 0x34, 0x56, 0x78];
  frame.set(mask, header);
  for (let i = 0; i < len; i++) frame[header + 4 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}

describe('hostile input', () => {
  it('closes a 10 MB frame with 1009 while other rooms keep working', async () => {
    server = await startTestServer();
    const [a, b] = [await connect(), await connect()];
    const { roomId, peerId: idA } = await a.create();
    const { peerId: idB } = await b.join(roomId);
    const bully = await connect();
    await bully.create();
    bully.ws.send('x'.repeat(10 * 1024 * 1024));
    expect(await bully.closed).toBe(1009);
    a.send({ type: 'signal', to: idB, data: { type: 'offer', sdp: 'after' } });
    expect((await b.next('signal')).from).toBe(idA);
    await assertServes();
    // The bully's seat is gone at once (1009 is not an abnormal drop) and its room was freed.
    expect(server.signaling.stats()).toMatchObject({ rooms: 2, members: 4, seatsInGrace: 0 });
  });

  it('closes a flood of small fragments with 1009 once their sum passes the limit', async () => {
    server = await startTestServer();
    const { port } = server.http.address() as AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    const received: Uint8Array[] = [];
    socket.on('data', (d) => received.push(d));
    socket.on('error', () => {});
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      'GET /signal HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const fragment = new TextEncoder().encode('a'.repeat(100));
    // 2000 fragments × 100 B = 200 KB of one message, far past the 64 KiB limit.
    for (let i = 0; i < 2000 && !socket.destroyed; i++) {
      socket.write(clientFrame(i === 0 ? 0x1 : 0x0, false, fragment));
    }
    await ended;
    const all = new Uint8Array(received.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of received) {
      all.set(r, at);
      at += r.length;
    }
    const text = new TextDecoder('latin1').decode(all);
    expect(text.startsWith('HTTP/1.1 101')).toBe(true);
    const body = all.subarray(text.indexOf('\r\n\r\n') + 4);
    expect(body[0]).toBe(0x88); // FIN + close opcode
    expect((body[2]! << 8) | body[3]!).toBe(1009);
    await assertServes();
  });

  it('answers ≥1000 fuzzed malformed frames with errors, closes abusers with 1008 and stays up', async () => {
    server = await startTestServer();
    const frames = fuzzFrames(1200, 20261127);
    // The fuzzing socket never joins a room, so the stricter of the two limits closes it.
    const { maxViolations: violationLimit, maxErrorsBeforeJoin } = server.signaling.options;
    const maxViolations = Math.min(violationLimit, maxErrorsBeforeJoin);
    let client = await connect();
    let violations = 0;
    let closes = 0;
    for (const frame of frames) {
      client.ws.send(frame.data, { binary: frame.binary });
      const reply = await client.next();
      expect(reply.type, frame.label).toBe('error');
      if (reply.type !== 'error') continue;
      expect(['ERR_BAD_JSON', 'ERR_BAD_MESSAGE'], frame.label).toContain(reply.code);
      expect(reply.message.length).toBeGreaterThan(10);
      violations++;
      if (violations === maxViolations) {
        expect(await client.closed).toBe(1008);
        closes++;
        violations = 0;
        client = await connect();
      }
    }
    expect(closes).toBe(Math.floor(frames.length / maxViolations));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await assertServes();
    await waitFor(() => server!.signaling.stats().connections === 3, 'closed fuzz sockets gone');
    // Only assertServes' two clients and the last fuzzing client remain; the fuzz left no room behind.
    expect(server.signaling.stats()).toMatchObject({ rooms: 1, members: 2, connections: 3, wsClients: 3 });
  });

  it('rate-limits a socket with a token bucket on the injected clock', async () => {
    const timers = new ManualTimers();
    server = await startTestServer({ timers, messageBurst: 5, messagesPerSecond: 2 });
    const c = await connect();
    for (let i = 0; i < 5; i++) {
      c.send({ type: 'leave' });
      expect((await c.next('error')).code).toBe('ERR_NOT_IN_ROOM');
    }
    c.send({ type: 'leave' });
    expect((await c.next('error')).code).toBe('ERR_RATE_LIMIT');
    timers.advance(500); // one token at 2 per second
    c.send({ type: 'leave' });
    expect((await c.next('error')).code).toBe('ERR_NOT_IN_ROOM');
    c.send({ type: 'leave' });
    expect((await c.next('error')).code).toBe('ERR_RATE_LIMIT');
  });

  it('refuses a foreign Origin with HTTP 403; admits its own origins, allowedOrigins, and clients without Origin', async () => {
    server = await startTestServer({ allowedOrigins: ['https://GOOD.test:443/'] });
    const { port } = server.http.address() as AddressInfo;
    const refused = ['https://evil.test', 'null', `http://127.0.0.1:${port + 1}`, `http://evil.test:${port}`, `http://127.0.0.1:${port}.evil.test`];
    for (const origin of refused) await expect(TestClient.connect(server.url, { origin }), origin).rejects.toMatchObject({ status: 403 });
    // The server listens on 127.0.0.1: its pages are at localhost, 127.0.0.1 and [::1], over http or https.
    const own = [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `https://localhost:${port}`, `http://[::1]:${port}`];
    for (const origin of [...own, 'https://good.test']) {
      const ok = await connect(server.url, { origin });
      expect((await ok.create()).roomId, origin).toBeTruthy();
    }
    const noOrigin = await connect(); // not a browser: admitted, held to the per-address limits
    expect((await noOrigin.create()).roomId).toBeTruthy();
    expect(server.signaling.stats().refusedTotal).toBe(refused.length);
  });

  it('refuses sockets past maxConnections with HTTP 503 and admits again after one closes', async () => {
    server = await startTestServer({ maxConnections: 2 });
    const first = await connect();
    await connect();
    await expect(TestClient.connect(server.url)).rejects.toMatchObject({ status: 503 });
    await first.close();
    await waitFor(() => server!.signaling.stats().connections === 1, 'server saw the close');
    await expect(connect()).resolves.toBeInstanceOf(TestClient);
  });

  it('refuses new rooms past maxRooms with ERR_TOO_MANY_ROOMS', async () => {
    server = await startTestServer({ maxRooms: 2 });
    await (await connect()).create();
    await (await connect()).create();
    const third = await connect();
    third.send({ type: 'create' });
    expect((await third.next('error')).code).toBe('ERR_TOO_MANY_ROOMS');
  });

  it('leaves upgrades on other paths to their owner (e.g. the dev server HMR socket)', async () => {
    const httpServer = http.createServer();
    const other = new WebSocketServer({ noServer: true });
    httpServer.on('upgrade', (req, socket, head) => {
      if (req.url === '/hmr') other.handleUpgrade(req, socket, head, (ws) => ws.send('hmr-hello'));
    });
    const handle = attachSignaling(httpServer);
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const { port } = httpServer.address() as AddressInfo;
    const hmr = new WebSocket(`ws://127.0.0.1:${port}/hmr`);
    const greeting = await new Promise<string>((resolve) => hmr.once('message', (d) => resolve(String(d))));
    expect(greeting).toBe('hmr-hello');
    expect(handle.stats().connections).toBe(0);
    const sig = await TestClient.connect(`ws://127.0.0.1:${port}/signal`);
    expect((await sig.create()).roomId).toBeTruthy();
    hmr.close();
    await sig.close();
    handle.close();
    other.close();
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
  });
});
