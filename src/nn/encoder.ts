/**
 * The MoCo demo encoder: for each hidden width Linear → BatchNorm(affine) → ReLU, then Linear → an
 * output BatchNorm without affine (the trainer L2-normalises after it). All BatchNorms use `bnMode`.
 */
import type { Backend, Tensor } from '../backend/backend.ts';
import type { Rng } from '../util/rng.ts';
import { NnError } from './errors.ts';
import type { BnMode } from './batchnorm/types.ts';
import { BatchNorm } from './layers/batchnorm.ts';
import { Linear } from './layers/linear.ts';
import { ReLU } from './layers/relu.ts';
import { Sequential } from './layers/sequential.ts';
import type { ForwardContext } from './layers/types.ts';

export interface EncoderSpec {
  inputDim: number;
  hiddenDims: readonly number[];
  outputDim: number;
  bnMode: BnMode;
}

/** Builds the encoder; weights are drawn from `rng` layer by layer (same rng state → same weights). */
export function buildEncoder(backend: Backend, spec: EncoderSpec, rng: Rng): Sequential {
  const layers = [];
  let width = spec.inputDim;
  for (const hidden of spec.hiddenDims) {
    layers.push(new Linear(backend, width, hidden, rng), new BatchNorm(backend, hidden, { mode: spec.bnMode }), new ReLU());
    width = hidden;
  }
  layers.push(new Linear(backend, width, spec.outputDim, rng), new BatchNorm(backend, spec.outputDim, { mode: spec.bnMode, affine: false }));
  return new Sequential(layers);
}

/** Number of leading layers whose output is the hidden feature: up to and including the last ReLU. */
export function hiddenFeatureDepth(model: Sequential): number {
  for (let i = model.children.length - 1; i >= 0; i--) if (model.children[i] instanceof ReLU) return i + 1;
  throw new NnError('ERR_SHAPE', 'model has no ReLU, so no hidden feature layer');
}

/**
 * Output of the first `upToLayer` layers (default: through the last ReLU, the 512-d hidden features
 * used for kNN). Use an eval or noGrad context: no backward follows.
 */
export async function forwardFeatures(model: Sequential, x: Tensor, ctx: ForwardContext, upToLayer = hiddenFeatureDepth(model)): Promise<Tensor> {
  if (!Number.isInteger(upToLayer) || upToLayer < 0 || upToLayer > model.children.length) {
    throw new NnError('ERR_SHAPE', `upToLayer ${upToLayer} is outside 0..${model.children.length}`);
  }
  return model.forwardRange(x, ctx, 0, upToLayer);
}
