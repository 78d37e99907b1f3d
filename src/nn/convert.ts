/** Switches the BatchNorm mode of a built model, like PyTorch's convert_sync_batchnorm. */
import type { BnMode } from './batchnorm/types.ts';
import { BatchNorm } from './layers/batchnorm.ts';
import type { Layer } from './layers/types.ts';

export interface ConvertOptions {
  mode: BnMode;
  /** Test-only, see BatchNormOptions.routeStatGradients. */
  routeStatGradients?: boolean;
}

/**
 * Replaces every BatchNorm in `model` (recursively through `children`) with one of `opts.mode`.
 * The new layer takes over the old one's γ, β and running statistics *objects* (as PyTorch does),
 * so values are kept and an optimizer built before the conversion still updates them; the old layer
 * must not be used afterwards. Unsynced running-statistics records are dropped. Returns the model
 * (or the new layer when `model` is itself a BatchNorm).
 */
export function convertShuffleBatchNorm<T extends Layer>(model: T, opts: ConvertOptions): T {
  if (model instanceof BatchNorm) return convertOne(model, opts) as unknown as T;
  const children = (model as { children?: unknown }).children;
  if (Array.isArray(children)) {
    for (let i = 0; i < children.length; i++) children[i] = convertShuffleBatchNorm(children[i] as Layer, opts);
  }
  return model;
}

function convertOne(old: BatchNorm, opts: ConvertOptions): BatchNorm {
  const state = old.releaseState();
  return new BatchNorm(
    old.backend,
    old.numFeatures,
    {
      mode: opts.mode,
      affine: old.affine,
      eps: old.eps,
      momentum: old.momentum,
      trackRunningStats: old.trackRunningStats,
      ...(opts.routeStatGradients === undefined ? {} : { routeStatGradients: opts.routeStatGradients }),
    },
    state,
  );
}
