import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, fnv1a, FrameKind, HEADER_BYTES, ROUND_UNCHECKED, WIRE_MAGIC, WIRE_VERSION, type FrameHeader } from '../../src/mesh/wire.ts';
import { MeshError } from '../../src/mesh/types.ts';

const HEADER: FrameHeader = { kind: FrameKind.F32, round: 3, epoch: 0xdeadbeef, step: 41, opId: 7, chunkIndex: 1, chunkCount: 3, totalBytes: 64 };

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}
function expectBad(buf: ArrayBuffer, fragment: string): void {
  let caught: unknown;
  try {
    decodeFrame(buf, 'peer-abcdef');
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MeshError);
  expect((caught as MeshError).code).toBe('ERR_BAD_FRAME');
  expect((caught as MeshError).peerId).toBe('peer-abcdef');
  expect((caught as MeshError).message).toContain(fragment);
}
/** Re-computes the checksum after a header edit, so only the intended field is wrong. */
function withHeaderEdit(buf: ArrayBuffer, edit: (view: DataView) => void): ArrayBuffer {
  const copy = buf.slice(0);
  edit(new DataView(copy));
  return copy;
}

describe('wire format', () => {
  it('round-trips every header field and the payload', () => {
    const payload = f32Bytes([1.5, -2, 3.25, 0]);
    const buf = encodeFrame(HEADER, payload);
    expect(buf.byteLength).toBe(HEADER_BYTES + 16);
    const frame = decodeFrame(buf);
    const { payload: got, ...header } = frame;
    expect(header).toEqual(HEADER);
    expect([...new Float32Array(got.slice().buffer)]).toEqual([1.5, -2, 3.25, 0]);
  });

  it('lays out the header as documented (little-endian, magic first)', () => {
    const view = new DataView(encodeFrame(HEADER, f32Bytes([1])));
    expect(view.getUint32(0, true)).toBe(WIRE_MAGIC);
    expect(String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3))).toBe('SBNM');
    expect(view.getUint8(4)).toBe(WIRE_VERSION);
    expect(view.getUint32(8, true)).toBe(0xdeadbeef);
    expect(view.getUint32(32, true)).toBe(4);
  });

  it('FNV-1a matches the published test vectors', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(fnv1a(enc(''))).toBe(0x811c9dc5);
    expect(fnv1a(enc('a'))).toBe(0xe40c292c);
    expect(fnv1a(enc('foobar'))).toBe(0xbf9cf968);
  });

  it('heartbeats carry 8 bytes, goodbyes none', () => {
    const hb = encodeFrame({ ...HEADER, kind: FrameKind.Heartbeat, chunkIndex: 0, chunkCount: 1, totalBytes: 16 }, new Uint8Array(16));
    expect(decodeFrame(hb).kind).toBe(FrameKind.Heartbeat);
    expectBad(encodeFrame({ ...HEADER, kind: FrameKind.Heartbeat, chunkIndex: 0, chunkCount: 1, totalBytes: 4 }, new Uint8Array(4)), 'heartbeat');
    expectBad(encodeFrame({ ...HEADER, kind: FrameKind.Heartbeat, chunkIndex: 0, chunkCount: 1, totalBytes: 8 }, new Uint8Array(8)), 'heartbeat');
    expectBad(encodeFrame({ ...HEADER, kind: FrameKind.Bye, chunkIndex: 0, chunkCount: 1, totalBytes: 4 }, new Uint8Array(4)), 'goodbye');
  });

  describe('rejects', () => {
    const good = encodeFrame(HEADER, f32Bytes([1, 2, 3, 4]));
    it('a non-binary message', () => expectBad('text' as unknown as ArrayBuffer, 'not binary'));
    it('a frame shorter than the header', () => expectBad(good.slice(0, HEADER_BYTES - 1), 'shorter'));
    it('a bad magic', () => expectBad(withHeaderEdit(good, (v) => v.setUint32(0, 0x12345678, true)), 'magic'));
    it('another format version', () => expectBad(withHeaderEdit(good, (v) => v.setUint8(4, WIRE_VERSION + 1)), 'version'));
    it('an unknown kind', () => expectBad(withHeaderEdit(good, (v) => v.setUint8(5, 99)), 'unknown kind'));
    it('a truncated payload (length field says more)', () => expectBad(good.slice(0, good.byteLength - 4), 'payload length'));
    it('trailing bytes (length field says less)', () => {
      const longer = new Uint8Array(good.byteLength + 4);
      longer.set(new Uint8Array(good));
      expectBad(longer.buffer, 'payload length');
    });
    it('a corrupted payload byte (checksum)', () => {
      const copy = good.slice(0);
      new Uint8Array(copy)[HEADER_BYTES + 5]! ^= 0x10;
      expectBad(copy, 'checksum');
    });
    it('chunk index ≥ chunk count', () => expectBad(withHeaderEdit(good, (v) => v.setUint32(20, 3, true)), 'chunk index'));
    it('zero chunks', () => expectBad(withHeaderEdit(good, (v) => v.setUint32(24, 0, true)), 'chunk count'));
    it('a total larger than the message limit', () => expectBad(withHeaderEdit(good, (v) => v.setUint32(28, 0xffffffff, true)), 'exceeds'));
    it('a chunk larger than its message total', () => expectBad(withHeaderEdit(good, (v) => v.setUint32(28, 8, true)), 'chunk of 16 bytes'));
    it('a float32 payload whose length is not a multiple of 4', () =>
      expectBad(encodeFrame({ ...HEADER, totalBytes: 66 }, new Uint8Array(6)), 'multiple of 4'));
    for (const value of [NaN, Infinity, -Infinity]) {
      it(`a float32 payload containing ${value}`, () => expectBad(encodeFrame(HEADER, f32Bytes([1, value, 3])), 'non-finite'));
    }
  });
});

