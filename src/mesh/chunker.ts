/**
 * Splits a message into frames of at most MAX_FRAME_BYTES (well under the channel's 262144-byte limit)
 * and sends them with backpressure; reassembles frames back into messages on the receiving side.
 */
import { encodeFrame, FrameKind, HEADER_BYTES, MAX_MESSAGE_BYTES, type Frame, type FrameHeader } from './wire.ts';
import { MeshError } from './types.ts';
import { FIXED_HIGH_BYTES, FIXED_LOW_BYTES, type SendWindow } from './send-window.ts';
import type { Channel, Link } from './transport.ts';

/**
 * One frame on the wire, header included. SCTP schedules between streams only at message boundaries,
 * and the receiving page handles messages one task each in arrival order, so a stats frame waits for
 * the bulk frame in progress: 16 KiB is ~1 ms at 16 MB/s (32 KiB frames measured no faster here).
 */
export const MAX_FRAME_BYTES = 16 * 1024;
/** Payload bytes per frame: a multiple of 4 so every chunk holds whole float32s. */
export const CHUNK_PAYLOAD_BYTES = Math.floor((MAX_FRAME_BYTES - HEADER_BYTES) / 4) * 4;

/** What sendChunked needs of a link (a Link, or flow-control's wrapper around one). */
export type SendTarget = Pick<Link, 'remoteId' | 'open' | 'send' | 'bufferedAmount' | 'whenDrained'>;

export type MessageHeader = Omit<FrameHeader, 'chunkIndex' | 'chunkCount' | 'totalBytes'>;

/**
 * How a message of `totalBytes` is cut: `count` frames, every one but the last carrying exactly
 * `size` bytes (a multiple of 4, ≤ chunkBytes). The receiver derives the same layout from the header's
 * total and count, so it can place each chunk at its offset on arrival and check its exact length.
 */
export function chunkLayout(totalBytes: number, chunkCount: number): { size: number; last: number } {
  const size = Math.ceil(Math.ceil(totalBytes / chunkCount) / 4) * 4;
  return { size, last: totalBytes - (chunkCount - 1) * size };
}

/** Number of frames a message of `totalBytes` is split into (at least one, even when empty). */
export function chunkCountFor(totalBytes: number, chunkBytes = CHUNK_PAYLOAD_BYTES): number {
  return Math.max(1, Math.ceil(totalBytes / chunkBytes));
}

function chunkOf(payload: Uint8Array, index: number, size: number): Uint8Array {
  return payload.subarray(index * size, Math.min(payload.byteLength, (index + 1) * size));
}

/** Encodes `payload` as a list of frames (for tests and for callers without a link). */
export function chunkMessage(header: MessageHeader, payload: Uint8Array, chunkBytes = CHUNK_PAYLOAD_BYTES): ArrayBuffer[] {
  const chunkCount = chunkCountFor(payload.byteLength, chunkBytes);
  const { size } = chunkLayout(payload.byteLength, chunkCount);
  const frames: ArrayBuffer[] = [];
  for (let i = 0; i < chunkCount; i++) {
    frames.push(encodeFrame({ ...header, chunkIndex: i, chunkCount, totalBytes: payload.byteLength }, chunkOf(payload, i, size)));
  }
  return frames;
}

/**
 * Sends `payload` over `link`'s `channel` in chunks, waiting for the channel's buffer to drain below
 * `window.lowBytes` whenever it exceeds `window.highBytes` (so a 16 MiB tensor never sits in one queue).
 * The marks are read before every frame: flow control passes itself, whose marks follow its window.
 * `guard` wraps every such wait (the endpoint gives it a deadline, so a receiver that never grants
 * credit fails the send instead of stalling it).
 */
export async function sendChunked(
  link: SendTarget,
  channel: Channel,
  header: MessageHeader,
  payload: Uint8Array,
  chunkBytes = CHUNK_PAYLOAD_BYTES,
  guard: (drained: Promise<void>) => Promise<void> = (drained) => drained,
  window: SendWindow = { highBytes: FIXED_HIGH_BYTES, lowBytes: FIXED_LOW_BYTES },
): Promise<void> {
  if (payload.byteLength > MAX_MESSAGE_BYTES) {
    throw new RangeError(`message of ${payload.byteLength} bytes exceeds MAX_MESSAGE_BYTES (${MAX_MESSAGE_BYTES})`);
  }
  const chunkCount = chunkCountFor(payload.byteLength, chunkBytes);
  const { size } = chunkLayout(payload.byteLength, chunkCount);
  for (let i = 0; i < chunkCount; i++) {
    if (link.bufferedAmount(channel) > window.highBytes) await guard(link.whenDrained(channel, window.lowBytes));
    if (!link.open) throw new MeshError('ERR_PEER_LEFT', `link to ${link.remoteId} closed while sending`, link.remoteId);
    link.send(channel, encodeFrame({ ...header, chunkIndex: i, chunkCount, totalBytes: payload.byteLength }, chunkOf(payload, i, size)));
  }
}

/**
 * What one peer may keep in half-received messages. Nothing is allocated from a declared size: chunks
 * are kept as they arrive and copied into one buffer when the last one is in, so memory follows the
 * bytes actually received, and these caps bound those.
 */
