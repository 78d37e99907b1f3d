/**
 * Wire format of peer-to-peer frames on the data channels. Every frame is one binary message:
 *
 *   offset size field
 *        0    4 magic 'SBNM' (u32 LE 0x4d4e4253)
 *        4    1 format version (WIRE_VERSION)
 *        5    1 kind (FrameKind)
 *        6    2 round: message index within one collective (ring step, …)
 *        8    4 membership epoch
 *       12    4 training step
 *       16    4 operation id (per-epoch counter, same on every peer for the same collective)
 *       20    4 chunk index
 *       24    4 chunk count
 *       28    4 total bytes of the whole message (all chunks)
 *       32    4 payload length of this frame in bytes
 *       36    4 checksum of this frame's payload (payloadChecksum: FNV-1a over u32 words)
 *       40      payload
 *
 * All integers little-endian. The header is a multiple of 4 bytes so a float32 payload can be viewed in
 * place. Decoding validates everything a peer could get wrong; any failure is a MeshError ERR_BAD_FRAME.
 */
import { MeshError } from './types.ts';

export const WIRE_MAGIC = 0x4d4e4253;
/**
 * 2: heartbeats carry the sender's step pace (16 bytes instead of 8).
 * 3: F32Unchecked frames, so the owner of a segment (validated-reduce.ts) sees a non-finite
 *    contribution and names its sender, rather than the wire dropping the sender at that owner alone.
 */
export const WIRE_VERSION = 3;
export const HEADER_BYTES = 40;
/** Payload of a heartbeat or its ack: clock (f64) and step pace (f64); see pace.ts. */
export const HEARTBEAT_BYTES = 16;

export enum FrameKind {
  /** Float32 tensor data of a collective: every element must be finite. */
  F32 = 1,
  /** Liveness probe on the stats channel; payload (16 bytes): the sender's clock and step pace (pace.ts). */
  Heartbeat = 2,
  /** Reply to a heartbeat: echoes the probe's clock (the prober measures the round trip) and gives its own pace. */
  HeartbeatAck = 3,
  /** Orderly goodbye before a link is closed. */
  Bye = 4,
  /** Opaque bytes that the receiver validates, counts and drops (throughput measurement). */
  Padding = 5,
  /** Flow-control credit: the receiver has processed this many more bulk bytes (u32 payload, 4 bytes). */
  Credit = 6,
  /**
   * Float32 tensor data whose finiteness the receiving collective checks itself (F32 layout, length a
   * multiple of 4): only a validated allReduce's contribution round, ROUND_UNCHECKED; the group refuses
   * it on any receive that did not ask for it (group-core.ts).
   */
  F32Unchecked = 7,
}
/** The only round an F32Unchecked frame may carry (the contribution round of validated-reduce.ts). */
export const ROUND_UNCHECKED = 0;
const KNOWN_KINDS = new Set<number>([FrameKind.F32, FrameKind.Heartbeat, FrameKind.HeartbeatAck, FrameKind.Bye, FrameKind.Padding, FrameKind.Credit, FrameKind.F32Unchecked]);

/** Upper bound on one reassembled message (a 64 MiB tensor), so a forged `totalBytes` cannot exhaust memory. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export const MAX_CHUNKS = 65_536;

export interface FrameHeader {
  kind: FrameKind;
  round: number;
  epoch: number;
  step: number;
  opId: number;
  chunkIndex: number;
  chunkCount: number;
  totalBytes: number;
}

export interface Frame extends FrameHeader {
  /** View into the received buffer (not a copy). */
  payload: Uint8Array;
}

/** FNV-1a 32-bit hash of bytes. */
export function fnv1a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Builds one frame: header + a copy of `payload`. */
export function encodeFrame(header: FrameHeader, payload: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(HEADER_BYTES + payload.byteLength);
  const view = new DataView(buf);
  view.setUint32(0, WIRE_MAGIC, true);
  view.setUint8(4, WIRE_VERSION);
  view.setUint8(5, header.kind);
  view.setUint16(6, header.round, true);
  view.setUint32(8, header.epoch >>> 0, true);
  view.setUint32(12, header.step >>> 0, true);
  view.setUint32(16, header.opId >>> 0, true);
  view.setUint32(20, header.chunkIndex, true);
  view.setUint32(24, header.chunkCount, true);
  view.setUint32(28, header.totalBytes, true);
  view.setUint32(32, payload.byteLength, true);
  const copy = new Uint8Array(buf, HEADER_BYTES);
  copy.set(payload);
  view.setUint32(36, payloadChecksum(copy), true);
  return buf;
}

function bad(message: string, peerId?: string): MeshError {
  return new MeshError('ERR_BAD_FRAME', `malformed frame${peerId ? ` from peer ${peerId}` : ''}: ${message}`, peerId);
}

/**
 * Payload checksum: FNV-1a 32 taken over little-endian u32 words instead of bytes (4× fewer steps; a
 * byte-wise hash cost ~7 ns/byte, the largest CPU cost of a big allReduce), then over the tail bytes.
 */
