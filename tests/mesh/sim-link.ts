/**
 * A link model on a fake clock, for flow-control tests that need time: each direction has a wire of
 * `bytesPerMs` that sends one message at a time, stats before bulk at message boundaries (SCTP's
 * scheduling), then `oneWayMs` of propagation; the receiving page handles messages one at a time in
 * arrival order (one task queue for both channels), each taking `processMs(channel, bytes)` of its
 * time, and hands a message to the link's handler when done with it. bufferedAmount is what waits for
 * the wire on this side. Nothing runs unless the test drives the clock (runUntil).
 */
import type { Channel, Link, LinkCloseHandler, LinkMessageHandler } from '../../src/mesh/transport.ts';
import type { FakeClock } from './fake-timers.ts';

export interface SimLinkConfig {
  /** Wire rate of each direction, bytes per ms (1000 = 1 MB/s). */
  bytesPerMs: number;
  /** Propagation delay of each direction, ms. */
  oneWayMs: number;
  /** Receiving page's time for one message, ms (a slow page: high per-byte cost). */
  processMs: (channel: Channel, bytes: number) => number;
}

class SimEnd implements Link {
  other!: SimEnd;
  private queues: Record<Channel, ArrayBuffer[]> = { stats: [], bulk: [] };
  private queued: Record<Channel, number> = { stats: 0, bulk: 0 };
  private wireBusy = false;
  private inbox: Array<[Channel, ArrayBuffer]> = [];
  private pageBusy = false;
  private handler: LinkMessageHandler | null = null;
  private closeHandler: LinkCloseHandler | null = null;
  private drainWaiters: Array<{ channel: Channel; lowBytes: number; resolve(): void }> = [];
  private closed = false;

  constructor(
    readonly remoteId: string,
    private readonly clock: FakeClock,
    private readonly config: SimLinkConfig,
  ) {}

  get open(): boolean {
    return !this.closed;
  }

  send(channel: Channel, data: ArrayBuffer): void {
    if (this.closed) throw new Error(`link to ${this.remoteId} is closed`);
    this.queues[channel].push(data.slice(0));
    this.queued[channel] += data.byteLength;
    this.pump();
  }

  bufferedAmount(channel: Channel): number {
    return this.queued[channel];
  }

  whenDrained(channel: Channel, lowBytes: number): Promise<void> {
    if (this.queued[channel] <= lowBytes || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push({ channel, lowBytes, resolve }));
  }

  onMessage(handler: LinkMessageHandler): void {
    this.handler = handler;
  }

  onClose(handler: LinkCloseHandler): void {
    this.closeHandler = handler;
  }

  destroy(reason = 'closed locally'): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.drainWaiters) waiter.resolve();
    this.drainWaiters = [];
    const handler = this.closeHandler;
    this.closeHandler = null;
    handler?.(reason);
    this.other.destroy('remote closed the link');
  }

  /** Puts the next message on the wire: stats first (SCTP picks between streams at message boundaries). */
  private pump(): void {
    if (this.wireBusy || this.closed) return;
    const channel: Channel | null = this.queues.stats.length ? 'stats' : this.queues.bulk.length ? 'bulk' : null;
    if (!channel) return;
    const data = this.queues[channel].shift()!;
    this.wireBusy = true;
    this.clock.timers.setTimeout(() => {
      this.wireBusy = false;
      this.queued[channel] -= data.byteLength;
      this.drainWaiters = this.drainWaiters.filter((waiter) => {
        if (this.queued[waiter.channel] > waiter.lowBytes) return true;
        waiter.resolve();
        return false;
      });
      this.clock.timers.setTimeout(() => this.other.arrive(channel, data), this.config.oneWayMs);
      this.pump();
    }, data.byteLength / this.config.bytesPerMs);
  }

  private arrive(channel: Channel, data: ArrayBuffer): void {
    if (this.closed) return;
    this.inbox.push([channel, data]);
    this.work();
  }

  /** The page takes the oldest message, spends its processing time, then hands it on. */
  private work(): void {
    if (this.pageBusy || this.closed || this.inbox.length === 0) return;
    const [channel, data] = this.inbox.shift()!;
    this.pageBusy = true;
    this.clock.timers.setTimeout(() => {
      this.pageBusy = false;
      if (!this.closed) this.handler?.(channel, data);
      this.work();
    }, this.config.processMs(channel, data.byteLength));
  }
}

/** A connected pair on `clock`: `[a, b]`, a's end (remote `idB`) and b's end (remote `idA`). */
export function createSimLinkPair(clock: FakeClock, idA: string, idB: string, config: SimLinkConfig): [Link, Link] {
  const a = new SimEnd(idB, clock, config);
  const b = new SimEnd(idA, clock, config);
  a.other = b;
  b.other = a;
  return [a, b];
}

/** Runs the clock event by event up to `untilMs` (or until `done()`), letting promises settle between events. */
export async function runUntil(clock: FakeClock, untilMs: number, done: () => boolean = () => false): Promise<void> {
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  await settle();
  while (!done()) {
    const next = clock.nextDue();
    if (next === null || next > untilMs) break;
    clock.advance(Math.max(0, next - clock.now));
    await settle();
  }
}
