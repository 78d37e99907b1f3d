/**
 * Seeded, keyed pseudo-random streams. Every random draw in training comes from a stream named by
 * a tuple of integers, e.g. `createRng(seed, step, worker, TAG)`, so a value depends only on *what*
 * it is for and never on which tab computes it or in which order: that is what makes results
 * independent of how workers are placed on tabs.
 *
 * Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, passes
 * PractRand), its state filled by hashing the key words with a 32-bit integer mixer.
 */

/** Warm-up rounds after seeding, so nearby keys give unrelated first outputs. */
const WARMUP_ROUNDS = 12;
const TWO_POW_32 = 4294967296;

/** A seeded stream of pseudo-random numbers. */
export interface Rng {
  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number;
  /** Uniform unsigned 32-bit integer. */
  nextU32(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Uniform integer in [0, n), exactly uniform (rejection sampling), n ≤ 2^32. */
  int(n: number): number;
  /** Fisher–Yates shuffle in place; returns `arr`. */
  shuffle<T>(arr: T[]): T[];
}

/** 32-bit finaliser with good avalanche (lowbias32 constants). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

/** Splits a key (any safe integer, negative allowed; fractions are rejected) into two 32-bit words. */
function keyWords(key: number): [number, number] {
  if (!Number.isSafeInteger(key)) {
    throw Object.assign(new Error(`rng keys must be safe integers, got ${key}`), { code: 'ERR_RNG_KEY' });
  }
  const lo = key >>> 0;
  const hi = Math.floor(key / TWO_POW_32) >>> 0;
  return [lo, hi];
}

class Sfc32 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Second Box–Muller value, returned by the next `normal()`. */
  private spareNormal: number | null = null;

  constructor(state: readonly [number, number, number, number]) {
    [this.a, this.b, this.c, this.d] = state;
    for (let i = 0; i < WARMUP_ROUNDS; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  next(): number {
    return this.nextU32() / TWO_POW_32;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  normal(): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return z;
    }
    // 1 − next() is in (0, 1], so the log is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
    const angle = 2 * Math.PI * this.next();
    this.spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO_POW_32) {
      throw Object.assign(new Error(`rng.int(n) needs an integer 1 ≤ n ≤ 2^32, got ${n}`), { code: 'ERR_RNG_RANGE' });
    }
    // Largest multiple of n that fits in 32 bits: draws at or above it would bias small residues.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const u = this.nextU32();
      if (u < limit) return u % n;
    }
  }

  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i]!;
      arr[i] = arr[j]!;
      arr[j] = tmp;
    }
    return arr;
  }
}

/**
 * A stream determined by the key tuple alone: `createRng(seed, step, worker, tag)` returns the same
 * numbers on every tab. Different tuples (including different lengths) give unrelated streams.
 */
export function createRng(...keys: number[]): Rng {
  // Four lanes absorb every key word with a lane- and position-dependent salt.
  const lanes: [number, number, number, number] = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
  let position = 0;
  const absorb = (word: number): void => {
    for (let lane = 0; lane < 4; lane++) {
      const salted = mix32((word + Math.imul(lane + 1, 0x9e3779b9) + Math.imul(position + 1, 0x85ebca6b)) >>> 0);
      lanes[lane] = mix32((lanes[lane]! ^ salted) >>> 0);
    }
    position++;
  };
  for (const key of keys) {
    const [lo, hi] = keyWords(key);
    absorb(lo);
    absorb(hi);
  }
  absorb(keys.length);
  return new Sfc32(lanes);
}
