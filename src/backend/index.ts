/**
 * Picks the tensor backend: WebGPU when available (fallback adapters such as SwiftShader included),
 * else the WebAssembly SIMD backend, else (an engine without wasm SIMD) the float64 TypeScript CPU
 * backend, with the reason kept so the UI can say why training runs on the CPU.
 * The WebGPU and wasm modules are loaded on demand, so Node code never touches WebGPU.
 */
import { BackendError, type Backend } from './backend.ts';
import { createCpuBackend } from './cpu/index.ts';

/** 'cpu' is the float64 TypeScript backend (the test oracle); 'wasm' the WebAssembly SIMD one. */
export type BackendPreference = 'auto' | 'webgpu' | 'wasm' | 'cpu';

export interface CreatedBackend {
  backend: Backend;
  /** Why a CPU backend was chosen under 'auto' (null when WebGPU runs, or a CPU backend was asked for). */
  fallbackReason: string | null;
  /**
   * Subscribes to GPU failures after creation (ERR_DEVICE_LOST, ERR_GPU_VALIDATION; never fires on the
   * CPU backends). Returns an unsubscribe function.
   */
  onError(listener: (err: BackendError) => void): () => void;
}

const noErrors = (): (() => void) => () => {};

export interface CreateBackendOptions {
  powerPreference?: GPUPowerPreference;
}

/** The wasm backend, or the float64 one when this engine has no WebAssembly SIMD (reason appended). */
async function cpuSide(reason: string | null): Promise<{ backend: Backend; fallbackReason: string | null }> {
  try {
    const { createWasmBackend } = await import('./wasm/index.ts');
    return { backend: await createWasmBackend(), fallbackReason: reason };
  } catch (err) {
    const why = `WebAssembly SIMD unavailable (${err instanceof Error ? err.message : String(err)})`;
    return { backend: createCpuBackend(), fallbackReason: reason === null ? why : `${reason}; ${why}` };
  }
}

/**
 * 'webgpu' rejects with ERR_NO_WEBGPU when WebGPU is unusable; 'auto' falls back to the wasm backend
 * (then to the float64 one); 'wasm' and 'cpu' never touch the GPU ('wasm' itself falls back to 'cpu'
 * with a reason on an engine without wasm SIMD).
 */
export async function createBackend(pref: BackendPreference = 'auto', opts: CreateBackendOptions = {}): Promise<CreatedBackend> {
  if (pref === 'cpu') return { backend: createCpuBackend(), fallbackReason: null, onError: noErrors };
  if (pref === 'wasm') return { ...(await cpuSide(null)), onError: noErrors };
  try {
    const { WebGpuBackend } = await import('../gpu/webgpu-backend.ts');
    const backend = await WebGpuBackend.create(opts);
    return { backend, fallbackReason: null, onError: (listener) => backend.onError(listener) };
  } catch (err) {
    if (pref === 'webgpu') throw err instanceof BackendError ? err : new BackendError('ERR_NO_WEBGPU', String(err));
    return { ...(await cpuSide(err instanceof Error ? err.message : String(err))), onError: noErrors };
  }
}
