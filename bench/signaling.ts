/**
 * The attacks of issue 10 at the scale they were first tried, against the signaling server with its
 * default limits: 4000 idle sockets from one address, 900 rooms from one address, 50 `meta` messages,
 * and a sender relaying to four members that stop reading for 12 s. The server runs in a child process
 * (with --expose-gc), so its memory is measured apart from the attacking clients. Prints figures and
 * asserts nothing. `npm run bench:signaling`; everything stays on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { attachSignaling, type SignalingHandle } from '../src/server/signaling.ts';
import { exitOnHelp } from '../scripts/lib/cli.ts';

// `--serve` is the child's own flag (below); a person has only --help.
exitOnHelp(`usage: npm run bench:signaling
  The signaling server under the attacks of issue 10 at their first scale (4000 idle sockets, 900
  rooms, 50 meta messages, four members that stop reading for 12 s), its memory measured in a child
  process. Prints figures; asserts nothing. No options.`);

const SELF = new URL(import.meta.url).pathname;
/** Clients pose as two addresses through X-Forwarded-For; the server trusts 127.0.0.1 as a proxy. */
const ATTACKER = '198.51.100.66';
const LEGIT = '203.0.113.10';

/** Child: a server on 127.0.0.1:0 that answers `mem` and `stats` lines on stdin with JSON. */
async function serve(): Promise<void> {
  const server = http.createServer((_req, res) => res.end('ok'));
  const signaling: SignalingHandle = attachSignaling(server, { trustedProxies: ['127.0.0.1'] });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'mem') {
      (globalThis as { gc?: () => void }).gc?.();
      const { heapUsed, external, rss } = process.memoryUsage();
      process.stdout.write(`${JSON.stringify({ heapUsed, external, rss })}\n`);
    } else if (line === 'stats') {
      process.stdout.write(`${JSON.stringify(signaling.stats())}\n`);
    }
  }
}

class ServerProcess {
  private readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async next(): Promise<Record<string, number>> {
    while (this.lines.length === 0) await new Promise<void>((r) => this.waiters.push(r));
    return JSON.parse(this.lines.shift()!) as Record<string, number>;
  }
  async ask(what: 'mem' | 'stats'): Promise<Record<string, number>> {
    this.child.stdin!.write(`${what}\n`);
    return this.next();
  }
  async memMb(): Promise<string> {
    const m = await this.ask('mem');
    return ((m.heapUsed! + m.external!) / 2 ** 20).toFixed(1);
  }
}

function open(url: string, address: string): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { 'x-forwarded-for': address } });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(0));
  });
}

function nextMessage(ws: WebSocket, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (data: WebSocket.RawData) => {
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      if (m.type !== type) return;
      ws.off('message', on);
      resolve(m);
    };
    ws.on('message', on);
  });
}

