/**
 * Receiver-driven flow control for the bulk channel. A browser delivers data-channel messages to the
 * page's main thread as tasks, in arrival order, with no backpressure from the page: while the page is
 * busy (reducing a gradient segment), megabytes of bulk frames can pile up in its task queue, and a
 * stats frame arriving after them waits for all of them. So the sender counts bulk bytes the receiver
 * has not yet *processed*, and pauses above its window (BUFFER_HIGH_BYTES by default); the receiver
 * returns credit frames on the stats channel as it processes bulk frames. The backlog at the receiver
 * stays within the window plus one frame.
 */
import { encodeFrame, FrameKind } from './wire.ts';
import type { SendTarget } from './chunker.ts';
import type { Channel, Link } from './transport.ts';

/**
 * The receiver acknowledges processed bulk bytes at least this often (and at each message's end); a
 * sender's resume mark must not be below it, or the last credit it waits for may never come.
 */
export const CREDIT_BATCH_BYTES = 16 * 1024;

/** Encodes a credit frame for `bytes` processed bulk bytes. */
export function creditFrame(bytes: number): ArrayBuffer {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, bytes, true);
  return encodeFrame({ kind: FrameKind.Credit, round: 0, epoch: 0, step: 0, opId: 0, chunkIndex: 0, chunkCount: 1, totalBytes: 4 }, payload);
}

/** Both directions of flow control on one link. */
export class FlowControl implements SendTarget {
  /** Bulk bytes sent and not yet credited by the receiver. */
  private unacked = 0;
  /** Bulk bytes processed here and not yet credited to the sender. */
  private processed = 0;
  private waiters: Array<{ lowBytes: number; resolve(): void }> = [];

  constructor(private readonly link: Link) {}

  get remoteId(): string {
    return this.link.remoteId;
  }
  get open(): boolean {
    return this.link.open;
  }

  send(channel: Channel, data: ArrayBuffer): void {
    this.link.send(channel, data);
    if (channel === 'bulk') this.unacked += data.byteLength;
  }

  bufferedAmount(channel: Channel): number {
    const local = this.link.bufferedAmount(channel);
    return channel === 'bulk' ? Math.max(local, this.unacked) : local;
  }

  async whenDrained(channel: Channel, lowBytes: number): Promise<void> {
    await this.link.whenDrained(channel, lowBytes);
    if (channel !== 'bulk' || this.unacked <= lowBytes || !this.link.open) return;
    await new Promise<void>((resolve) => this.waiters.push({ lowBytes, resolve }));
  }

  /** A credit frame arrived from the receiver. */
  onCredit(bytes: number): void {
    this.unacked = Math.max(0, this.unacked - bytes);
    this.wake();
  }

  /**
   * A bulk frame of `bytes` was processed here; returns a credit frame to send back when one is due
   * (`lastOfMessage`: the sender may be waiting for exactly this message's bytes).
   */
  onBulkProcessed(bytes: number, lastOfMessage: boolean): ArrayBuffer | null {
    this.processed += bytes;
    if (this.processed < CREDIT_BATCH_BYTES && !lastOfMessage) return null;
    const credit = creditFrame(this.processed);
    this.processed = 0;
    return credit;
  }

  /** The link closed: release every paused sender (its next send fails with ERR_PEER_LEFT). */
  close(): void {
    this.unacked = 0;
    this.wake();
  }

  private wake(): void {
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (this.unacked <= waiter.lowBytes || !this.link.open) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }
}
