import { describe, expect, it } from 'vitest';
import { JOIN_RETRY_LIMIT_MS, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS, reconnectDelayMs, SignalingClient, signalingUrl, type RetryInfo, type WebSocketLike } from '../../src/mesh/signaling-client.ts';
import { MeshError } from '../../src/mesh/types.ts';
import type { Timers } from '../../src/util/timers.ts';

/** A scripted WebSocket: the test plays the server. */
class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(): void {
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
}

/** Manual timers: the test advances time. */
function manualTimers() {
  let now = 0;
  let nextId = 1;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => {
      pending.set(nextId, { at: now + ms, fn });
      return nextId++;
    },
    clearTimeout: (h) => pending.delete(h as number),
    setInterval: () => 0,
    clearInterval: () => {},
  };
  return {
    timers,
    delays: () => [...pending.values()].map((p) => p.at - now),
    advance(ms: number) {
      now += ms;
      for (const [id, p] of [...pending]) {
        if (p.at <= now) {
          pending.delete(id);
          p.fn();
        }
      }
    },
  };
}

const WELCOME = { type: 'welcome', version: 1, peerId: 'peer-0001', roomId: 'r'.repeat(22), resumeToken: `0.${'T'.repeat(43)}`, iceServers: [{ urls: 'stun:example.invalid' }], limits: { maxPeersPerRoom: 16 } };

function client(room: { create: true } | { roomId: string }, timers?: Timers) {
  FakeSocket.all = [];
  return new SignalingClient({ url: 'ws://host/signal', room, WebSocket: FakeSocket, random: () => 0.5, ...(timers ? { timers } : {}) });
}

