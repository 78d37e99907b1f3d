/**
 * WebRTC Link on simple-peer 9.11.1. simple-peer does the offer/answer/trickle-ICE dance; the two
 * channels we send on are our own RTCDataChannels created with `negotiated: true` and fixed stream ids
 * on both sides of `peer._pc`. Why not simple-peer's channel: raw channels hand us ArrayBuffers (no
 * Buffer/stream wrapping) and expose bufferedAmountLowThreshold for backpressure. simple-peer's own
 * channel only serves its connect detection. One peer connection (one ICE/DTLS/SCTP handshake) carries
 * both channels as separate SCTP streams: `stats` overtakes bulk still waiting in this tab's send
 * queue, but not bulk the association has already taken on (bench:mesh: a stats ping beside plain bulk
 * with 1 MiB buffered took ~24 ms on one connection, ~0.5 ms on a second one). That is why bulk is
 * flow-controlled to a small window (flow-control.ts); statistics on a second connection would lift it.
 * With the bulk worker on (bulk-worker/host.ts), the bulk channel is handed to it right after it is
 * created: bulk frames are then received, validated and sent off the page's main thread and reach
 * this link in batches, so a statistics message waits behind one batch rather than every bulk frame
 * already in the page's task queue (bench:mesh: under a large window most of the wait was elsewhere,
 * in the browser's transport, so the worker is opt-in).
 */
import SimplePeer from 'simple-peer';
import { adoptBulkChannel, type BulkChannel } from './bulk-worker/host.ts';
import { MAX_CHANNEL_MESSAGE_BYTES, type Channel, type ConnectingLink, type LinkCloseHandler, type LinkFactoryOptions, type LinkMessageHandler } from './transport.ts';

/** SCTP stream ids of our negotiated channels (far above the ids Chromium assigns to in-band channels). */
const STREAM_IDS: Record<Channel, number> = { stats: 1000, bulk: 1001 };
/** ICE 'disconnected' that lasts this long counts as a dropped link (it is often transient). */
export const ICE_DISCONNECTED_GRACE_MS = 2_000;

interface RawPeer {
  _pc: RTCPeerConnection;
}

export class SimplePeerLink implements ConnectingLink {
  readonly remoteId: string;
  readonly opened: Promise<void>;
  private peer: SimplePeer.Instance;
  private channels: Record<Channel, RTCDataChannel>;
  /** The bulk channel's stand-in when the bulk worker owns it (then `channels.bulk` is detached). */
  private bulkInWorker: BulkChannel | null = null;
  private messageHandler: LinkMessageHandler | null = null;
  private closeHandler: LinkCloseHandler | null = null;
  private early: Array<[Channel, ArrayBuffer, boolean]> = [];
  private destroyed = false;
  private openCount = 0;
  private disconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private resolveOpened!: () => void;
  private rejectOpened!: (err: Error) => void;

  constructor(opts: LinkFactoryOptions) {
    this.remoteId = opts.remoteId;
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    this.opened.catch(() => {}); // observed through onClose as well
    this.peer = new SimplePeer({ initiator: opts.initiator, trickle: true, config: { iceServers: opts.iceServers } });
    const pc = (this.peer as unknown as RawPeer)._pc;
    const make = (channel: Channel): RTCDataChannel => {
      const dc = pc.createDataChannel(`sbn-${channel}`, { negotiated: true, id: STREAM_IDS[channel], ordered: true, priority: channel === 'stats' ? 'high' : 'very-low' } as RTCDataChannelInit);
      dc.binaryType = 'arraybuffer';
      dc.onopen = () => {
        if (++this.openCount === 2) this.resolveOpened();
      };
      dc.onclose = () => this.close(`${channel} data channel closed`);
      dc.onerror = (ev) => this.close(`${channel} data channel error: ${(ev as RTCErrorEvent).error?.message ?? 'unknown'}`);
      dc.onmessage = (ev: MessageEvent) => this.onChannelMessage(channel, ev.data);
      return dc;
    };
    this.channels = { stats: make('stats'), bulk: make('bulk') };
    // In the task that created it: a channel can move to a worker only before it has started.
    this.bulkInWorker = adoptBulkChannel(this.channels.bulk, {
      onOpen: () => {
        if (++this.openCount === 2) this.resolveOpened();
      },
      onFrames: (frames, checked) => {
        for (const frame of frames) {
          if (this.destroyed) return;
          this.onChannelMessage('bulk', frame, checked);
        }
      },
      onClose: (reason) => this.close(reason),
    });
    if (this.bulkInWorker) this.channels.bulk.onopen = this.channels.bulk.onclose = this.channels.bulk.onerror = this.channels.bulk.onmessage = null;
    this.peer.on('signal', (data) => {
      if (!this.destroyed) opts.sendSignal(data);
    });
    this.peer.on('error', (err: Error & { code?: string }) => this.close(`WebRTC error ${err.code ?? ''}: ${err.message}`));
    this.peer.on('close', () => this.close('peer connection closed'));
    this.peer.on('iceStateChange', (state: string) => this.onIceState(state));
  }

