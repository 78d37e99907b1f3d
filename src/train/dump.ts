/**
 * Tiny image dumps for eyeballing the synthetic data: ASCII art for test logs and an 8-bit grayscale
 * PNG encoder with no dependencies (stored, uncompressed deflate blocks; runs in Node and browsers).
 */

/** Intensity ramp from dark to bright, one character per level. */
const ASCII_RAMP = ' .:-=+*#%@';

/** Renders a size × size image as text, values clamped to [lo, hi]. */
export function asciiImage(image: ArrayLike<number>, size: number, lo = 0, hi = 1): string {
  const rows: string[] = [];
  for (let y = 0; y < size; y++) {
    let row = '';
    for (let x = 0; x < size; x++) {
      const t = Math.min(1, Math.max(0, (image[y * size + x] - lo) / (hi - lo)));
      const ch = ASCII_RAMP[Math.min(ASCII_RAMP.length - 1, Math.floor(t * ASCII_RAMP.length))];
      row += ch + ch; // two columns per pixel keep the aspect ratio roughly square
    }
    rows.push(row);
  }
  return rows.join('\n');
}

/** Largest payload of one stored deflate block, bytes. */
const STORED_BLOCK_BYTES = 65_535;

/**
 * Encodes a grid of images as a grayscale PNG: `images` each size × size in [lo, hi], laid out
 * `columns` per row, every pixel drawn as a scale × scale square.
 */
export function encodePng(images: readonly ArrayLike<number>[], size: number, opts: { columns?: number; scale?: number; lo?: number; hi?: number } = {}): Uint8Array {
  const columns = Math.max(1, Math.min(opts.columns ?? images.length, images.length));
  const scale = opts.scale ?? 4;
  const lo = opts.lo ?? 0;
  const hi = opts.hi ?? 1;
  const rows = Math.ceil(images.length / columns);
  const width = columns * size * scale;
  const height = rows * size * scale;
  // Raw scanlines: one filter byte (0 = none) then one byte per pixel.
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (width + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const img = images[Math.floor(y / (size * scale)) * columns + Math.floor(x / (size * scale))];
      let v = 0;
      if (img) {
        const p = Math.floor((y % (size * scale)) / scale) * size + Math.floor((x % (size * scale)) / scale);
        v = Math.round(255 * Math.min(1, Math.max(0, (img[p] - lo) / (hi - lo))));
      }
      raw[y * (width + 1) + 1 + x] = v;
    }
  }
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header.set([8, 0, 0, 0, 0], 8); // bit depth 8, grayscale, deflate, adaptive filter, no interlace
  return concat([
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    chunk('IHDR', header),
    chunk('IDAT', zlibStored(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

function zlibStored(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(0x78, 0x01)];
  let off = 0;
  do {
    const len = Math.min(STORED_BLOCK_BYTES, data.length - off);
    const last = off + len >= data.length ? 1 : 0;
    parts.push(Uint8Array.of(last, len & 0xff, len >>> 8, ~len & 0xff, (~len >>> 8) & 0xff), data.subarray(off, off + len));
    off += len;
  } while (off < data.length);
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  const adler = new Uint8Array(4);
  new DataView(adler.buffer).setUint32(0, ((b << 16) | a) >>> 0);
  parts.push(adler);
  return concat(parts);
}

let crcTable: Uint32Array | null = null;
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
