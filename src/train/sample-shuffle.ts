/**
 * `samples` mode, as the official MoCo code does it (`_batch_shuffle_ddp`): the key encoder's input
 * samples of the whole world are gathered and dealt out again in a random order, so each worker's
 * BatchNorm batch mixes samples of many owners; after encoding, the keys go back to their owners.
 * The shuffle must be at the level of samples: dealing whole worker batches to other workers would
 * leave every BatchNorm batch unchanged, i.e. be local BN under another name.
 */
import { createRng } from '../util/rng.ts';

/** Stream tag of the sample permutation. */
const TAG_SAMPLE_SHUFFLE = 0x5a3b1e;

/**
 * The step's deal: slot j of the world batch (worker ⌊j / n⌋, row j mod n) receives global sample
 * `order[j]` (sample i = row i mod n of worker ⌊i / n⌋). Uniform over permutations of W·n samples,
 * derived from (seed, step) alone so every tab computes the same one.
 */
export function sampleShuffle(seed: number, step: number, worldSamples: number): number[] {
  const order = Array.from({ length: worldSamples }, (_, i) => i);
  return createRng(seed, step, TAG_SAMPLE_SHUFFLE).shuffle(order);
}

/**
 * Rows for this tab's slots: out row (slot − firstSlot) = all[order[slot]], for slots
 * [firstSlot, firstSlot + slots). `all` is [W·n, rowLen] in global sample order.
 */
export function dealRows(all: Float32Array, rowLen: number, order: readonly number[], firstSlot: number, slots: number): Float32Array {
  const out = new Float32Array(slots * rowLen);
  for (let r = 0; r < slots; r++) {
    const src = order[firstSlot + r];
    out.set(all.subarray(src * rowLen, (src + 1) * rowLen), r * rowLen);
  }
  return out;
}

/** Inverse of the deal: `dealt` is [W·n, rowLen] in slot order; returns the rows in sample order. */
export function undealRows(dealt: Float32Array, rowLen: number, order: readonly number[]): Float32Array {
  const out = new Float32Array(dealt.length);
  order.forEach((sample, slot) => out.set(dealt.subarray(slot * rowLen, (slot + 1) * rowLen), sample * rowLen));
  return out;
}
