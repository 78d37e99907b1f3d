/**
 * WebAssembly SIMD backend: the CPU backend's class (checks, memory, light ops) with the heavy kernels
 * compiled to wasm (./kernels.ts over wasm/*.ts). For browsers without WebGPU, where it replaces the
 * float64 TypeScript backend; that one stays the oracle.
 */
import { CpuBackend } from '../cpu/cpu-backend.ts';
import { WasmHeap, instantiateKernels, wasmKernelsSupported } from './memory.ts';
import { wasmKernels } from './kernels.ts';

export { wasmKernelsSupported } from './memory.ts';
export { wasmKernels } from './kernels.ts';
export { WasmHeap, instantiateKernels } from './memory.ts';

export const WASM_BACKEND_LABEL = 'CPU (WebAssembly SIMD)';

/** Compiles the kernels and returns the backend; rejects when the engine lacks WebAssembly SIMD. */
export async function createWasmBackend(): Promise<CpuBackend> {
  if (!wasmKernelsSupported()) throw new Error('this browser runs no WebAssembly SIMD');
  const heap = new WasmHeap(await instantiateKernels());
  return new CpuBackend(wasmKernels(heap), WASM_BACKEND_LABEL);
}
