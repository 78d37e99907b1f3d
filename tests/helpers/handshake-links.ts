/**
 * In-memory links that open only through a signaling handshake of their link type, for mesh tests of
 * what the signals decide (restarts, link-type mismatches). The initiator makes an in-memory pair and
 * sends one offer per connection naming it; the answerer takes the pair once it holds every offer of
 * one pair and answers; the initiator opens on the answers. A payload of another link type closes the
 * link, as a real split or simple-peer link does. Offers naming no pair (a test's own) open nothing.
 */
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { ONE_CONNECTION_SIGNALS, SPLIT_CONNECTION_SIGNALS, type SignalingLinkFactory } from '../../src/mesh/link-signals.ts';
import type { Channel, ConnectingLink, Link, LinkCloseHandler, LinkMessageHandler } from '../../src/mesh/transport.ts';
import type { Timers } from '../../src/util/timers.ts';

/** Payload tags of each link type: one untagged connection, or split links' two. */
const TAGS = { one: [undefined], split: ['stats', 'bulk'] } as const;

/** One link a factory made: its peers, and the connection of each offer it took (`-` for untagged). */
export interface MadeLink {
  selfId: string;
  remoteId: string;
  offers: string[];
}

/** The answerers' ends of the pairs initiators made, by the pair's name in the offers. */
const waitingEnds = new Map<string, Link>();
let pairCount = 0;

class HandshakeLink implements ConnectingLink {
  readonly opened: Promise<void>;
  private end: Link | null = null;
  private pairName: string | null = null;
  private readonly awaited: Set<string | undefined>;
  private messageHandler: LinkMessageHandler | null = null;
  private closeHandler: LinkCloseHandler | null = null;
  private closed = false;
  private settle!: { resolve: () => void; reject: (e: Error) => void };

  constructor(
    readonly remoteId: string,
    private readonly type: 'one' | 'split',
    private readonly record: MadeLink,
    private readonly sendSignal: (data: unknown) => void,
    initiator: boolean,
  ) {
    this.awaited = new Set(TAGS[type]);
    this.opened = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.opened.catch(() => {});
    if (initiator) {
      const [mine, theirs] = createMemoryLinkPair(record.selfId, remoteId);
      this.pairName = `pair-${++pairCount}`;
      waitingEnds.set(this.pairName, theirs);
      this.attach(mine);
      this.send('offer');
    }
  }

  get open(): boolean {
    return !this.closed && this.end !== null && this.end.open;
  }

  signal(data: unknown): void {
    if (this.closed) return;
    const { type, sdp, connection } = data as { type?: string; sdp?: string; connection?: string };
    if (!(TAGS[this.type] as readonly (string | undefined)[]).includes(connection)) return this.close(`bad signal for a ${this.type} link`);
    if (type === 'offer') {
      this.record.offers.push(connection ?? '-');
      this.pairName ??= sdp ?? null;
      if (sdp !== this.pairName) return; // an offer of another pair: a real link would fail its SDP
    }
    this.awaited.delete(connection);
    if (this.awaited.size > 0) return;
    if (type === 'offer') {
      const theirs = this.pairName === null ? undefined : waitingEnds.get(this.pairName);
      if (!theirs) return; // a pair nobody made: never opens (the mesh's connect timeout ends it)
      waitingEnds.delete(this.pairName!);
      this.attach(theirs);
      this.send('answer');
    }
    this.settle.resolve();
  }

  send(channel: Channel, data: ArrayBuffer): void;
  send(kind: 'offer' | 'answer'): void;
  send(what: string, data?: ArrayBuffer): void {
    if (data) return this.end!.send(what as Channel, data);
    for (const connection of TAGS[this.type]) this.sendSignal({ type: what, sdp: this.pairName, ...(connection ? { connection } : {}) });
  }

  bufferedAmount(): number {
    return 0;
  }

  whenDrained(): Promise<void> {
    return Promise.resolve();
  }

  onMessage(handler: LinkMessageHandler): void {
    this.messageHandler = handler;
    this.end?.onMessage(handler);
  }

  onClose(handler: LinkCloseHandler): void {
    this.closeHandler = handler;
  }

  destroy(reason = 'closed locally'): void {
    this.close(reason);
  }

  private attach(end: Link): void {
    this.end = end;
    if (this.messageHandler) end.onMessage(this.messageHandler);
    end.onClose((reason) => this.close(reason));
  }

  private close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.settle.reject(new Error(reason));
    this.end?.destroy(reason);
    if (this.pairName) waitingEnds.delete(this.pairName);
    const handler = this.closeHandler;
    this.closeHandler = null;
    handler?.(reason);
  }
}

/**
 * A factory of `type` links; every link it makes is logged in `made`, so a test can count the links
 * each side started and see which offers each took.
 */
export function handshakeFactory(type: 'one' | 'split', made: MadeLink[] = []): SignalingLinkFactory {
  const factory: SignalingLinkFactory = (opts) => {
    const record: MadeLink = { selfId: opts.selfId, remoteId: opts.remoteId, offers: [] };
    made.push(record);
    return new HandshakeLink(opts.remoteId, type, record, opts.sendSignal, opts.initiator);
  };
  factory.signals = type === 'split' ? SPLIT_CONNECTION_SIGNALS : ONE_CONNECTION_SIGNALS;
  return factory;
}

/** Real timers running `factor` times faster (a 20 s link timeout takes 20 s / factor). */
export function fastTimers(factor: number): Timers {
  const start = Date.now();
  return {
    now: () => start + (Date.now() - start) * factor,
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms / factor),
    clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
    setInterval: (fn, ms) => globalThis.setInterval(fn, ms / factor),
    clearInterval: (h) => globalThis.clearInterval(h as ReturnType<typeof setInterval>),
  };
}