describe('SignalingClient', () => {
  it('derives ws:// and wss:// URLs from the page origin', () => {
    expect(signalingUrl('http://10.0.0.2:5173')).toBe('ws://10.0.0.2:5173/signal');
    expect(signalingUrl('https://example.test')).toBe('wss://example.test/signal');
  });

  it('creates a room, gets welcome, members, signals and config', async () => {
    const c = client({ create: true });
    const seen: string[] = [];
    c.on('members', (m) => seen.push(`members ${m.epoch} ${m.members.length}`));
    c.on('signal', (s) => seen.push(`signal from ${s.from}`));
    c.on('config', (cfg) => seen.push(`config ${JSON.stringify(cfg.config)}`));
    const started = c.start();
    const ws = FakeSocket.all[0]!;
    ws.open();
    expect(ws.sent[0]).toEqual({ type: 'create' });
    ws.receive(WELCOME);
    const welcome = await started;
    expect(welcome.peerId).toBe('peer-0001');
    expect(welcome.iceServers).toHaveLength(1);
    ws.receive({ type: 'members', roomId: WELCOME.roomId, epoch: 3, members: [{ id: 'peer-0001', rank: 0, meta: {} }] });
    ws.receive({ type: 'signal', from: 'peer-0002', data: { type: 'offer', sdp: 'x' } });
    ws.receive({ type: 'config', from: null, config: { steps: 10 } });
    expect(seen).toEqual(['members 3 1', 'signal from peer-0002', 'config {"steps":10}']);
    c.sendSignal('peer-0002', { type: 'answer', sdp: 'y' });
    expect(ws.sent.at(-1)).toEqual({ type: 'signal', to: 'peer-0002', data: { type: 'answer', sdp: 'y' } });
    c.destroy();
    expect(ws.sent.at(-1)).toEqual({ type: 'leave' });
    c.destroy(); // idempotent
  });

  for (const code of ['ERR_ROOM_FULL', 'ERR_ROOM_NOT_FOUND'] as const) {
    it(`maps a ${code} refusal to MeshError ${code} and does not retry`, async () => {
      const c = client({ roomId: 'x'.repeat(22) });
      const errors: MeshError[] = [];
      c.on('error', (e) => errors.push(e));
      const started = c.start();
      const ws = FakeSocket.all[0]!;
      ws.open();
      expect(ws.sent[0]).toMatchObject({ type: 'join', roomId: 'x'.repeat(22) });
      ws.receive({ type: 'error', code, message: 'no' });
      await expect(started).rejects.toMatchObject({ code });
      expect(errors[0]).toBeInstanceOf(MeshError);
      expect(c.state).toBe('closed');
      expect(FakeSocket.all).toHaveLength(1);
    });
  }

  it('maps other server errors to ERR_SIGNALING and stays connected', async () => {
    const c = client({ create: true });
    const errors: MeshError[] = [];
    c.on('error', (e) => errors.push(e));
    const started = c.start();
    FakeSocket.all[0]!.open();
    FakeSocket.all[0]!.receive(WELCOME);
    await started;
    FakeSocket.all[0]!.receive({ type: 'error', code: 'ERR_RATE_LIMIT', message: 'slow down' });
    expect(errors.map((e) => e.code)).toEqual(['ERR_SIGNALING']);
    expect(c.state).toBe('open');
  });

  it('retries a server it cannot reach with doubling delays, announcing each retry, and gives up after JOIN_RETRY_LIMIT_MS', async () => {
    const clock = manualTimers();
    const c = client({ roomId: 'x'.repeat(22) }, clock.timers);
    const retries: RetryInfo[] = [];
    c.on('retry', (r) => retries.push(r));
    let outcome: unknown = null;
    c.start().then(() => (outcome = 'admitted'), (err: MeshError) => (outcome = err));
    let elapsed = 0;
    const waited: number[] = [];
    for (;;) {
      FakeSocket.all.at(-1)!.drop(); // connection refused: closed without ever opening
      await Promise.resolve();
      if (outcome !== null) break;
      const [delay] = clock.delays();
      waited.push(delay!);
      clock.advance(delay!);
      elapsed += delay!;
    }
    // The schedule, jitter fixed at ×1 (random() = 0.5): 250, 500, …, capped at 8 s, until 120 s would pass.
    const expected: number[] = [];
    for (let t = 0, i = 0; ; i++) {
      const d = Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** i);
      if (t + d > JOIN_RETRY_LIMIT_MS) break;
      expected.push(d);
      t += d;
    }
    expect(waited).toEqual(expected);
    expect(retries.map((r) => [r.attempt, r.delayMs, r.admitted])).toEqual(expected.map((d, i) => [i + 1, d, false]));
    expect(elapsed).toBeLessThanOrEqual(JOIN_RETRY_LIMIT_MS);
    expect(elapsed + RECONNECT_MAX_MS).toBeGreaterThan(JOIN_RETRY_LIMIT_MS);
    expect(outcome).toMatchObject({ code: 'ERR_SIGNALING', message: expect.stringMatching(new RegExp(`${expected.length + 1} attempts over ${Math.round(elapsed / 1000)} s`)) });
    expect(c.state).toBe('closed');
    expect(clock.delays()).toEqual([]);
  });

  it('joins once the server is back: refused twice, then "restoring" once, then welcomed', async () => {
    const clock = manualTimers();
    const c = client({ roomId: 'x'.repeat(22) }, clock.timers);
    const states: string[] = [];
    c.on('state', (s) => states.push(s));
    const retries: RetryInfo[] = [];
    c.on('retry', (r) => retries.push(r));
    const started = c.start();
    FakeSocket.all[0]!.drop();
    clock.advance(clock.delays()[0]!);
    FakeSocket.all[1]!.drop();
    clock.advance(clock.delays()[0]!);
    const third = FakeSocket.all[2]!;
    third.open();
    third.receive({ type: 'error', code: 'ERR_ROOM_RESTORING', message: 'the server has just restarted' });
    expect(retries.map((r) => r.reason)).toEqual([expect.stringMatching(/1006/), expect.stringMatching(/1006/), expect.stringMatching(/just restarted \(ERR_ROOM_RESTORING\)/)]);
    expect(third.readyState).toBe(3); // closed by the client, which waits before the next try
    expect(clock.delays()).toEqual([RECONNECT_INITIAL_MS * 4]);
    clock.advance(RECONNECT_INITIAL_MS * 4);
    const fourth = FakeSocket.all[3]!;
    fourth.open();
    expect(fourth.sent[0]).toEqual({ type: 'join', roomId: 'x'.repeat(22) });
    fourth.receive({ ...WELCOME, roomId: 'x'.repeat(22) });
    await expect(started).resolves.toMatchObject({ peerId: WELCOME.peerId });
    expect(states).toEqual(['reconnecting', 'open']);
    // The backoff starts over once admitted.
    fourth.drop();
    expect(clock.delays()).toEqual([RECONNECT_INITIAL_MS]);
    c.destroy();
  });

  it('jitters each delay within ±25% of its doubled base', () => {
    expect(reconnectDelayMs(0, 0)).toBe(RECONNECT_INITIAL_MS * 0.75);
    expect(reconnectDelayMs(0, 0.5)).toBe(RECONNECT_INITIAL_MS);
    expect(reconnectDelayMs(3, 0.999999)).toBeCloseTo(RECONNECT_INITIAL_MS * 8 * 1.25, 1);
    expect(reconnectDelayMs(100, 0)).toBe(RECONNECT_MAX_MS * 0.75);
  });

  it('reconnects with exponential backoff and resumes its peer id with the latest token; queued signals are flushed', async () => {
    const clock = manualTimers();
    const c = client({ create: true }, clock.timers);
    const states: string[] = [];
    c.on('state', (s) => states.push(s));
    const started = c.start();
    FakeSocket.all[0]!.open();
    FakeSocket.all[0]!.receive(WELCOME);
    await started;
    // Three failed attempts: delays double (jitter fixed at ×1 by random() = 0.5).
    FakeSocket.all[0]!.drop();
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(clock.delays()).toEqual([RECONNECT_INITIAL_MS * 2 ** attempt]);
      clock.advance(RECONNECT_INITIAL_MS * 2 ** attempt);
      expect(FakeSocket.all).toHaveLength(attempt + 2);
      if (attempt < 2) FakeSocket.all.at(-1)!.drop();
    }
    c.sendSignal('peer-0002', { type: 'candidate', candidate: { candidate: 'c' } }); // while down: queued
    const ws = FakeSocket.all.at(-1)!;
    ws.open();
    expect(ws.sent[0]).toEqual({ type: 'join', roomId: WELCOME.roomId, resumePeerId: 'peer-0001', resumeToken: WELCOME.resumeToken });
    const renewed = `7.${'U'.repeat(43)}`;
    ws.receive({ ...WELCOME, resumeToken: renewed });
    expect(ws.sent[1]).toMatchObject({ type: 'signal', to: 'peer-0002' });
    expect(states).toEqual(['open', 'reconnecting', 'open']);
    // After a successful resume the backoff starts over.
    ws.drop();
    expect(clock.delays()).toEqual([RECONNECT_INITIAL_MS]);
    clock.advance(RECONNECT_INITIAL_MS);
    FakeSocket.all.at(-1)!.open();
    expect(FakeSocket.all.at(-1)!.sent[0]).toMatchObject({ resumePeerId: 'peer-0001', resumeToken: renewed });
    c.destroy();
    expect(clock.delays()).toEqual([]);
  });

  it('stops when the room is gone on resume', async () => {
    const clock = manualTimers();
    const c = client({ create: true }, clock.timers);
    const errors: string[] = [];
    c.on('error', (e) => errors.push(e.code));
    const started = c.start();
    FakeSocket.all[0]!.open();
    FakeSocket.all[0]!.receive(WELCOME);
    await started;
    FakeSocket.all[0]!.drop();
    clock.advance(RECONNECT_INITIAL_MS);
    FakeSocket.all[1]!.open();
    FakeSocket.all[1]!.receive({ type: 'error', code: 'ERR_ROOM_NOT_FOUND', message: 'gone' });
    expect(errors).toEqual(['ERR_ROOM_NOT_FOUND']);
    expect(c.state).toBe('closed');
  });
});