async function legitimate(url: string): Promise<string> {
  const a = await open(url, LEGIT);
  const b = await open(url, LEGIT);
  if (typeof a === 'number' || typeof b === 'number') return `refused (HTTP ${typeof a === 'number' ? a : b})`;
  a.send(JSON.stringify({ type: 'create' }));
  const { roomId } = await nextMessage(a, 'welcome');
  b.send(JSON.stringify({ type: 'join', roomId }));
  const { peerId } = await nextMessage(b, 'welcome');
  a.send(JSON.stringify({ type: 'signal', to: peerId, data: { type: 'offer', sdp: 'x' } }));
  await nextMessage(b, 'signal');
  a.close();
  b.close();
  return 'create, join and relay work';
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const server = new ServerProcess(child);
  const { port } = await server.next();
  const url = `ws://127.0.0.1:${port}/signal`;
  console.log(`server memory at start: ${await server.memMb()} MB (heap + buffers after GC)`);

  // 1. 4000 idle sockets from one address.
  const idle: WebSocket[] = [];
  const refusals = new Map<number, number>();
  let openNow = 0;
  let mostOpen = 0;
  const t1 = Date.now();
  for (let i = 0; i < 4000; i++) {
    const r = await open(url, ATTACKER);
    if (typeof r === 'number') refusals.set(r, (refusals.get(r) ?? 0) + 1);
    else {
      idle.push(r);
      mostOpen = Math.max(mostOpen, ++openNow);
      r.once('close', () => openNow--);
    }
  }
  console.log(`idle sockets: 4000 tried in ${((Date.now() - t1) / 1000).toFixed(1)} s, ${idle.length} accepted, at most ${mostOpen} open at once, ` +
    `refused ${JSON.stringify(Object.fromEntries(refusals))}; server ${await server.memMb()} MB; legitimate client: ${await legitimate(url)}`);
  const t0 = Date.now();
  await Promise.all(idle.map((ws) => new Promise((r) => (ws.readyState === ws.CLOSED ? r(null) : ws.once('close', r)))));
  console.log(`  all closed by the join deadline after ${((Date.now() - t0) / 1000).toFixed(1)} s; server ${await server.memMb()} MB`);

  // 2. 900 rooms from one address.
  let rooms = 0;
  const hoarders: WebSocket[] = [];
  for (let i = 0; i < 900; i++) {
    const ws = await open(url, ATTACKER);
    if (typeof ws === 'number') break;
    hoarders.push(ws);
    ws.send(JSON.stringify({ type: 'create' }));
    const reply = await Promise.race([nextMessage(ws, 'welcome'), nextMessage(ws, 'error')]);
    if (reply.type === 'welcome') rooms++;
  }
  console.log(`room hoarding: ${rooms} rooms created of ${hoarders.length} attempts before the socket cap; legitimate client: ${await legitimate(url).catch(() => 'failed')}`);
  for (const ws of hoarders) ws.close();
  await new Promise((r) => setTimeout(r, 500));

  // 3. 50 meta messages in a room of 2: how many epochs do the others see?
  const [a, b] = [await open(url, LEGIT), await open(url, LEGIT)] as WebSocket[];
  a!.send(JSON.stringify({ type: 'create' }));
  const { roomId } = await nextMessage(a!, 'welcome');
  b!.send(JSON.stringify({ type: 'join', roomId }));
  await nextMessage(b!, 'welcome');
  await new Promise((r) => setTimeout(r, 200));
  let epochs = 0;
  a!.on('message', (d) => (JSON.parse(String(d)) as { type: string }).type === 'members' && epochs++);
  for (let i = 0; i < 50; i++) b!.send(JSON.stringify({ type: 'meta', meta: { name: `n${i}` } }));
  await new Promise((r) => setTimeout(r, 3_000));
  console.log(`epoch churn: 50 meta messages made ${epochs} epoch(s) within 3 s`);

  // 4. A sender relays 60 KB offers to four members that stopped reading, for 12 s, as fast as the
  //    default rate limit allows (a burst of 400 messages, then 100 per second).
  const stalled: WebSocket[] = [];
  const stalledIds: string[] = [];
  for (let i = 0; i < 4; i++) {
    const ws = (await open(url, LEGIT)) as WebSocket;
    ws.send(JSON.stringify({ type: 'join', roomId }));
    stalledIds.push(String((await nextMessage(ws, 'welcome')).peerId));
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    stalled.push(ws);
  }
  const before = await server.memMb();
  const sdp = 's'.repeat(60_000);
  let sent = 0;
  let peak = 0;
  const end = Date.now() + 12_000;
  const send = (n: number) => {
    for (let i = 0; i < n; i++) {
      a!.send(JSON.stringify({ type: 'signal', to: stalledIds[i % 4], data: { type: 'offer', sdp } }));
      sent += sdp.length;
    }
  };
  send(390);
  while (Date.now() < end) {
    send(4); // 80 per second, under the sustained rate
    await new Promise((r) => setTimeout(r, 50));
    const m = await server.ask('mem');
    peak = Math.max(peak, m.heapUsed! + m.external!);
  }
  const stats = await server.ask('stats');
  console.log(`slow readers: ${(sent / 2 ** 20).toFixed(0)} MB sent in 12 s; server ${before} MB before, peak ${(peak / 2 ** 20).toFixed(1)} MB, ` +
    `after ${await server.memMb()} MB; ${stats.evictedTotal} of 4 receivers closed; ` +
    `legitimate client: ${await legitimate(url)}`);
  for (const ws of [...stalled, a!, b!]) ws.terminate();
  child.kill();
}

if (process.argv.includes('--serve')) void serve();
else await main();
