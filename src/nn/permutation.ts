/**
 * Who lends BatchNorm statistics to whom at each step. `sourceOf[w]` is the worker whose batch
 * statistics worker w normalises with. Every peer derives the same mapping from (seed, step) alone,
 * so no message is needed to agree on it.
 */
import { createRng } from '../util/rng.ts';
import { NnError, assertWorldAtLeastTwo } from './errors.ts';
import type { PermutationKind } from './batchnorm/types.ts';

/** Stream tag for permutations, distinct from every data stream tag. */
const PERMUTATION_STREAM = 0x7065726d; // 'perm'
/**
 * Rejection sampling needs e ≈ 2.72 shuffles on average; the chance of needing more than this many
 * is (1 − 1/e)^1000 ≈ 1e-199, so reaching it means the generator is broken.
 */
const MAX_DERANGEMENT_TRIES = 1000;

/**
 * The step's lending map: a derangement (no worker uses its own statistics).
 * - `random`: uniform over all derangements of the world, fresh each step (rejection sampling of
 *   uniform shuffles is exactly uniform over derangements).
 * - `cyclic`: worker r uses worker (r + 1) mod W, every step (the fixed rule of the seed project).
 * Throws ERR_WORLD_TOO_SMALL for worldSize < 2 (no derangement exists).
 */
export function stepPermutation(seed: number, step: number, worldSize: number, kind: PermutationKind): number[] {
  if (!Number.isInteger(worldSize)) throw new NnError('ERR_SHAPE', `worldSize must be an integer, got ${worldSize}`);
  assertWorldAtLeastTwo(worldSize, 'a statistics permutation');
  if (kind === 'cyclic') return Array.from({ length: worldSize }, (_, r) => (r + 1) % worldSize);
  const rng = createRng(seed, step, PERMUTATION_STREAM);
  const sourceOf = Array.from({ length: worldSize }, (_, r) => r);
  for (let attempt = 0; attempt < MAX_DERANGEMENT_TRIES; attempt++) {
    rng.shuffle(sourceOf);
    if (sourceOf.every((source, w) => source !== w)) return sourceOf;
  }
  throw new NnError('ERR_BAD_PERMUTATION', `no derangement found in ${MAX_DERANGEMENT_TRIES} tries`);
}

/** inverse[s] = the worker that uses s's statistics (for a bijective `sourceOf`). */
export function inversePermutation(sourceOf: readonly number[]): number[] {
  const inverse = new Array<number>(sourceOf.length).fill(-1);
  sourceOf.forEach((source, w) => {
    inverse[source] = w;
  });
  return inverse;
}

/** Throws ERR_BAD_PERMUTATION unless `sourceOf` maps every one of `worldSize` workers to a worker. */
export function assertSourceOf(sourceOf: readonly number[] | null, worldSize: number): asserts sourceOf is readonly number[] {
  if (!sourceOf) throw new NnError('ERR_BAD_PERMUTATION', 'shuffle BatchNorm needs ctx.sourceOf (the step permutation)');
  if (sourceOf.length !== worldSize) {
    throw new NnError('ERR_BAD_PERMUTATION', `sourceOf has ${sourceOf.length} entries for a world of ${worldSize} workers`);
  }
  for (const s of sourceOf) {
    if (!Number.isInteger(s) || s < 0 || s >= worldSize) {
      throw new NnError('ERR_BAD_PERMUTATION', `sourceOf entry ${s} is not a worker of a world of ${worldSize}`);
    }
  }
}
