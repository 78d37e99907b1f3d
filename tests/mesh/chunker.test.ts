import { describe, expect, it } from 'vitest';
import { chunkMessage, CHUNK_PAYLOAD_BYTES, MAX_FRAME_BYTES, Reassembler } from '../../src/mesh/chunker.ts';
import { decodeFrame, encodeFrame, FrameKind, type Frame } from '../../src/mesh/wire.ts';
import { MAX_CHANNEL_MESSAGE_BYTES } from '../../src/mesh/transport.ts';
import { MeshError } from '../../src/mesh/types.ts';

const HEADER = { kind: FrameKind.F32, round: 0, epoch: 5, step: 2, opId: 9 };

/** `bytes` (a multiple of 4) of distinct finite float32s, as bytes. */
function message(bytes: number): Uint8Array {
  const floats = new Float32Array(bytes / 4);
  for (let i = 0; i < floats.length; i++) floats[i] = i * 0.5 - 3;
  return new Uint8Array(floats.buffer);
}
function frames(payload: Uint8Array, chunkBytes: number): Frame[] {
  return chunkMessage(HEADER, payload, chunkBytes).map((buf) => decodeFrame(buf));
}
function feed(r: Reassembler, list: Frame[]): Uint8Array[] {
  return list.map((f) => r.accept(f)).filter((m): m is Uint8Array => m !== null);
}
function shuffled<T>(list: T[], seed: number): T[] {
  const out = [...list];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
function expectBadFrame(fn: () => unknown, fragment: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MeshError);
    expect((err as MeshError).code).toBe('ERR_BAD_FRAME');
    expect((err as MeshError).peerId).toBe('peer-x');
    expect((err as MeshError).message).toContain(fragment);
    return;
  }
  throw new Error('expected ERR_BAD_FRAME');
}

