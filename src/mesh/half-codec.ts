/**
 * Reduced-precision wire format of an allReduce (`CollectiveOptions.wire`): each rank sends its
 * float32 contribution as IEEE binary16 (`f16`) or bfloat16 (`bf16`), rounded to nearest, ties to
 * even, and every rank decodes every contribution (its own included) back to float32 before the sum,
 * so accumulation stays float32 and every rank sums the same values.
 *
 * Layout: element i is the u16 at byte 2i (platform order, little-endian on every browser); two
 * halves share one float32 slot of the payload and an odd length is padded with +0. The frames
 * stay F32 frames, whose decoder refuses a float32 word with all exponent bits set: a word's exponent
 * bits are bits 7..14 of its upper half, which for bf16 are its exponent (all ones only for Inf/NaN)
 * and for f16 its exponent and top three mantissa bits (all ones only for a NaN). Finite halves
 * therefore always pass the wire's check; non-finite ones are refused there or by validation.
 *
 * Range: f16 holds |x| ≤ 65504 (larger values round to ±Inf, which validation then refuses, naming
 * the sender) and resolves 2^-24 at the bottom; bf16 has float32's range with 8 significant bits.
 */

/** How an allReduce contribution travels: float32 (default), or one of the 16-bit formats. */
export type WireFormat = 'f32' | 'f16' | 'bf16';
export const WIRE_FORMATS: readonly WireFormat[] = ['f32', 'f16', 'bf16'];

/** Largest finite binary16 value. */
export const F16_MAX = 65504;

const scratch = new DataView(new ArrayBuffer(4));

function bitsOf(value: number): number {
  scratch.setFloat32(0, value);
  return scratch.getUint32(0);
}

/** binary16 bits of float32 `value`, rounded to nearest, ties to even (NaN stays a quiet NaN). */
export function f32ToF16Bits(value: number): number {
  const x = bitsOf(value);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal result m·2^-24 with m = significand·2^(exponent-126): shift the 24-bit significand.
    if (e < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - e;
    let m = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m;
  }
  let h = sign | (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa raises the exponent, up to Inf: exactly what rounding should do.
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return h;
}

/** bfloat16 bits of float32 `value`, rounded to nearest, ties to even (NaN stays a quiet NaN). */
export function f32ToBf16Bits(value: number): number {
  const x = bitsOf(value);
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return (x >>> 16) | 0x40;
  return Math.floor((x + 0x7fff + ((x >>> 16) & 1)) / 0x10000) & 0xffff;
}

/** Every binary16 pattern's float32 value (exact: f16 ⊂ f32), built once on first use. */
let f16Table: Float32Array | null = null;
function f16Values(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(0x10000);
  for (let h = 0; h < 0x10000; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) table[h] = mantissa ? NaN : sign * Infinity;
    else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  f16Table = table;
  return table;
}

/** float32 value of binary16 bits `h`. */
export function f16BitsToF32(h: number): number {
  return f16Values()[h & 0xffff]!;
}

/** float32 value of bfloat16 bits `b` (the upper half of a float32). */
export function bf16BitsToF32(b: number): number {
  scratch.setUint32(0, (b & 0xffff) << 16 >>> 0);
  return scratch.getFloat32(0);
}

/** float32 slots a payload of `length` elements occupies on the wire. */
export function wireSlots(length: number, format: WireFormat): number {
  return format === 'f32' ? length : Math.ceil(length / 2);
}

/** Bytes of a contribution of `length` elements on the wire (payload only, frame headers excluded). */
export function wireBytes(length: number, format: WireFormat): number {
  return 4 * wireSlots(length, format);
}

/** `data` as it goes on the wire: itself for f32, else its halves packed two to a float32 slot. */
export function encodeWire(data: Float32Array, format: WireFormat): Float32Array {
  if (format === 'f32') return data;
  const slots = wireSlots(data.length, format);
  const halves = new Uint16Array(slots * 2);
  const encode = format === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < data.length; i++) halves[i] = encode(data[i]!);
  return new Float32Array(halves.buffer, 0, slots);
}

/**
 * The `length` float32 values of a payload encoded by encodeWire, or null when the payload's size
 * does not fit `length` (the caller names the sender).
 */
export function decodeWire(payload: Float32Array, length: number, format: WireFormat): Float32Array | null {
  if (payload.length !== wireSlots(length, format)) return null;
  if (format === 'f32') return payload;
  const halves = new Uint16Array(payload.buffer, payload.byteOffset, payload.length * 2);
  const out = new Float32Array(length);
  if (format === 'f16') {
    const table = f16Values();
    for (let i = 0; i < length; i++) out[i] = table[halves[i]!]!;
  } else {
    const words = new Uint32Array(out.buffer);
    for (let i = 0; i < length; i++) words[i] = halves[i]! << 16;
  }
  return out;
}
