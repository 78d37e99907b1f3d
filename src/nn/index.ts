/** Public surface of the model layer. */
export { NnError, type NnErrorCode } from './errors.ts';
export { stepPermutation, inversePermutation } from './permutation.ts';
export { localWorld, processGroupWorld, type WorkerWorld } from './world.ts';
export type { Layer, Parameter, ForwardContext } from './layers/types.ts';
export { Linear, type LinearOptions } from './layers/linear.ts';
export { ReLU } from './layers/relu.ts';
export { Sequential } from './layers/sequential.ts';
export { BatchNorm, type BatchNormMode, type BatchNormOptions } from './layers/batchnorm.ts';
export { mergeStats, type StatsPartial, type MergedStats } from './merge-stats.ts';
export { syncRunningStats, discardRunningStats, findBatchNorms } from './running-stats.ts';
export { convertShuffleBatchNorm, type ConvertOptions } from './convert.ts';
export { SGD, copyParams, emaParams } from './optim.ts';
export { buildEncoder, forwardFeatures, hiddenFeatureDepth, type EncoderSpec } from './encoder.ts';
export { flattenTensors, unflattenInto } from './serialize.ts';
