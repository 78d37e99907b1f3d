// Entry of the wasm backend's kernels (compiled by scripts/build-wasm.ts). Every pointer is a byte
// offset into this module's memory, which the host grows and lays out (src/backend/wasm/memory.ts).
export { gemm, transpose } from './gemm';
export { colAffine, colBackwardSums, colBnBackward, colCenteredSquares, colSums } from './batchnorm';
export { logitsFromNegatives, softmaxGrads, softmaxRowStats } from './softmax';

/** First byte the host may use: everything below belongs to the module's own data. */
export function heapBase(): usize {
  return __heap_base;
}
