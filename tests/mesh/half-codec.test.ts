import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, decodeWire, encodeWire, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, wireBytes } from '../../src/mesh/half-codec.ts';

/** PyTorch's float16 / bfloat16 casts of float32 bit patterns (tests/golden/make_half.py). */
const golden = JSON.parse(readFileSync(new URL('../golden/half.json', import.meta.url), 'utf8')) as { f32Bits: number[]; f16Bits: number[]; bf16Bits: number[] };

function fromBits(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits >>> 0);
  return view.getFloat32(0);
}
const hex = (v: number) => `0x${v.toString(16)}`;

describe('half-precision codec against PyTorch', () => {
  it(`encodes ${golden.f32Bits.length} float32 values to torch's float16 bits (round to nearest even, subnormals, overflow)`, () => {
    const wrong: string[] = [];
    golden.f32Bits.forEach((bits, i) => {
      const got = f32ToF16Bits(fromBits(bits));
      if (got !== golden.f16Bits[i]) wrong.push(`${hex(bits)} → ${hex(got)}, torch ${hex(golden.f16Bits[i]!)}`);
    });
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it("encodes them to torch's bfloat16 bits", () => {
    const wrong: string[] = [];
    golden.f32Bits.forEach((bits, i) => {
      const got = f32ToBf16Bits(fromBits(bits));
      if (got !== golden.bf16Bits[i]) wrong.push(`${hex(bits)} → ${hex(got)}, torch ${hex(golden.bf16Bits[i]!)}`);
    });
    expect(wrong.slice(0, 5)).toEqual([]);
  });
});

describe('half-precision codec, exhaustive properties', () => {
  it('every finite float16 decodes to the value its fields define and encodes back to itself', () => {
    for (let h = 0; h < 0x10000; h++) {
      const exponent = (h >> 10) & 0x1f;
      if (exponent === 0x1f) continue;
      const mantissa = h & 0x3ff;
      const magnitude = exponent === 0 ? mantissa / 1024 * 2 ** -14 : (1 + mantissa / 1024) * 2 ** (exponent - 15);
      const expected = h & 0x8000 ? -magnitude : magnitude;
      const value = f16BitsToF32(h);
      if (!Object.is(value, expected)) throw new Error(`${hex(h)} decodes to ${value}, expected ${expected}`);
      if (f32ToF16Bits(value) !== h) throw new Error(`${hex(h)} does not round-trip`);
    }
  });

  it('the float32 midpoint between neighbouring float16 values goes to the even one; one float32 ulp off it goes to the nearer', () => {
    for (let h = 0; h < 0x7bff; h++) {
      const lo = f16BitsToF32(h);
      const hi = f16BitsToF32(h + 1);
      const mid = (lo + hi) / 2;
      if (Math.fround(mid) !== mid) continue;
      const even = h % 2 === 0 ? h : h + 1;
      const view = new DataView(new ArrayBuffer(4));
      view.setFloat32(0, mid);
      const bits = view.getUint32(0);
      const got = [f32ToF16Bits(mid), f32ToF16Bits(fromBits(bits + 1)), mid > 0 ? f32ToF16Bits(fromBits(bits - 1)) : h];
      if (got.join() !== [even, h + 1, h].join()) throw new Error(`around the midpoint of ${hex(h)}: ${got.map(hex)}, expected ${[even, h + 1, h].map(hex)}`);
    }
  });

  it('bfloat16 decoding is the upper half of a float32 (exact), and every finite pattern round-trips', () => {
    for (let b = 0; b < 0x10000; b++) {
      if ((b & 0x7f80) === 0x7f80) continue;
      const value = bf16BitsToF32(b);
      if (!Object.is(value, fromBits(b * 0x10000)) || f32ToBf16Bits(value) !== b) throw new Error(`${hex(b)} decodes to ${value} or does not round-trip`);
    }
  });

  it('NaN stays NaN, ±Inf stays ±Inf, beyond 65504 f16 overflows to Inf', () => {
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
    expect(f16BitsToF32(f32ToF16Bits(-Infinity))).toBe(-Infinity);
    expect(f16BitsToF32(f32ToF16Bits(65520))).toBe(Infinity);
    expect(f16BitsToF32(f32ToF16Bits(65519))).toBe(65504);
    expect(bf16BitsToF32(f32ToBf16Bits(3e38))).toBe(fromBits(0x7f62 * 0x10000));
  });
});

describe('wire packing', () => {
  for (const format of ['f16', 'bf16'] as const) {
    it(`${format}: two halves per float32 slot, odd lengths padded, decode(encode(x)) is the element-wise rounding`, () => {
      for (const length of [0, 1, 2, 5, 1001]) {
        const data = Float32Array.from({ length }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 9) - 6));
        const packed = encodeWire(data, format);
        expect(packed.length).toBe(Math.ceil(length / 2));
        expect(packed.byteLength).toBe(wireBytes(length, format));
        // The wire refuses float32 words with all exponent bits set: finite halves never make one.
        for (const word of new Uint32Array(packed.buffer, packed.byteOffset, packed.length)) expect(word & 0x7f800000).not.toBe(0x7f800000);
        const decoded = decodeWire(packed, length, format)!;
        const round = format === 'f16' ? (v: number) => f16BitsToF32(f32ToF16Bits(v)) : (v: number) => bf16BitsToF32(f32ToBf16Bits(v));
        expect(Array.from(decoded)).toEqual(Array.from(data, round));
        expect(decodeWire(packed, length + 2, format)).toBeNull();
      }
    });
  }

  it('f32 is the identity, with no copy', () => {
    const data = Float32Array.from([1, 2, 3]);
    expect(encodeWire(data, 'f32')).toBe(data);
    expect(decodeWire(data, 3, 'f32')).toBe(data);
    expect(wireBytes(3, 'f32')).toBe(12);
  });
});
