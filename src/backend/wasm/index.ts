/**
 * WebAssembly SIMD backend: the CPU backend's class (checks, memory, light ops) with the heavy kernels
 * compiled to wasm (./kernels.ts over wasm/*.ts). For browsers without WebGPU, where it replaces the
 * float64 TypeScript backend; that one stays the oracle. Where the engine allows it (a worker of a
 * cross-origin isolated page) the GEMM and softmax run on a pool of threads (./pool.ts); elsewhere on
 * one, and the label says why.
 */
import { CpuBackend } from '../cpu/cpu-backend.ts';
import { MAX_SHARED_MEMORY_BYTES, WasmHeap, instantiateKernels, instantiateSharedKernels, wasmKernelsSupported } from './memory.ts';
import { wasmKernels } from './kernels.ts';
import { KernelPool, MAX_THREADS, type SpawnThread } from './pool.ts';

export { wasmKernelsSupported } from './memory.ts';
export { wasmKernels } from './kernels.ts';
export { MAX_SHARED_MEMORY_BYTES, WasmHeap, instantiateKernels, instantiateSharedKernels } from './memory.ts';
export { KernelPool, MAX_THREADS } from './pool.ts';

/** The backend's label starts with this; the thread count (and why one, when one) follows. */
export const WASM_BACKEND_LABEL = 'CPU (WebAssembly SIMD)';

export interface WasmBackendOptions {
  /** Threads, the calling one included: 'auto' (default) = min(cores, MAX_THREADS); 1 = no pool. */
  threads?: number | 'auto';
  /** How helper threads start: a module Worker by default (browsers); Node passes ./node-threads.ts. */
  spawn?: SpawnThread;
  /** Split thresholds of the pool (tests: 0, so that every product splits). */
  minSplitMuladds?: number;
  minSplitLogits?: number;
}

/** The wasm backend: a CpuBackend whose destroy() also stops its threads. */
export class WasmBackend extends CpuBackend {
  constructor(
    heap: WasmHeap,
    private readonly pool: KernelPool | null,
    /** Why the backend runs one thread (null with a pool, or when one thread was asked for). */
    readonly singleThreadReason: string | null,
  ) {
    const threads = pool ? pool.threads : 1;
    const label = `${WASM_BACKEND_LABEL} · ${threads} thread${threads > 1 ? 's' : ''}${singleThreadReason ? ` (${singleThreadReason})` : ''}`;
    super(wasmKernels(heap, pool ? pool.kernels() : heap.k), label);
  }

  get threads(): number {
    return this.pool ? this.pool.threads : 1;
  }

  override destroy(): void {
    this.pool?.close();
    super.destroy();
  }
}

function browserThread(): ReturnType<SpawnThread> {
  const worker = new Worker(new URL('./thread.worker.ts', import.meta.url), { type: 'module', name: 'shufflebn-wasm-thread' });
  return {
    post: (msg) => worker.postMessage(msg),
    onMessage: (cb) => worker.addEventListener('message', (ev) => cb(ev.data)),
    onError: (cb) => worker.addEventListener('error', (ev) => cb(ev)),
    terminate: () => worker.terminate(),
  };
}

/** Why this context cannot run a pool, or null when it can. */
function noThreadsReason(spawn: SpawnThread | undefined): string | null {
  const g = globalThis as { crossOriginIsolated?: boolean; document?: unknown; Worker?: unknown };
  if (typeof SharedArrayBuffer === 'undefined') return 'no shared memory here: the page is not cross-origin isolated';
  if (g.crossOriginIsolated === false) return 'the page is not cross-origin isolated';
  // The page's own thread may not block in Atomics.wait; only a worker may own the pool.
  if (g.document !== undefined) return 'compute runs on the page, which may not block';
  if (!spawn && typeof g.Worker !== 'function') return 'no Web Workers here';
  return null;
}

/**
 * `wasmThreads=N` in the URL of the script that runs this code: a compute worker started as
 * `compute.worker.ts?wasmThreads=1` runs one thread (`npm run bench:cpu` compares 1 and 2 in one page).
 */
function threadsFromLocation(): number | null {
  const search = (globalThis as { location?: { search?: string } }).location?.search;
  const value = search ? new URLSearchParams(search).get('wasmThreads') : null;
  return value !== null && /^[1-9]\d*$/.test(value) ? Number(value) : null;
}

function autoThreads(): number {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(cores, MAX_THREADS));
}

/**
 * Compiles the kernels and returns the backend; rejects when the engine lacks WebAssembly SIMD. Asked
 * for threads where they cannot run (or a helper fails to start), it runs one thread and says why.
 */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  if (!wasmKernelsSupported()) throw new Error('this browser runs no WebAssembly SIMD');
  const asked = opts.threads ?? threadsFromLocation() ?? 'auto';
  const auto = asked === 'auto';
  let reason = auto || asked > 1 ? noThreadsReason(opts.spawn) : null;
  const threads = reason !== null ? 1 : auto ? autoThreads() : Math.max(1, Math.min(Math.floor(asked), MAX_THREADS));
  if (auto && reason === null && threads === 1) reason = 'one core';
  if (threads > 1) {
    try {
      const shared = await instantiateSharedKernels();
      const pool = await KernelPool.start(shared, { threads, spawn: opts.spawn ?? browserThread, minSplitMuladds: opts.minSplitMuladds, minSplitLogits: opts.minSplitLogits });
      return new WasmBackend(new WasmHeap(shared.exports, MAX_SHARED_MEMORY_BYTES), pool, null);
    } catch (err) {
      reason = `threads failed to start: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return new WasmBackend(new WasmHeap(await instantiateKernels()), null, reason);
}
