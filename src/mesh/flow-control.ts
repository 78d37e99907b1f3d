/**
 * Receiver-driven flow control for the bulk channel. A browser delivers data-channel messages to the
 * page's main thread as tasks, in arrival order, with no backpressure from the page: while the page is
 * busy (reducing a gradient segment), megabytes of bulk frames can pile up in its task queue, and a
 * stats frame arriving after them waits for all of them. So the sender counts bulk bytes the receiver
 * has not yet *processed*, and pauses above its window (send-window.ts: adaptive by default); the
 * receiver returns credit frames on the stats channel as it processes bulk frames. Every credit also
 * times a round trip: the receiver processes bulk in the order it was sent, so the running total of
 * credited bytes names the newest frame it covers, and that frame's send time is kept here.
 *
 * No credited byte may be lost, or the sender waits for it until its deadline: a credit the stats
 * channel refuses is kept and sent again (CREDIT_RETRY_MS), the receiver's uncredited remainder is
 * always below one batch (so below every resume mark), and closing the link releases every paused
 * sender, including one waiting for the link's own send buffer to drain.
 */
import { encodeFrame, FrameKind } from './wire.ts';
import type { SendTarget } from './chunker.ts';
import type { SendWindow, WindowPolicy } from './send-window.ts';
import type { Channel, Link } from './transport.ts';
import type { Timers } from '../util/timers.ts';

/**
 * The receiver acknowledges processed bulk bytes at least this often (and at each message's end); a
 * sender's resume mark must not be below it, or the last credit it waits for may never come.
 */
export const CREDIT_BATCH_BYTES = 16 * 1024;
/** A credit the stats channel refused (it threw while the link stays open) is sent again after this many ms. */
export const CREDIT_RETRY_MS = 10;

/** Encodes a credit frame for `bytes` processed bulk bytes. */
export function creditFrame(bytes: number): ArrayBuffer {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, bytes, true);
  return encodeFrame({ kind: FrameKind.Credit, round: 0, epoch: 0, step: 0, opId: 0, chunkIndex: 0, chunkCount: 1, totalBytes: 4 }, payload);
}

/**
 * Both directions of flow control on one link. As a SendWindow it reads through to the current
 * policy, so a sender mid-message follows the window as credits move it (or as it is replaced).
 */
export class FlowControl implements SendTarget, SendWindow {
  /** Bulk bytes sent and not yet credited by the receiver. */
  private unacked = 0;
  /** Bulk bytes ever sent on this link, and ever credited (running totals: offsets into the stream). */
  private sentTotal = 0;
  private ackedTotal = 0;
  /** Bulk frames not yet credited: the stream offset where each ends and its send time, oldest first. */
  private inFlight: Array<{ end: number; sentAtMs: number }> = [];
  /** Most bytes in flight since the last credit (did the window limit the sender?). */
  private peakUnacked = 0;
  /** Bulk bytes processed here and not yet credited to the sender. */
  private processed = 0;
  private creditRetry: unknown = null;
  /** A credit is scheduled for the end of the current task. */
  private creditDue = false;
  private waiters: Array<{ lowBytes: number; resolve(): void }> = [];
  private closed = false;
  private readonly released: Promise<void>;
  private release!: () => void;

  constructor(
    private readonly link: Link,
    private policy: WindowPolicy,
    private readonly timers: Timers,
  ) {
    this.released = new Promise((resolve) => (this.release = resolve));
  }

  get remoteId(): string {
    return this.link.remoteId;
  }
  get open(): boolean {
    return this.link.open;
  }
  get highBytes(): number {
    return this.policy.highBytes;
  }
  get lowBytes(): number {
    return this.policy.lowBytes;
  }
  /** The window policy of this link. */
  get window(): WindowPolicy {
    return this.policy;
  }
  /** Replaces the window policy (benchmarks compare policies on one live link). */
  setWindow(policy: WindowPolicy): void {
    this.policy = policy;
    this.wake();
  }

  send(channel: Channel, data: ArrayBuffer): void {
    this.link.send(channel, data);
    if (channel !== 'bulk') return;
    this.unacked += data.byteLength;
    this.sentTotal += data.byteLength;
    this.inFlight.push({ end: this.sentTotal, sentAtMs: this.timers.now() });
    this.peakUnacked = Math.max(this.peakUnacked, this.unacked);
  }

  bufferedAmount(channel: Channel): number {
    const local = this.link.bufferedAmount(channel);
    return channel === 'bulk' ? Math.max(local, this.unacked) : local;
  }

  async whenDrained(channel: Channel, lowBytes: number): Promise<void> {
    if (this.closed) return;
    // A closed link need not signal its own drain (a closed RTCPeerConnection fires no channel events).
    await Promise.race([this.link.whenDrained(channel, lowBytes), this.released]);
    if (channel !== 'bulk' || this.unacked <= lowBytes || !this.link.open || this.closed) return;
    await new Promise<void>((resolve) => this.waiters.push({ lowBytes, resolve }));
  }

  /** A credit frame arrived from the receiver. */
  onCredit(bytes: number): void {
    // A peer cannot acknowledge more than was sent to it.
    const acked = Math.min(bytes, this.unacked);
    this.unacked -= acked;
    this.ackedTotal += acked;
    let newest: (typeof this.inFlight)[number] | null = null;
    let covered = 0;
    while (covered < this.inFlight.length && this.inFlight[covered]!.end <= this.ackedTotal) newest = this.inFlight[covered++]!;
    if (covered > 0) this.inFlight.splice(0, covered);
    if (newest && acked > 0) {
      const nowMs = this.timers.now();
      this.policy.onCredit({ rttMs: nowMs - newest.sentAtMs, ackedBytes: acked, sentAtMs: newest.sentAtMs, nowMs, peakInFlightBytes: this.peakUnacked });
    }
    this.peakUnacked = this.unacked;
    this.wake();
  }

  /**
   * A bulk frame of `bytes` was processed here; sends a credit when one is due (`lastOfMessage`: the
   * sender may be waiting for exactly this message's bytes).
   */
  onBulkProcessed(bytes: number, lastOfMessage: boolean): void {
    this.processed += bytes;
    if (this.creditDue || !(this.processed >= CREDIT_BATCH_BYTES || lastOfMessage)) return;
    // Sent once the current task's frames are processed: one credit for a batch of frames from the
    // bulk worker, not one per frame (a data-channel send costs the page ~80 µs here). Frames that
    // arrive one task each still get one credit each, as before.
    this.creditDue = true;
    queueMicrotask(() => {
      this.creditDue = false;
      this.sendCredit();
    });
  }

  /** The link closed: release every paused sender (its next send fails with ERR_PEER_LEFT). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unacked = 0;
    this.inFlight = [];
    if (this.creditRetry !== null) this.timers.clearTimeout(this.creditRetry);
    this.creditRetry = null;
    this.release();
    this.wake();
  }

  private sendCredit(): void {
    if (this.closed || this.processed === 0 || !this.link.open) return;
    try {
      this.link.send('stats', creditFrame(this.processed));
      this.processed = 0;
    } catch {
      // Kept in `processed`: the next bulk frame or the retry sends it. Lost, it would hold the
      // sender's window short by this much for the life of the link.
      this.creditRetry ??= this.timers.setTimeout(() => {
        this.creditRetry = null;
        this.sendCredit();
      }, CREDIT_RETRY_MS);
    }
  }

  private wake(): void {
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      // A window that grew since the sender paused lets it go sooner.
      if (this.unacked <= Math.max(waiter.lowBytes, this.policy.lowBytes) || !this.link.open || this.closed) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }
}
