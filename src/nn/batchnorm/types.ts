/**
 * The vocabulary of distributed BatchNorm, shared by the layer, the trainer, the run log and the UI
 * (which import it from here through src/train/types.ts).
 */

/**
 * Where the key encoder's BatchNorm gets its statistics: `local` (each worker its own: the leak),
 * `shuffle` (another worker's), `sync` (the world's), `samples` (official MoCo: the trainer shuffles
 * the input samples; the layer itself is `local`).
 */
export type BnMode = 'local' | 'shuffle' | 'sync' | 'samples';

/** What the layer itself does: `samples` is local BatchNorm on shuffled inputs. */
export type BnStatsKind = 'local' | 'shuffle' | 'sync';

/** Who lends to whom in `shuffle`: a fresh seeded derangement per step, or r ← r+1 (the seed project). */
export type PermutationKind = 'random' | 'cyclic';

/**
 * Channel statistics of one BatchNorm layer at one traced step, for every worker of the world, all
 * measured (see trace.ts): nothing in it is copied from another field.
 * - `meanBefore[w]`/`varBefore[w]`: worker w's own batch statistics as computed by the backend;
 * - `meanAfter[w]`/`varAfter[w]`: read back from the tensors worker w's normalisation consumed;
 * - `meanOut[w]`: per-channel mean of worker w's normalised values x̂ = (x − meanAfter)/√(varAfter + ε),
 *   taken from the layer's output y with γ, β undone in float64.
 * So meanOut[w] = (meanBefore[w] − meanAfter[w]) / √(varAfter[w] + eps) holds exactly in real arithmetic
 * (checkBnTrace in check-trace.ts verifies it and the routing). Arrays are [W][C].
 */
export interface BnLayerTrace {
  /** BatchNorm layer index in the model's forward order. */
  layer: number;
  /** The layer's statistics mode (`samples` traces as `local`). */
  kind: BnStatsKind;
  /** sourceOf[w] = the worker whose statistics worker w was meant to use (identity unless shuffle). */
  sourceOf: number[];
  /** Values behind each worker's statistics (n·hw). */
  count: number;
  eps: number;
  meanBefore: number[][];
  varBefore: number[][];
  meanAfter: number[][];
  varAfter: number[][];
  meanOut: number[][];
}
