/** Keyed RNG streams and the per-step statistics permutation. */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/util/rng.ts';
import { inversePermutation, stepPermutation } from '../../src/nn/permutation.ts';

describe('createRng', () => {
  it('is a function of the key tuple only', () => {
    const draw = (...keys: number[]) => {
      const rng = createRng(...keys);
      return Array.from({ length: 8 }, () => rng.nextU32());
    };
    expect(draw(1, 2, 3)).toEqual(draw(1, 2, 3));
    const variants = [draw(1, 2, 3), draw(1, 2, 4), draw(1, 3, 2), draw(1, 2), draw(1, 2, 3, 0), draw(2 ** 40 + 1, 2, 3), draw(1 - 2 ** 32, 2, 3)];
    expect(new Set(variants.map((v) => v.join(','))).size).toBe(variants.length);
  });

  it('rejects keys that are not safe integers', () => {
    expect(() => createRng(0.5)).toThrow(expect.objectContaining({ code: 'ERR_RNG_KEY' }));
  });

  it('next() is uniform in [0, 1), normal() has mean 0 and variance 1', () => {
    const rng = createRng(42);
    const samples = 50_000;
    let sum = 0;
    const bins = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < samples; i++) {
      const u = rng.next();
      if (!(u >= 0 && u < 1)) outside++;
      sum += u;
      bins[Math.floor(u * 10)]!++;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / samples - 0.5)).toBeLessThan(0.01);
    for (const b of bins) expect(Math.abs(b - samples / 10)).toBeLessThan(0.05 * (samples / 10));
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < samples; i++) {
      const z = rng.normal();
      s1 += z;
      s2 += z * z;
    }
    expect(Math.abs(s1 / samples)).toBeLessThan(0.03);
    expect(Math.abs(s2 / samples - 1)).toBeLessThan(0.03);
  });

  it('int(n) covers [0, n) evenly and shuffle() permutes', () => {
    const rng = createRng(7, 7);
    const counts = new Array<number>(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[rng.int(7)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    const arr = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = rng.shuffle([...arr]);
    expect(shuffled).not.toEqual(arr);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(arr);
    expect(() => rng.int(0)).toThrow();
  });
});

describe('stepPermutation', () => {
  it('random: a derangement every step, the same for every caller, fresh per step', () => {
    for (const world of [2, 3, 4, 8, 16]) {
      const seen = new Set<string>();
      for (let step = 0; step < 200; step++) {
        const p = stepPermutation(9, step, world, 'random');
        const isPermutation = [...p].sort((a, b) => a - b).every((v, i) => v === i);
        const fixedPoints = p.filter((source, w) => source === w).length;
        const repeatable = stepPermutation(9, step, world, 'random').join(',') === p.join(',');
        if (!isPermutation || fixedPoints > 0 || !repeatable) expect({ world, step, p, repeatable }).toBe('a repeatable derangement');
        seen.add(p.join(','));
      }
      // 2 workers have exactly one derangement; larger worlds change it from step to step.
      if (world === 2) expect(seen.size).toBe(1);
      else expect(seen.size).toBeGreaterThan(1);
    }
    expect(stepPermutation(1, 5, 8, 'random')).not.toEqual(stepPermutation(2, 5, 8, 'random'));
  });

  it('random: roughly uniform over the 9 derangements of 4 workers', () => {
    const counts = new Map<string, number>();
    const steps = 9000;
    for (let step = 0; step < steps; step++) {
      const key = stepPermutation(3, step, 4, 'random').join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(9);
    // Expected 1000 each; a binomial standard deviation is ≈ 31, so ±200 is > 6σ.
    for (const c of counts.values()) expect(Math.abs(c - steps / 9)).toBeLessThan(200);
  });

  it('cyclic: worker r uses worker r + 1 mod W, every step', () => {
    expect(stepPermutation(1, 0, 4, 'cyclic')).toEqual([1, 2, 3, 0]);
    expect(stepPermutation(5, 99, 4, 'cyclic')).toEqual([1, 2, 3, 0]);
    expect(stepPermutation(1, 0, 2, 'cyclic')).toEqual([1, 0]);
  });

  it('refuses worlds below 2 workers with ERR_WORLD_TOO_SMALL', () => {
    for (const kind of ['random', 'cyclic'] as const) {
      expect(() => stepPermutation(1, 0, 1, kind)).toThrow(expect.objectContaining({ code: 'ERR_WORLD_TOO_SMALL' }));
      expect(() => stepPermutation(1, 0, 0, kind)).toThrow(expect.objectContaining({ code: 'ERR_WORLD_TOO_SMALL' }));
    }
  });

  it('inversePermutation gives the borrower of each worker', () => {
    const p = stepPermutation(4, 4, 6, 'random');
    const inv = inversePermutation(p);
    p.forEach((source, w) => expect(inv[source]).toBe(w));
  });
});
