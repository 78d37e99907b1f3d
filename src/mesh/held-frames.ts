/**
 * Frames of a membership epoch that is not formed here yet. A faster peer may start the new epoch
 * first (its membership update arrived earlier), so its first frames are held until this peer forms
 * the same epoch, or dropped when that epoch never comes. Every held frame is counted with its header
 * (a flood of zero-payload frames costs memory too), per sender; a sender over its cap is dropped.
 */
import { MeshError } from './types.ts';
import { HEADER_BYTES, MAX_MESSAGE_BYTES, type Frame } from './wire.ts';
import { CHUNK_PAYLOAD_BYTES } from './chunker.ts';

export interface HoldLimits {
  /**
   * Frames held per sender. A new epoch starts with a worker-count gather and, from rank 0, one state
   * broadcast: at most MAX_MESSAGE_BYTES / CHUNK_PAYLOAD_BYTES = 4106 frames, plus a few small ones.
   */
  maxFramesPerPeer: number;
  /** Bytes held per sender, headers included: one largest message plus the small collectives before it. */
  maxBytesPerPeer: number;
  /** Bytes held for all senders together; beyond it the oldest frames go first. */
  maxBytes: number;
  /** A frame held this long (ms) is dropped: its epoch was another peer's view and never formed here. */
  maxHoldMs: number;
}

export const DEFAULT_HOLD_LIMITS: Readonly<HoldLimits> = Object.freeze({
  maxFramesPerPeer: Math.ceil(MAX_MESSAGE_BYTES / CHUNK_PAYLOAD_BYTES) + 256,
  maxBytesPerPeer: MAX_MESSAGE_BYTES + 8 * 1024 * 1024,
  maxBytes: 160 * 1024 * 1024,
  maxHoldMs: 30_000,
});

interface Held {
  peerId: string;
  frame: Frame;
  heldAt: number;
  bytes: number;
}

interface PeerCount {
  frames: number;
  bytes: number;
}

export class HeldFrames {
  private held: Held[] = [];
  private perPeer = new Map<string, PeerCount>();
  private totalBytes = 0;
  private readonly limits: HoldLimits;

  constructor(limits: Partial<HoldLimits> = {}) {
    this.limits = { ...DEFAULT_HOLD_LIMITS, ...limits };
  }

  /** Bytes held (headers included), all senders. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Frames held, all senders. */
  get size(): number {
    return this.held.length;
  }

  /** Holds `frame` from `peerId`; throws ERR_PEER_OVER_LIMIT (naming the sender) when it is over a cap. */
  hold(peerId: string, frame: Frame, heldAt: number): void {
    const bytes = HEADER_BYTES + frame.payload.byteLength;
    const count = this.perPeer.get(peerId) ?? { frames: 0, bytes: 0 };
    if (count.frames + 1 > this.limits.maxFramesPerPeer || count.bytes + bytes > this.limits.maxBytesPerPeer) {
      throw new MeshError(
        'ERR_PEER_OVER_LIMIT',
        `peer ${peerId} over its memory limit: ${count.frames + 1} frames / ${count.bytes + bytes} bytes of epochs not formed here ` +
          `(limits ${this.limits.maxFramesPerPeer} frames, ${this.limits.maxBytesPerPeer} bytes)`,
        peerId,
      );
    }
    count.frames++;
    count.bytes += bytes;
    this.perPeer.set(peerId, count);
    this.held.push({ peerId, frame, heldAt, bytes });
    this.totalBytes += bytes;
    while (this.totalBytes > this.limits.maxBytes && this.held.length > 0) this.uncount(this.held.shift()!);
  }

  /**
   * Removes and returns the frames of `epoch` (in arrival order); also forgets frames of epochs for
   * which `isDead` holds.
   */
  take(epoch: number, isDead: (epoch: number) => boolean): Array<{ peerId: string; frame: Frame }> {
    const out: Array<{ peerId: string; frame: Frame }> = [];
    const keep: Held[] = [];
    for (const entry of this.held) {
      if (entry.frame.epoch === epoch) out.push({ peerId: entry.peerId, frame: entry.frame });
      else if (!isDead(entry.frame.epoch)) {
        keep.push(entry);
        continue;
      }
      this.uncount(entry);
    }
    this.held = keep;
    return out;
  }

  /** Drops frames held longer than the limit (call it periodically); returns how many. */
  expire(now: number): number {
    const before = this.held.length;
    const keep: Held[] = [];
    for (const entry of this.held) {
      if (now - entry.heldAt < this.limits.maxHoldMs) keep.push(entry);
      else this.uncount(entry);
    }
    this.held = keep;
    return before - keep.length;
  }

  /** Forgets everything held from `peerId` (it was dropped). */
  dropPeer(peerId: string): void {
    if (!this.perPeer.has(peerId)) return;
    const keep: Held[] = [];
    for (const entry of this.held) {
      if (entry.peerId === peerId) this.uncount(entry);
      else keep.push(entry);
    }
    this.held = keep;
  }

  private uncount(entry: Held): void {
    this.totalBytes -= entry.bytes;
    const count = this.perPeer.get(entry.peerId);
    if (!count) return;
    count.frames--;
    count.bytes -= entry.bytes;
    if (count.frames <= 0) this.perPeer.delete(entry.peerId);
  }
}
