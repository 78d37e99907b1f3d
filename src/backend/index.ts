/**
 * Picks the tensor backend: WebGPU when available (fallback adapters such as SwiftShader included),
 * else the CPU backend, with the reason kept so the UI can say why training runs on the CPU.
 * The WebGPU module is loaded on demand, so Node code (experiments, unit tests) never touches it.
 */
import { BackendError, type Backend } from './backend.ts';
import { createCpuBackend } from './cpu/index.ts';

export type BackendPreference = 'auto' | 'webgpu' | 'cpu';

export interface CreatedBackend {
  backend: Backend;
  /** Why the CPU backend was chosen under 'auto' (null when WebGPU runs, or 'cpu' was asked for). */
  fallbackReason: string | null;
  /**
   * Subscribes to GPU failures after creation (ERR_DEVICE_LOST, ERR_GPU_VALIDATION; never fires on the
   * CPU backend). Returns an unsubscribe function.
   */
  onError(listener: (err: BackendError) => void): () => void;
}

const noErrors = (): (() => void) => () => {};

export interface CreateBackendOptions {
  powerPreference?: GPUPowerPreference;
}

/**
 * 'webgpu' rejects with ERR_NO_WEBGPU when WebGPU is unusable; 'auto' falls back to the CPU backend;
 * 'cpu' never touches the GPU.
 */
export async function createBackend(pref: BackendPreference = 'auto', opts: CreateBackendOptions = {}): Promise<CreatedBackend> {
  if (pref === 'cpu') return { backend: createCpuBackend(), fallbackReason: null, onError: noErrors };
  try {
    const { WebGpuBackend } = await import('../gpu/webgpu-backend.ts');
    const backend = await WebGpuBackend.create(opts);
    return { backend, fallbackReason: null, onError: (listener) => backend.onError(listener) };
  } catch (err) {
    if (pref === 'webgpu') throw err instanceof BackendError ? err : new BackendError('ERR_NO_WEBGPU', String(err));
    return { backend: createCpuBackend(), fallbackReason: err instanceof Error ? err.message : String(err), onError: noErrors };
  }
}
