/**
 * Shared by the attack tests: clients that pose as different addresses through X-Forwarded-For from a
 * trusted proxy (127.0.0.1), a legitimate-use probe, and the memory check. Memory is heap + buffers of
 * this process after a full GC (helpers.ts memoryInUse); after an attack it must come back to within
 * MEMORY_SLACK_BYTES of its level before.
 */
import { expect } from 'vitest';
import type { ClientOptions } from 'ws';
import type { SignalingOptions } from '../../src/server/config.ts';
import { EXACT_MEMORY, memoryInUse, startTestServer, TestClient, type TestServer } from './helpers.ts';

export const LEGIT = '203.0.113.10';
export const ATTACKER = '198.51.100.66';
/** Memory may stay above its pre-attack level by at most this after the attack (after a full GC). */
export const MEMORY_SLACK_BYTES = 2 * 1024 * 1024;
/** Without a GC to call, garbage is counted too: then only a generous bound is checked. */
export const MEMORY_SLACK_NO_GC_BYTES = 32 * 1024 * 1024;

export function from(address: string, extra: ClientOptions = {}): ClientOptions {
  return { ...extra, headers: { 'x-forwarded-for': address } };
}

/** Servers and clients of one test file, closed after each test. */
export class TestPool {
  private readonly servers: TestServer[] = [];
  private readonly clients: TestClient[] = [];

  /** A server behind a trusted proxy at 127.0.0.1 (unless `options` says otherwise). */
  serve = async (options: Partial<SignalingOptions> = {}): Promise<TestServer> => {
    const s = await startTestServer({ trustedProxies: ['127.0.0.1'], ...options });
    this.servers.push(s);
    return s;
  };

  connect = async (server: TestServer, address = LEGIT, extra: ClientOptions = {}): Promise<TestClient> => {
    const c = await TestClient.connect(server.url, from(address, extra));
    this.clients.push(c);
    return c;
  };

  /** Legitimate use from `address`: create, join, relay both ways, leave. */
  legitimateUse = async (server: TestServer, address = LEGIT): Promise<void> => {
    const [a, b] = [await this.connect(server, address), await this.connect(server, address)];
    const { roomId, peerId: idA } = await a.create();
    const { peerId: idB } = await b.join(roomId);
    a.send({ type: 'signal', to: idB, data: { type: 'offer', sdp: 'legit' } });
    expect(await b.next('signal')).toEqual({ type: 'signal', from: idA, data: { type: 'offer', sdp: 'legit' } });
    b.send({ type: 'signal', to: idA, data: { type: 'answer', sdp: 'legit' } });
    expect((await a.next('signal')).from).toBe(idB);
    await Promise.all([a.close(), b.close()]);
  };

  closeAll = async (): Promise<void> => {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
    await Promise.all(this.servers.splice(0).map((s) => s.close()));
  };
}

/** Asserts memory came back after an attack and prints the figures for the record. */
export async function expectMemoryBack(label: string, before: number, peak: number): Promise<void> {
  const after = await memoryInUse();
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  console.log(`[memory] ${label}: before ${mb(before)} MB, during ${mb(peak)} MB, after ${mb(after)} MB (${EXACT_MEMORY ? 'after full GC' : 'no GC available'})`);
  expect(after - before).toBeLessThan(EXACT_MEMORY ? MEMORY_SLACK_BYTES : MEMORY_SLACK_NO_GC_BYTES);
}
