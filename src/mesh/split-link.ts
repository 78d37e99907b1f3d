/**
 * A link whose two channels ride on two peer connections: `stats` on one, `bulk` on the other, each
 * its own SCTP association. On one connection a stats message waits behind the bulk the association
 * has already taken on (bench:mesh: ~24 ms beside plain bulk with 1 MiB buffered, ~0.5 ms with stats on
 * a second connection), which is why bulk runs in a small flow-control window there. Apart, bulk can
 * keep more in flight without delaying statistics. The price: two ICE/DTLS set-ups per pair. Both
 * sides of a pair must use this factory; a peer that signals as a single connection is refused.
 */
import { createSimplePeerLink } from './simple-peer-link.ts';
import { SPLIT_CONNECTION_SIGNALS } from './link-signals.ts';
import { CHANNELS, type Channel, type ConnectingLink, type LinkCloseHandler, type LinkFactory, type LinkFactoryOptions, type LinkMessageHandler } from './transport.ts';

/** A signaling payload tagged with the connection it belongs to (src/signaling/protocol.ts SignalData). */
type SplitSignal = Record<string, unknown> & { connection: Channel };

function isSplitSignal(x: unknown): x is SplitSignal {
  if (typeof x !== 'object' || x === null) return false;
  return CHANNELS.includes((x as { connection?: unknown }).connection as Channel);
}

export class SplitLink implements ConnectingLink {
  readonly remoteId: string;
  readonly opened: Promise<void>;
  private readonly parts: Record<Channel, ConnectingLink>;
  private closeHandler: LinkCloseHandler | null = null;
  private closed = false;

  constructor(opts: LinkFactoryOptions, inner: LinkFactory = createSimplePeerLink) {
    this.remoteId = opts.remoteId;
    const part = (channel: Channel) => inner({ ...opts, sendSignal: (data) => opts.sendSignal({ ...(data as object), connection: channel }) });
    this.parts = { stats: part('stats'), bulk: part('bulk') };
    this.opened = Promise.all([this.parts.stats.opened, this.parts.bulk.opened]).then(() => undefined);
    this.opened.catch(() => {}); // observed through onClose as well
    for (const channel of CHANNELS) {
      this.parts[channel].onClose((reason) => this.close(`${channel} connection: ${reason}`));
    }
  }

  get open(): boolean {
    return !this.closed && this.parts.stats.open && this.parts.bulk.open;
  }

  signal(data: unknown): void {
    if (this.closed) return;
    if (!isSplitSignal(data)) {
      this.close('bad signal: the peer does not carry statistics on a connection of their own (both sides must use split links)');
      return;
    }
    const { connection, ...payload } = data;
    this.parts[connection].signal(payload);
  }

  send(channel: Channel, data: ArrayBuffer): void {
    this.parts[channel].send(channel, data);
  }

  bufferedAmount(channel: Channel): number {
    return this.parts[channel].bufferedAmount(channel);
  }

  whenDrained(channel: Channel, lowBytes: number): Promise<void> {
    return this.parts[channel].whenDrained(channel, lowBytes);
  }

  onMessage(handler: LinkMessageHandler): void {
    // Each connection carries both channels; whatever arrives is passed on with the channel it came on.
    this.parts.stats.onMessage(handler);
    this.parts.bulk.onMessage(handler);
  }

  onClose(handler: LinkCloseHandler): void {
    this.closeHandler = handler;
  }

  destroy(reason = 'closed locally'): void {
    this.close(reason);
  }

  private close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const channel of CHANNELS) this.parts[channel].destroy(reason);
    const handler = this.closeHandler;
    this.closeHandler = null;
    handler?.(reason);
  }
}

/** LinkFactory for a WebRTC mesh with statistics on a connection of their own. */
export function createSplitLink(opts: LinkFactoryOptions): ConnectingLink {
  return new SplitLink(opts);
}
/** How the mesh reads this link's signals: each payload names its connection (link-signals.ts). */
createSplitLink.signals = SPLIT_CONNECTION_SIGNALS;
