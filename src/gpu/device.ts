/**
 * Adapter and device acquisition, and the one path by which GPU failures reach the app: device loss
 * and uncaptured errors become `BackendError`s (ERR_DEVICE_LOST, ERR_GPU_VALIDATION) delivered to
 * listeners that a UI can show.
 */
import { BackendError } from '../backend/backend.ts';

/** Storage buffers per kernel we need (bn_dx_local and bn_param_grads bind 7); WebGPU guarantees 8. */
export const REQUIRED_STORAGE_BUFFERS = 8;

export interface GpuDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  /** e.g. "google swiftshader (fallback)" or the adapter description. */
  label: string;
  isFallbackAdapter: boolean;
}

export interface RequestGpuOptions {
  powerPreference?: GPUPowerPreference;
}

/** Requests an adapter (fallback adapters such as SwiftShader accepted) and a device with the limits we use. */
export async function requestGpuDevice(opts: RequestGpuOptions = {}): Promise<GpuDevice> {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) throw new BackendError('ERR_NO_WEBGPU', 'this browser has no WebGPU (navigator.gpu is missing); the CPU backend will be used');
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined);
  } catch (err) {
    throw new BackendError('ERR_NO_WEBGPU', `requestAdapter failed: ${String(err)}`);
  }
  if (!adapter) throw new BackendError('ERR_NO_WEBGPU', 'no WebGPU adapter is available (GPU blocklisted or disabled)');
  const lim = adapter.limits;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      label: 'ShuffleBN.device',
      requiredLimits: {
        maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
        maxBufferSize: lim.maxBufferSize,
        maxStorageBuffersPerShaderStage: Math.max(REQUIRED_STORAGE_BUFFERS, Math.min(lim.maxStorageBuffersPerShaderStage, 10)),
        maxComputeWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension,
      },
    });
  } catch (err) {
    throw new BackendError('ERR_NO_WEBGPU', `requestDevice failed: ${String(err)}`);
  }
  const info = adapter.info;
  const isFallbackAdapter = Boolean((info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter);
  const name = info.description || [info.vendor, info.architecture].filter(Boolean).join(' ') || 'WebGPU adapter';
  return { adapter, device, label: isFallbackAdapter ? `${name} (fallback)` : name, isFallbackAdapter };
}

export type GpuErrorListener = (err: BackendError) => void;

/**
 * Forwards device loss and uncaptured errors to listeners. Loss caused by our own `destroy()` is not
 * reported; a device destroyed by anyone else is lost to us and is. Returns a detach function.
 */
export function watchDevice(device: GPUDevice, emit: GpuErrorListener, isDestroyed: () => boolean): () => void {
  let detached = false;
  void device.lost.then((info) => {
    if (detached || isDestroyed()) return;
    emit(new BackendError('ERR_DEVICE_LOST', `the GPU device was lost (${info.message || 'no reason given'}); reload the page to continue`));
  });
  const onError = (ev: GPUUncapturedErrorEvent): void => {
    if (detached) return;
    emit(new BackendError('ERR_GPU_VALIDATION', `GPU error: ${ev.error.message}`));
  };
  device.addEventListener('uncapturederror', onError);
  return () => {
    detached = true;
    device.removeEventListener('uncapturederror', onError);
  };
}