export function payloadChecksum(bytes: Uint8Array): number {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const wordCount = aligned.byteLength >>> 2;
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, wordCount);
  let h = 0x811c9dc5;
  for (let i = 0; i < wordCount; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  for (let i = wordCount * 4; i < aligned.byteLength; i++) h = Math.imul(h ^ aligned[i]!, 0x01000193);
  return h >>> 0;
}

/** True when every float32 of `bytes` (length a multiple of 4) is finite: exponent bits not all ones. */
export function allFinite(bytes: Uint8Array): boolean {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >>> 2);
  for (let i = 0; i < words.length; i++) if ((words[i]! & 0x7f800000) === 0x7f800000) return false;
  return true;
}

/**
 * Parses and validates one frame. Throws MeshError ERR_BAD_FRAME (with `peerId`, the sender) on a bad
 * magic, version, kind, length, chunk numbering, checksum, or a non-finite float where the kind forbids it.
 * `payloadChecked`: this very buffer passed decodeFrame already (in the bulk worker), so the two
 * passes over the payload (checksum, finiteness) are skipped and only the header is read again.
 */
export function decodeFrame(buf: ArrayBuffer, peerId?: string, payloadChecked = false): Frame {
  if (!(buf instanceof ArrayBuffer)) throw bad('not binary', peerId);
  if (buf.byteLength < HEADER_BYTES) throw bad(`${buf.byteLength} bytes is shorter than the ${HEADER_BYTES}-byte header`, peerId);
  const view = new DataView(buf);
  if (view.getUint32(0, true) !== WIRE_MAGIC) throw bad('bad magic', peerId);
  const version = view.getUint8(4);
  if (version !== WIRE_VERSION) throw bad(`format version ${version}, expected ${WIRE_VERSION}`, peerId);
  const kind = view.getUint8(5);
  if (!KNOWN_KINDS.has(kind)) throw bad(`unknown kind ${kind}`, peerId);
  const header: FrameHeader = {
    kind,
    round: view.getUint16(6, true),
    epoch: view.getUint32(8, true),
    step: view.getUint32(12, true),
    opId: view.getUint32(16, true),
    chunkIndex: view.getUint32(20, true),
    chunkCount: view.getUint32(24, true),
    totalBytes: view.getUint32(28, true),
  };
  const payloadLength = view.getUint32(32, true);
  if (payloadLength !== buf.byteLength - HEADER_BYTES) {
    throw bad(`payload length field ${payloadLength} but ${buf.byteLength - HEADER_BYTES} bytes follow the header`, peerId);
  }
  if (header.chunkCount < 1 || header.chunkCount > MAX_CHUNKS) throw bad(`chunk count ${header.chunkCount}`, peerId);
  if (header.chunkIndex >= header.chunkCount) throw bad(`chunk index ${header.chunkIndex} of ${header.chunkCount}`, peerId);
  if (header.totalBytes > MAX_MESSAGE_BYTES) throw bad(`message of ${header.totalBytes} bytes exceeds ${MAX_MESSAGE_BYTES}`, peerId);
  if (payloadLength > header.totalBytes) throw bad(`chunk of ${payloadLength} bytes in a ${header.totalBytes}-byte message`, peerId);
  const payload = new Uint8Array(buf, HEADER_BYTES, payloadLength);
  if (!payloadChecked && payloadChecksum(payload) !== view.getUint32(36, true)) throw bad('checksum mismatch', peerId);
  if (header.kind === FrameKind.F32) {
    if (payloadLength % 4 !== 0 || header.totalBytes % 4 !== 0) throw bad('float32 payload length not a multiple of 4', peerId);
    if (!payloadChecked && !allFinite(payload)) throw bad('non-finite float32 (NaN or Infinity) in payload', peerId);
  } else if (header.kind === FrameKind.F32Unchecked) {
    if (payloadLength % 4 !== 0 || header.totalBytes % 4 !== 0) throw bad('float32 payload length not a multiple of 4', peerId);
    if (header.round !== ROUND_UNCHECKED) throw bad(`unchecked float32 in round ${header.round} (only round ${ROUND_UNCHECKED} may carry it)`, peerId);
  } else if (header.kind === FrameKind.Bye) {
    if (payloadLength !== 0 || header.chunkCount !== 1) throw bad('a goodbye carries no payload', peerId);
  } else if (header.kind === FrameKind.Padding) {
    // any bytes
  } else if (header.kind === FrameKind.Credit) {
    if (payloadLength !== 4 || header.chunkCount !== 1) throw bad('a credit carries exactly 4 bytes', peerId);
  } else if (payloadLength !== HEARTBEAT_BYTES || header.chunkCount !== 1) {
    throw bad(`a heartbeat carries exactly ${HEARTBEAT_BYTES} bytes`, peerId);
  }
  return { ...header, payload };
}
