/** CPU backend: float32 storage, float64 accumulation. Kernels are exported for float64 tests. */
import { CpuBackend } from './cpu-backend.ts';

export { CpuBackend } from './cpu-backend.ts';
export { CpuTensor, type Real } from './tensor.ts';
export { MAX_TENSOR_ELEMENTS } from '../checks.ts';
export * as cpuKernels from './kernels.ts';

/** Creates a CPU backend (no setup needed; synchronous). */
export function createCpuBackend(): CpuBackend {
  return new CpuBackend();
}