describe('chunking', () => {
  it('frames stay at most 64 KiB, far below the channel limit, and a message is cut into even frames', () => {
    expect(MAX_FRAME_BYTES).toBeLessThanOrEqual(64 * 1024);
    expect(MAX_FRAME_BYTES).toBeLessThan(MAX_CHANNEL_MESSAGE_BYTES);
    const list = chunkMessage(HEADER, message(5 * CHUNK_PAYLOAD_BYTES + 12));
    expect(list.length).toBe(6);
    for (const buf of list) expect(buf.byteLength).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    expect(list.slice(0, 5).every((b) => b.byteLength >= MAX_FRAME_BYTES / 2)).toBe(true);
  });

  it('an empty message is one empty frame', () => {
    const r = new Reassembler();
    const out = feed(r, frames(new Uint8Array(0), 64));
    expect(out.length).toBe(1);
    expect(out[0]!.byteLength).toBe(0);
  });

  for (const [bytes, chunk] of [[1000, 64], [64 * 7, 64], [12, 4]] as const) {
    it(`reassembles ${bytes} bytes in ${chunk}-byte chunks in order and out of order`, () => {
      const payload = message(bytes);
      const ordered = frames(payload, chunk);
      for (const list of [ordered, [...ordered].reverse(), shuffled(ordered, bytes)]) {
        const r = new Reassembler('peer-x');
        const out = feed(r, list);
        expect(out.length).toBe(1);
        expect(out[0]).toEqual(payload);
        expect(r.pending).toBe(0);
      }
    });
  }

  it('keeps interleaved messages (different op ids / rounds) apart', () => {
    const a = chunkMessage(HEADER, message(300), 64).map((b) => decodeFrame(b));
    const b = chunkMessage({ ...HEADER, round: 1 }, message(200).map((b) => b), 64).map((x) => decodeFrame(x));
    const r = new Reassembler();
    const out: Uint8Array[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i]) out.push(...feed(r, [a[i]!]));
      if (b[i]) out.push(...feed(r, [b[i]!]));
    }
    expect(out.length).toBe(2);
    expect(out.map((m) => m.byteLength).sort()).toEqual([200, 300]);
  });

  it('rejects a duplicate chunk', () => {
    const list = frames(message(500), 64);
    const r = new Reassembler('peer-x');
    r.accept(list[0]!);
    expectBadFrame(() => r.accept(list[0]!), 'duplicate');
  });

  it('rejects a truncated message (a chunk shorter than the sender claimed)', () => {
    const list = frames(message(256), 64);
    const short = list[1]!;
    // Re-encode chunk 1 with only half its bytes: the frame itself is well-formed, the message is not.
    list[1] = decodeFrame(encodeFrame({ ...short }, short.payload.subarray(0, 32)));
    const r = new Reassembler('peer-x');
    expectBadFrame(() => feed(r, list), 'truncated');
    // Also when the short chunk is the last to arrive.
    expectBadFrame(() => feed(new Reassembler('peer-x'), [...list].reverse()), 'truncated');
  });

  it('rejects chunks that disagree about the message', () => {
    const list = frames(message(256), 64);
    const other = decodeFrame(encodeFrame({ ...list[1]!, chunkCount: 5, totalBytes: 320 }, list[1]!.payload)); // consistent by itself
    const r = new Reassembler('peer-x');
    r.accept(list[0]!);
    expectBadFrame(() => r.accept(other), 'disagrees');
  });

  it('rejects a message whose chunks mix checked and unchecked float32 (a NaN must not ride in on an unchecked chunk)', () => {
    const list = frames(message(256), 64);
    const nan = new Uint8Array(new Float32Array(16).fill(NaN).buffer);
    const unchecked = decodeFrame(encodeFrame({ ...list[1]!, kind: FrameKind.F32Unchecked }, nan));
    const r = new Reassembler('peer-x');
    r.accept(list[0]!);
    expectBadFrame(() => r.accept(unchecked), 'kind');
  });

  it('rejects a chunk longer than its place in the message (padded)', () => {
    const list = frames(message(256), 64);
    const bigger = decodeFrame(encodeFrame({ ...list[1]!, chunkIndex: 1 }, message(200)));
    const r = new Reassembler('peer-x');
    r.accept(list[0]!);
    expectBadFrame(() => r.accept(bigger), 'padded');
  });

  it('rejects a chunk count that cannot carry the total', () => {
    const frame = decodeFrame(encodeFrame({ ...HEADER, chunkIndex: 0, chunkCount: 3, totalBytes: 8 }, message(4)));
    expectBadFrame(() => new Reassembler('peer-x').accept(frame), 'cannot carry');
  });

  it('lays chunks out so that only the last one is shorter, all on 4-byte boundaries', () => {
    for (const [total, chunkBytes] of [[1000, 64], [4, 4], [12, 8], [65_536 * 3 + 4, CHUNK_PAYLOAD_BYTES]] as const) {
      const list = chunkMessage(HEADER, message(total), chunkBytes).map((b) => decodeFrame(b));
      const sizes = list.map((f) => f.payload.byteLength);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(total);
      for (const size of sizes.slice(0, -1)) {
        expect(size).toBe(sizes[0]);
        expect(size % 4).toBe(0);
        expect(size).toBeLessThanOrEqual(chunkBytes);
      }
      expect(sizes.at(-1)).toBeGreaterThan(0);
    }
  });

  it('a checksum-corrupted chunk never reaches the reassembler', () => {
    const raw = chunkMessage(HEADER, message(256), 64);
    new Uint8Array(raw[2]!)[50]! ^= 1;
    expect(() => decodeFrame(raw[2]!, 'peer-x')).toThrow(/checksum/);
  });
});

describe('channel message limit', () => {
  it('a link refuses a message above the 262144-byte channel limit; chunked sends never exceed it', async () => {
    const { createMemoryLinkPair } = await import('../../src/mesh/memory-link.ts');
    const [a, b] = createMemoryLinkPair('peer-aaaa', 'peer-bbbb');
    expect(() => a.send('bulk', new ArrayBuffer(MAX_CHANNEL_MESSAGE_BYTES + 1))).toThrow(/exceeds/);
    const sizes: number[] = [];
    b.onMessage((_channel, data) => sizes.push(data.byteLength));
    const { sendChunked } = await import('../../src/mesh/chunker.ts');
    await sendChunked(a, 'bulk', HEADER, message(1024 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_FRAME_BYTES);
  });
});
