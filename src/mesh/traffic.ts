/**
 * Counts what this peer hands to its links: bytes and frames per channel, frame headers included, with
 * the bytes of tensor frames (statistics rows, keys, gradients: FrameKind.F32 and F32Unchecked) apart from control frames
 * (heartbeats, credit, goodbyes, padding). The mesh wraps every link it opens, so the counts are of the
 * frames actually sent, read where they leave, not reconstructed from tensor sizes. Benchmarks read
 * them per step (bytes sent per tab per step).
 */
import { FrameKind } from './wire.ts';
import type { Channel, Link } from './transport.ts';

/** Byte offset of the frame kind in a frame header (see the layout table in wire.ts). */
const KIND_OFFSET = 5;
/** Kinds whose payload is tensor data. */
const TENSOR_KINDS = new Set<number>([FrameKind.F32, FrameKind.F32Unchecked]);

/** Totals since the counter was made; `Record<Channel, …>` keeps `stats` and `bulk` apart. */
export interface TrafficTotals {
  /** Bytes sent, frame headers included. */
  bytes: Record<Channel, number>;
  /** Frames sent. */
  frames: Record<Channel, number>;
  /** Of `bytes`, those of tensor frames (FrameKind.F32, F32Unchecked); the rest is control traffic. */
  tensorBytes: Record<Channel, number>;
}

const zero = (): Record<Channel, number> => ({ stats: 0, bulk: 0 });

/** Running totals of one peer's sent traffic, over all its links. */
export class TrafficCounter {
  private readonly totals: TrafficTotals = { bytes: zero(), frames: zero(), tensorBytes: zero() };

  /** Counts one frame handed to `channel`. */
  count(channel: Channel, frame: ArrayBuffer): void {
    this.totals.bytes[channel] += frame.byteLength;
    this.totals.frames[channel] += 1;
    if (frame.byteLength > KIND_OFFSET && TENSOR_KINDS.has(new Uint8Array(frame, KIND_OFFSET, 1)[0]!)) this.totals.tensorBytes[channel] += frame.byteLength;
  }

  /** A copy of the totals (plain JSON, so a page can report it). */
  snapshot(): TrafficTotals {
    return { bytes: { ...this.totals.bytes }, frames: { ...this.totals.frames }, tensorBytes: { ...this.totals.tensorBytes } };
  }
}

/**
 * `link` with every successful send counted in `counter`; everything else passes through. A send that
 * throws (closed link, oversized message) sent nothing and is not counted.
 */
export function countedLink(link: Link, counter: TrafficCounter): Link {
  return {
    get remoteId() {
      return link.remoteId;
    },
    get open() {
      return link.open;
    },
    send(channel, data) {
      link.send(channel, data);
      counter.count(channel, data);
    },
    bufferedAmount: (channel) => link.bufferedAmount(channel),
    whenDrained: (channel, lowBytes) => link.whenDrained(channel, lowBytes),
    onMessage: (handler) => link.onMessage(handler),
    onClose: (handler) => link.onClose(handler),
    destroy: (reason) => link.destroy(reason),
  };
}
