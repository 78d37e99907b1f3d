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
  | 'ERR_LAYER_RELEASED';

export class NnError extends Error {
  constructor(
    readonly code: NnErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NnError';
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
