/** Errors of the model layer, each with a stable `code` the UI and tests match on. */

export type NnErrorCode =
  /** shuffle/sync BatchNorm (or a permutation) with fewer than 2 workers in the world. */
  | 'ERR_WORLD_TOO_SMALL'
  /** A tensor or row buffer has the wrong shape or length. */
  | 'ERR_SHAPE'
  /** `backward` without a preceding training-mode forward that kept its inputs. */
  | 'ERR_NO_FORWARD'
  /** `sourceOf` is missing or not a valid mapping onto the world's workers. */
  | 'ERR_BAD_PERMUTATION'
  /** Too many forwards without `syncRunningStats`: the running statistics would fall behind. */
  | 'ERR_RUNNING_STATS_UNSYNCED'
  /** A layer used after `dispose()` or after the converter replaced it. */
  | 'ERR_LAYER_RELEASED'
  /**
   * BatchNorm rows received from another tab are malformed (non-finite, negative variance, wrong
   * count): `worker` and, where known, `rank` name the sender so the session can drop it.
   */
  | 'ERR_BAD_PEER_ROWS'
  /** A statistic this tab computed in training is NaN or ±Inf: `layer` and `step` say where. */
  | 'ERR_NONFINITE_STATS'
  /** A tab declared more workers than a world may hold (see MAX_WORKERS_PER_TAB in world.ts). */
  | 'ERR_WORLD_TOO_LARGE';

/** Where an error happened, for the errors that can name it. */
export interface NnErrorDetails {
  /** Global worker index whose rows were bad. */
  worker?: number;
  /** Tab rank that sent them, when the world knows it. */
  rank?: number;
  /** BatchNorm layer index in forward order. */
  layer?: number;
  /** Trainer step. */
  step?: number;
}

export class NnError extends Error {
  readonly worker?: number;
  readonly rank?: number;
  readonly layer?: number;
  readonly step?: number;
  constructor(
    readonly code: NnErrorCode,
    message: string,
    details: NnErrorDetails = {},
  ) {
    super(message);
    this.name = 'NnError';
    Object.assign(this, details);
  }
}

/** Throws ERR_WORLD_TOO_SMALL when `what` needs at least two workers. */
export function assertWorldAtLeastTwo(worldSize: number, what: string): void {
  if (worldSize < 2) {
    throw new NnError(
      'ERR_WORLD_TOO_SMALL',
      `${what} needs at least 2 workers in the world, got ${worldSize}: open the room link in another tab or raise the workers per tab`,
    );
  }
}