export interface ReassemblyLimits {
  /**
   * Incomplete messages of one peer at once. A peer sends one message at a time per collective and
   * per channel, so a healthy one has a handful in flight; 64 leaves room for a ring's pieces.
   */
  maxPartialMessages: number;
  /**
   * Declared total bytes of one peer's incomplete messages (the received bytes are at most that):
   * two of the largest messages, e.g. a state broadcast racing a gradient all-reduce.
   */
  maxPartialBytes: number;
  /** An incomplete message older than this (ms) is dropped: its sender gave up on it (a timed-out collective). */
  maxPartialAgeMs: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: Readonly<ReassemblyLimits> = Object.freeze({
  maxPartialMessages: 64,
  maxPartialBytes: 2 * MAX_MESSAGE_BYTES,
  maxPartialAgeMs: 30_000,
});

interface PartialMessage {
  kind: FrameKind;
  chunkCount: number;
  totalBytes: number;
  size: number;
  /** Chunks received so far by index (views into their frames' buffers). */
  chunks: Map<number, Uint8Array>;
  startedMs: number;
}

/**
 * Reassembles chunked messages of one sender. Tolerates out-of-order chunks; a duplicate chunk, a chunk
 * of the wrong length (truncated or padded), or a chunk whose count/total disagree with the first one
 * is ERR_BAD_FRAME (the sender is broken or hostile); more incomplete messages or declared bytes than
 * its limits allow is ERR_PEER_OVER_LIMIT.
 */
export class Reassembler {
  private partials = new Map<string, PartialMessage>();
  private declaredBytes = 0;
  private readonly limits: ReassemblyLimits;

  constructor(
    private readonly peerId?: string,
    limits: Partial<ReassemblyLimits> = {},
    private readonly now: () => number = () => 0,
  ) {
    this.limits = { ...DEFAULT_REASSEMBLY_LIMITS, ...limits };
  }

  /**
   * Returns the complete message when `frame` was its last missing chunk, else null. A single-chunk
   * message is returned as a view into the frame's buffer (no copy).
   */
  accept(frame: Frame): Uint8Array | null {
    const { size, last } = chunkLayout(frame.totalBytes, frame.chunkCount);
    if (last < 0 || (last === 0 && frame.chunkCount > 1)) this.fail(`${frame.chunkCount} chunks cannot carry ${frame.totalBytes} bytes`);
    const expected = frame.chunkIndex === frame.chunkCount - 1 ? last : size;
    if (frame.payload.byteLength !== expected) {
      this.fail(`chunk ${frame.chunkIndex} of op ${frame.opId} has ${frame.payload.byteLength} bytes, expected ${expected} (truncated or padded)`);
    }
    if (frame.chunkCount === 1) return frame.payload;
    const key = `${frame.epoch}:${frame.opId}:${frame.round}`;
    let partial = this.partials.get(key);
    if (!partial) {
      if (this.partials.size >= this.limits.maxPartialMessages) {
        this.overLimit(`${this.partials.size + 1} incomplete messages (limit ${this.limits.maxPartialMessages})`);
      }
      if (this.declaredBytes + frame.totalBytes > this.limits.maxPartialBytes) {
        this.overLimit(`incomplete messages declaring ${this.declaredBytes + frame.totalBytes} bytes (limit ${this.limits.maxPartialBytes})`);
      }
      partial = { kind: frame.kind, chunkCount: frame.chunkCount, totalBytes: frame.totalBytes, size, chunks: new Map(), startedMs: this.now() };
      this.partials.set(key, partial);
      this.declaredBytes += frame.totalBytes;
    }
    // The same kind throughout: a checked message must not carry unchecked chunks (wire.ts F32Unchecked).
    if (partial.chunkCount !== frame.chunkCount || partial.totalBytes !== frame.totalBytes || partial.kind !== frame.kind) {
      this.remove(key);
      this.fail(`chunk ${frame.chunkIndex} disagrees with its message (count/total/kind)`);
    }
    if (partial.chunks.has(frame.chunkIndex)) {
      this.remove(key);
      this.fail(`duplicate chunk ${frame.chunkIndex} of op ${frame.opId}`);
    }
    partial.chunks.set(frame.chunkIndex, frame.payload);
    if (partial.chunks.size < partial.chunkCount) return null;
    this.remove(key);
    const data = new Uint8Array(partial.totalBytes);
    for (const [index, chunk] of partial.chunks) data.set(chunk, index * partial.size);
    return data;
  }

  /** Drops partial messages of epochs other than `epoch` (after a membership change). */
  retainEpoch(epoch: number): void {
    for (const key of [...this.partials.keys()]) if (!key.startsWith(`${epoch}:`)) this.remove(key);
  }

  /** Drops incomplete messages older than the age limit; returns how many. */
  expire(): number {
    const cutoff = this.now() - this.limits.maxPartialAgeMs;
    let dropped = 0;
    for (const [key, partial] of [...this.partials]) {
      if (partial.startedMs > cutoff) continue;
      this.remove(key);
      dropped++;
    }
    return dropped;
  }

  /** Number of messages still incomplete. */
  get pending(): number {
    return this.partials.size;
  }

  /** Bytes of chunks held for incomplete messages (what they really occupy, headers included). */
  get heldBytes(): number {
    let bytes = 0;
    for (const partial of this.partials.values()) for (const chunk of partial.chunks.values()) bytes += chunk.byteLength + HEADER_BYTES;
    return bytes;
  }

  private remove(key: string): void {
    const partial = this.partials.get(key);
    if (!partial) return;
    this.partials.delete(key);
    this.declaredBytes -= partial.totalBytes;
  }

  private fail(message: string): never {
    throw new MeshError('ERR_BAD_FRAME', `malformed message: ${message}`, this.peerId);
  }

  private overLimit(message: string): never {
    throw new MeshError('ERR_PEER_OVER_LIMIT', `peer ${this.peerId ?? '?'} over its memory limit: ${message}`, this.peerId);
  }
}
