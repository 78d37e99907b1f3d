/**
 * Test helpers for the signaling server: a server on 127.0.0.1 with an ephemeral port, real `ws`
 * clients with a message queue, and hand-stepped timers so timeout tests take milliseconds.
 */
import * as http from 'node:http';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { AddressInfo } from 'node:net';
import WebSocket, { type ClientOptions } from 'ws';
import type { SignalingOptions } from '../../src/server/config.ts';
import type { Timers } from '../../src/util/timers.ts';
import type { ServerMessage } from '../../src/signaling/protocol.ts';
import { SIGNAL_PATH } from '../../src/signaling/protocol.ts';
import { attachSignaling, type SignalingHandle } from '../../src/server/signaling.ts';

/** Upper bound for waiting on a message that should arrive; only guards against a hung test. */
const WAIT_LIMIT_MS = 5_000;

export interface TestServer {
  http: http.Server;
  signaling: SignalingHandle;
  url: string;
  close(): Promise<void>;
}

export async function startTestServer(options: Partial<SignalingOptions> = {}): Promise<TestServer> {
  const server = http.createServer((_req, res) => res.end('ok'));
  const signaling = attachSignaling(server, options);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    http: server,
    signaling,
    url: `ws://127.0.0.1:${port}${SIGNAL_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        signaling.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A signaling client that queues everything it receives. */
export class TestClient {
  readonly messages: ServerMessage[] = [];
  private waiters: Array<() => void> = [];
  closeCode: number | null = null;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as ServerMessage);
      this.wake();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.wake();
        resolve(code);
      }),
    );
  }

  static async connect(url: string, options: ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    });
    return client;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Removes and returns the next message (optionally of one type, skipping others). */
  async next<T extends ServerMessage['type']>(type?: T): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    for (;;) {
      const index = this.messages.findIndex((m) => type === undefined || m.type === type);
      if (index >= 0) return this.messages.splice(index, 1)[0] as Extract<ServerMessage, { type: T }>;
      if (this.closeCode !== null) throw new Error(`socket closed (${this.closeCode}) while waiting for ${type ?? 'a message'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type ?? 'message'} within ${WAIT_LIMIT_MS} ms; last queued: ${JSON.stringify(this.messages.slice(-3)).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Creates a room; returns the welcome. */
  async create(meta: Record<string, unknown> = {}): Promise<Extract<ServerMessage, { type: 'welcome' }>> {
    this.send({ type: 'create', meta });
    const welcome = await this.next('welcome');
    await this.next('members');
    return welcome;
  }

  /** Joins a room; returns the welcome (the members broadcast stays queued). */
  async join(roomId: string, extra: Record<string, unknown> = {}): Promise<Extract<ServerMessage, { type: 'welcome' }>> {
    this.send({ type: 'join', roomId, ...extra });
    return this.next('welcome');
  }

  /** Skips member lists until one satisfies `accept` (e.g. has n members), and returns it. */
  async membersWhere(accept: (list: Extract<ServerMessage, { type: 'members' }>) => boolean): Promise<Extract<ServerMessage, { type: 'members' }>> {
    for (;;) {
      const list = await this.next('members');
      if (accept(list)) return list;
    }
  }

  /** Drops every queued message of `type`, returning the last one. */
  drain<T extends ServerMessage['type']>(type: T): Extract<ServerMessage, { type: T }> | undefined {
    let last: ServerMessage | undefined;
    for (let i = this.messages.length - 1; i >= 0; i--) {
      if (this.messages[i]!.type === type) {
        last ??= this.messages[i];
        this.messages.splice(i, 1);
      }
    }
    return last as Extract<ServerMessage, { type: T }> | undefined;
  }

  async close(code = 1000): Promise<void> {
    if (this.closeCode === null) this.ws.close(code);
    await this.closed;
  }
}

/** Timers stepped by hand: `advance(ms)` moves the clock and runs every timer that fell due. */
export class ManualTimers implements Timers {
  private clock = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void; everyMs?: number }>();

  now = (): number => this.clock;

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.nextId++;
    this.pending.set(id, { at: this.clock + ms, fn });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.pending.delete(handle as number);
  };

  setInterval = (fn: () => void, ms: number): unknown => {
    const id = this.nextId++;
    this.pending.set(id, { at: this.clock + ms, fn, everyMs: ms });
    return id;
  };

  clearInterval = (handle: unknown): void => {
    this.pending.delete(handle as number);
  };

  get size(): number {
    return this.pending.size;
  }

  advance(ms: number): void {
    const until = this.clock + ms;
    for (;;) {
      let dueId = -1;
      let due: { at: number; fn: () => void; everyMs?: number } | undefined;
      for (const [id, t] of this.pending) if (t.at <= until && (!due || t.at < due.at)) [dueId, due] = [id, t];
      if (!due) break;
      this.clock = due.at;
      if (due.everyMs) due.at += due.everyMs;
      else this.pending.delete(dueId);
      due.fn();
    }
    this.clock = until;
  }
}

/** Waits until `condition()` holds (polling); throws after a generous limit so a broken server fails, not hangs. */
export async function waitFor(condition: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A full garbage collection, if this V8 lets us ask for one (the `gc` function of a fresh context once
 * --expose-gc is set at run time); null if not, and then memory figures include uncollected garbage.
 */
function findGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}
const fullGc = findGc();

/** True if memoryInUse() collects garbage first (the bounds in the attack tests are stated for that case). */
export const EXACT_MEMORY = fullGc !== null;

/**
 * Bytes this process holds in JS objects and in buffers outside the heap (socket write queues are
 * Buffers), after a full collection when available. Server and test clients share the process; the
 * attack tests keep the clients' share small and constant.
 */
export async function memoryInUse(): Promise<number> {
  if (fullGc) {
    // Two rounds with a turn of the event loop between: closed sockets release their buffers in callbacks.
    fullGc();
    await new Promise((r) => setImmediate(r));
    fullGc();
  }
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}
