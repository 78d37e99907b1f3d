/**
 * The CPU kernels on plain arrays. They accept Float32Array or Float64Array, so finite-difference
 * tests run the backend's exact arithmetic in float64 (where central differences are accurate).
 */
export * from './batchnorm.ts';
export * from './dense.ts';
export * from './elementwise.ts';
export * from './loss.ts';
export * from './optim.ts';