describe('frames the bulk worker already checked (payloadChecked)', () => {
  const good = encodeFrame(HEADER, f32Bytes([1, 2, 3, 4]));
  it('skips only the payload passes (checksum, finiteness) and reads the same frame', () => {
    const corrupted = good.slice(0);
    new Uint8Array(corrupted)[HEADER_BYTES + 5]! ^= 0x10;
    expect(() => decodeFrame(corrupted, 'peer-abcdef')).toThrow(/checksum/);
    const frame = decodeFrame(corrupted, 'peer-abcdef', true);
    expect({ ...frame, payload: undefined }).toEqual({ ...HEADER, payload: undefined });
    expect(frame.payload.byteLength).toBe(16);
  });
  it('still refuses a bad header: every header rule holds whoever checked the payload', () => {
    for (const [bad, fragment] of [
      [withHeaderEdit(good, (v) => v.setUint32(0, 0, true)), 'bad magic'],
      [good.slice(0, good.byteLength - 4), 'payload length'],
      [withHeaderEdit(good, (v) => v.setUint32(20, 3, true)), 'chunk index'],
      [encodeFrame({ ...HEADER, totalBytes: 66 }, new Uint8Array(6)), 'multiple of 4'],
    ] as const) {
      expect(() => decodeFrame(bad, 'peer-abcdef', true)).toThrow(fragment);
    }
  });
});

describe('unchecked float32 frames (the owners’ contribution round, validated-reduce.ts)', () => {
  const unchecked: FrameHeader = { ...HEADER, kind: FrameKind.F32Unchecked, round: ROUND_UNCHECKED };
  it('carry NaN and Infinity to the receiver, which checks them itself', () => {
    const values = [1, NaN, Infinity, -Infinity];
    const frame = decodeFrame(encodeFrame({ ...unchecked, chunkIndex: 0, chunkCount: 1, totalBytes: 16 }, f32Bytes(values)));
    expect(frame.kind).toBe(FrameKind.F32Unchecked);
    expect(Array.from(new Float32Array(frame.payload.slice().buffer))).toEqual(values);
  });
  it('are refused in any other round', () => expectBad(encodeFrame({ ...unchecked, round: 2 }, f32Bytes([1, 2, 3, 4])), 'round 2'));
  it('are refused when the length is not a multiple of 4', () => expectBad(encodeFrame(unchecked, new Uint8Array(6)), 'multiple of 4'));
  it('leave checked F32 frames checked', () => {
    for (const value of [NaN, Infinity, -Infinity]) expectBad(encodeFrame({ ...HEADER, round: ROUND_UNCHECKED }, f32Bytes([1, value, 3, 4])), 'non-finite');
  });
});