  get open(): boolean {
    return !this.destroyed && this.openCount === 2;
  }

  signal(data: unknown): void {
    if (this.destroyed) return;
    try {
      this.peer.signal(data as SimplePeer.SignalData);
    } catch (err) {
      this.close(`bad signal: ${(err as Error).message}`);
    }
  }

  send(channel: Channel, data: ArrayBuffer): void {
    if (data.byteLength > MAX_CHANNEL_MESSAGE_BYTES) {
      throw new RangeError(`message of ${data.byteLength} bytes exceeds the channel limit of ${MAX_CHANNEL_MESSAGE_BYTES}`);
    }
    if (!this.open) throw new Error(`link to ${this.remoteId} is not open`);
    if (channel === 'bulk' && this.bulkInWorker) this.bulkInWorker.send(data);
    else this.channels[channel].send(data);
  }

  bufferedAmount(channel: Channel): number {
    if (channel === 'bulk' && this.bulkInWorker) return this.bulkInWorker.bufferedAmount;
    return this.channels[channel].bufferedAmount;
  }

  whenDrained(channel: Channel, lowBytes: number): Promise<void> {
    if (channel === 'bulk' && this.bulkInWorker) return this.open ? this.bulkInWorker.whenDrained(lowBytes) : Promise.resolve();
    const dc = this.channels[channel];
    if (dc.bufferedAmount <= lowBytes || !this.open) return Promise.resolve();
    return new Promise((resolve) => {
      dc.bufferedAmountLowThreshold = lowBytes;
      const done = () => {
        dc.removeEventListener('bufferedamountlow', done);
        dc.removeEventListener('close', done);
        resolve();
      };
      dc.addEventListener('bufferedamountlow', done);
      dc.addEventListener('close', done);
    });
  }

  onMessage(handler: LinkMessageHandler): void {
    this.messageHandler = handler;
    const early = this.early;
    this.early = [];
    for (const [channel, data, checked] of early) handler(channel, data, checked);
  }

  onClose(handler: LinkCloseHandler): void {
    this.closeHandler = handler;
  }

  destroy(reason = 'closed locally'): void {
    this.close(reason);
  }

  private onChannelMessage(channel: Channel, data: unknown, checked = false): void {
    if (this.destroyed) return;
    // Text messages are passed on as-is: the wire decoder rejects them as malformed frames.
    const buf = data as ArrayBuffer;
    if (this.messageHandler) this.messageHandler(channel, buf, checked);
    else this.early.push([channel, buf, checked]);
  }

  private onIceState(state: string): void {
    if (this.destroyed) return;
    if (state === 'disconnected') {
      this.disconnectTimer ??= setTimeout(() => this.close(`ICE disconnected for ${ICE_DISCONNECTED_GRACE_MS} ms`), ICE_DISCONNECTED_GRACE_MS);
    } else if (state === 'failed' || state === 'closed') {
      this.close(`ICE ${state}`);
    } else if (this.disconnectTimer !== null) {
      clearTimeout(this.disconnectTimer);
      this.disconnectTimer = null;
    }
  }

  private close(reason: string): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.disconnectTimer !== null) clearTimeout(this.disconnectTimer);
    this.bulkInWorker?.close();
    this.rejectOpened(new Error(`link to ${this.remoteId} closed before opening: ${reason}`));
    for (const dc of Object.values(this.channels)) {
      dc.onopen = dc.onclose = dc.onerror = dc.onmessage = null;
      try {
        dc.close();
      } catch {
        // already closed
      }
    }
    this.peer.removeAllListeners();
    this.peer.on('error', () => {}); // late errors of a destroyed peer are expected
    this.peer.destroy();
    const handler = this.closeHandler;
    this.closeHandler = null;
    this.messageHandler = null;
    handler?.(reason);
  }
}

/** LinkFactory for the WebRTC mesh. */
export function createSimplePeerLink(opts: LinkFactoryOptions): ConnectingLink {
  return new SimplePeerLink(opts);
}
