/** Public surface of the model layer. */
export { NnError, type NnErrorCode, type NnErrorDetails } from './errors.ts';
export { stepPermutation, inversePermutation } from './permutation.ts';
export { localWorld, processGroupWorld, MAX_TABS, MAX_WORKERS_PER_TAB, MAX_WORLD_WORKERS, type GatherGroup, type GatherOptions, type WorkerWorld } from './world.ts';
export type { Layer, Parameter, ForwardContext } from './layers/types.ts';
export { Linear, type LinearOptions } from './layers/linear.ts';
export { ReLU } from './layers/relu.ts';
export { Sequential } from './layers/sequential.ts';
export { BatchNorm, type BatchNormOptions } from './layers/batchnorm.ts';
export type { BnMode, BnStatsKind, BnLayerTrace, PermutationKind } from './batchnorm/types.ts';
export { mergeStats, type StatsPartial, type MergedStats } from './batchnorm/merge.ts';
export { syncRunningStats, discardRunningStats, findBatchNorms } from './batchnorm/running-stats.ts';
export { checkBnTrace, checkBnTraces, type TraceCheck } from './batchnorm/check-trace.ts';
export { truncateBnTrace } from './batchnorm/trace.ts';
export { convertShuffleBatchNorm, type ConvertOptions } from './convert.ts';
export { SGD, copyParams, emaParams } from './optim.ts';
export { buildEncoder, forwardFeatures, hiddenFeatureDepth, type EncoderSpec } from './encoder.ts';
export { flattenTensors, unflattenInto } from './serialize.ts';
