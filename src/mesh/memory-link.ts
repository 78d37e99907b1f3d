/**
 * In-process Link pairs: what the memory process groups (memory.ts) and the unit tests run on. Messages
 * are copied (like a real network) and delivered asynchronously in order per channel.
 */
import { MAX_CHANNEL_MESSAGE_BYTES, type Channel, type Link, type LinkFactory, type LinkCloseHandler, type LinkMessageHandler } from './transport.ts';

class MemoryLink implements Link {
  other: MemoryLink | null = null;
  private messageHandler: LinkMessageHandler | null = null;
  private closeHandler: LinkCloseHandler | null = null;
  private closed = false;
  /** Messages that arrived before a handler was registered. */
  private early: Array<[Channel, ArrayBuffer]> = [];

  constructor(readonly remoteId: string) {}

  get open(): boolean {
    return !this.closed;
  }

  send(channel: Channel, data: ArrayBuffer): void {
    if (this.closed) throw new Error(`link to ${this.remoteId} is closed`);
    if (data.byteLength > MAX_CHANNEL_MESSAGE_BYTES) {
      throw new Error(`message of ${data.byteLength} bytes exceeds the channel limit of ${MAX_CHANNEL_MESSAGE_BYTES}`);
    }
    const copy = data.slice(0);
    const target = this.other!;
    // Microtasks keep per-link order and do not depend on timers, so fake timers in tests don't stall delivery.
    queueMicrotask(() => target.deliver(channel, copy));
  }

  private deliver(channel: Channel, data: ArrayBuffer): void {
    if (this.closed) return;
    if (this.messageHandler) this.messageHandler(channel, data);
    else this.early.push([channel, data]);
  }

  bufferedAmount(): number {
    return 0;
  }

  whenDrained(): Promise<void> {
    return Promise.resolve();
  }

  onMessage(handler: LinkMessageHandler): void {
    this.messageHandler = handler;
    const early = this.early;
    this.early = [];
    for (const [channel, data] of early) handler(channel, data);
  }

  onClose(handler: LinkCloseHandler): void {
    this.closeHandler = handler;
  }

  destroy(reason = 'closed locally'): void {
    if (this.closed) return;
    this.close(reason);
    const other = this.other;
    if (other) queueMicrotask(() => other.close('remote closed the link'));
  }

  private close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const handler = this.closeHandler;
    this.closeHandler = null;
    this.messageHandler = null;
    handler?.(reason);
  }
}

/** Creates a connected pair: `[a, b]` where `a` is a's link to `idB`, `b` is b's link to `idA`. */
export function createMemoryLinkPair(idA: string, idB: string): [Link, Link] {
  const a = new MemoryLink(idB);
  const b = new MemoryLink(idA);
  a.other = b;
  b.other = a;
  return [a, b];
}

/**
 * A LinkFactory for Meshes in one process (Node tests of the mesh logic without WebRTC): the two sides'
 * factory calls for a pair meet in this hub and get the two ends of one in-memory pair. The initiator
 * sends one token offer through signaling (so the other side creates its end, as with WebRTC); the link
 * opens once both sides have asked for it.
 */
export class MemoryLinkHub {
  private pairs = new Map<string, { ends: [Link, Link]; opened: Promise<void>; open(): void; claimed: number }>();

  readonly factory: LinkFactory = ({ selfId, remoteId, initiator, sendSignal }) => {
    const [first, second] = [selfId, remoteId].sort() as [string, string];
    const key = `${first}|${second}`;
    let entry = this.pairs.get(key);
    if (!entry || entry.claimed === 2) {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      entry = { ends: createMemoryLinkPair(first, second), opened, open, claimed: 0 };
      this.pairs.set(key, entry);
    }
    entry.claimed++;
    if (entry.claimed === 2) entry.open();
    if (initiator) sendSignal({ type: 'offer', sdp: 'memory-link' });
    const end = selfId === first ? entry.ends[0] : entry.ends[1];
    return Object.assign(end, { signal: () => {}, opened: entry.opened });
  };

  /** Breaks the current link between two peers (a network failure: both ends see it close). */
  cut(idA: string, idB: string): void {
    this.pairs.get([idA, idB].sort().join('|'))?.ends[0].destroy('link cut');
  }
}
