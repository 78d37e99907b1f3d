/**
 * Where training computes, as the app's ports (BackendProvider, SessionFactory):
 * - `workerCompute`: in the compute worker (src/worker/compute.worker.ts). The backend is chosen in
 *   the worker and reported here (badge, label, fallback reason, later GPU errors); each session is
 *   a RemoteSession on its own MessageChannel. When no worker can be started (a CSP without
 *   worker-src, a browser without module workers) it computes on the page, with a notice
 *   (ERR_NO_WORKER).
 * - `pageCompute`: on the page's own thread (`?compute=main`, and the fallback).
 */
import type { BackendChoice, BackendHandle, BackendProvider, SessionFactory, SessionLike } from '../app/ports.ts';
import type { Backend } from '../backend/backend.ts';
import { createBackend } from '../backend/index.ts';
import { TrainingSession } from '../train/session.ts';
import { decodeError } from './errors.ts';
import { listen } from './port.ts';
import type { ControlReply, ControlRequest } from './protocol.ts';
import { RemoteSession } from './session-client.ts';

/**
 * How long the page waits for a started worker to report that its modules loaded before it gives up
 * and computes on the page: generous, since a shared, loaded machine was seen taking seconds.
 */
export const WORKER_START_TIMEOUT_MS = 30_000;

/**
 * The app's session factory, plus what headless runs and benchmarks set: the BN trace period and the
 * gradient bucket cap (src/worker/protocol.ts; the worker checks them).
 */
export type ComputeSessionFactory = (opts: Parameters<SessionFactory>[0] & { traceEvery?: number; bucketCapBytes?: number }) => SessionLike;

export interface ComputeWorker {
  /** The worker's backend, chosen once: WebGPU when `webgpu` (default: the page has it), else wasm. */
  backend(webgpu?: boolean): Promise<BackendChoice>;
  createSession: ComputeSessionFactory;
  terminate(): void;
}

/** Why the worker could not be used, as an error with a stable code (shown as a notice). */
export function noWorkerError(why: string): Error & { code: string } {
  return Object.assign(new Error(`no compute worker: ${why}`), { code: 'ERR_NO_WORKER' });
}

/** Resolves once the worker runs, or rejects with ERR_NO_WORKER when it cannot. */
export function startComputeWorker(create: () => Worker = defaultWorker): Promise<ComputeWorker> {
  let worker: Worker;
  try {
    worker = create();
  } catch (err) {
    return Promise.reject(noWorkerError(err instanceof Error ? err.message : String(err)));
  }
  return new Promise<ComputeWorker>((resolve, reject) => {
    const fail = (why: string) => {
      cleanup();
      worker.terminate();
      reject(noWorkerError(why));
    };
    const onError = (ev: Event) => fail((ev as ErrorEvent).message || 'the worker script failed to load');
    const timer = setTimeout(() => fail(`it did not start within ${WORKER_START_TIMEOUT_MS / 1000} s`), WORKER_START_TIMEOUT_MS);
    const off = listen(worker, (data) => {
      if ((data as ControlReply)?.type !== 'ready') return;
      cleanup();
      resolve(computeWorker(worker));
    });
    const cleanup = () => {
      clearTimeout(timer);
      off();
      worker.removeEventListener('error', onError);
    };
    worker.addEventListener('error', onError);
  });
}

function defaultWorker(): Worker {
  return new Worker(new URL('./compute.worker.ts', import.meta.url), { type: 'module', name: 'shufflebn-compute' });
}

function computeWorker(worker: Worker): ComputeWorker {
  const errorListeners = new Set<(err: Error & { code?: string }) => void>();
  let choice: Promise<BackendChoice> | null = null;
  const handles = new WeakSet<BackendHandle>();

  listen(worker, (data) => {
    const msg = data as ControlReply;
    if (msg?.type === 'backend-error') for (const listener of errorListeners) listener(decodeError(msg.error));
  });
  // An error the worker did not handle (it keeps running) is a failure a person must hear of.
  worker.addEventListener('error', (ev) => {
    const err = Object.assign(new Error(`the compute worker failed: ${(ev as ErrorEvent).message || 'unknown error'}`), { code: 'ERR_WORKER_FAILED' });
    for (const listener of errorListeners) listener(err);
  });

  // The page's own WebGPU decides by default: a page without it (switched off, not offered) trains without it.
  const backend = (webgpu = typeof navigator !== 'undefined' && Boolean((navigator as Navigator & { gpu?: unknown }).gpu)): Promise<BackendChoice> =>
    (choice ??= new Promise<BackendChoice>((resolve, reject) => {
      const off = listen(worker, (data) => {
        const msg = data as ControlReply;
        if (msg?.type !== 'backend') return;
        off();
        if (!msg.ok) return reject(decodeError(msg.error));
        const handle: BackendHandle = { label: msg.label, kind: msg.kind };
        handles.add(handle);
        resolve({
          backend: handle,
          badge: msg.badge,
          ...(msg.fallback ? { fallbackReason: decodeError(msg.fallback) } : {}),
          onError: (listener) => {
            errorListeners.add(listener);
            return () => errorListeners.delete(listener);
          },
        });
      });
      worker.postMessage({ type: 'backend', webgpu } satisfies ControlRequest);
    }));

  const createSession: ComputeSessionFactory = ({ backend: handle, groups, config, trace, traceEvery, bucketCapBytes }) => {
    if (!handles.has(handle)) throw Object.assign(new Error('this session factory trains on the compute worker’s backend only'), { code: 'ERR_SESSION' });
    const { port1, port2 } = new MessageChannel();
    worker.postMessage({ type: 'session', port: port2 } satisfies ControlRequest, [port2]);
    return new RemoteSession(port1, {
      config,
      trace,
      groups,
      ...(traceEvery !== undefined ? { traceEvery } : {}),
      ...(bucketCapBytes !== undefined ? { bucketCapBytes } : {}),
    });
  };

  return { backend, createSession, terminate: () => worker.terminate() };
}

export interface ComputePorts {
  provideBackend: BackendProvider;
  createSession: SessionFactory;
}

/** Backend and sessions on the page's own thread: WebGPU when the browser has it, else the CPU backend. */
export function pageCompute(): ComputePorts {
  const backends = new WeakMap<BackendHandle, Backend>();
  return {
    provideBackend: async () => {
      const created = await createBackend('auto');
      const { backend } = created;
      backends.set(backend, backend);
      const badge = backend.kind === 'cpu' ? 'cpu' : backend.isFallbackAdapter ? 'webgpu-fallback' : 'webgpu';
      return {
        backend,
        badge,
        ...(created.fallbackReason ? { fallbackReason: Object.assign(new Error(created.fallbackReason), { code: noWebGpuCode() }) } : {}),
        onError: (listener) => created.onError(listener),
      };
    },
    /**
     * A session per run. BN statistics are traced every step: the shuffle view and the log show them
     * (the controller renders at most ~10 frames a second and keeps only the newest trace).
     */
    createSession: ({ backend: handle, groups, config, trace }) => {
      const backend = backends.get(handle);
      if (!backend) throw Object.assign(new Error('this session factory trains on its own backend only'), { code: 'ERR_SESSION' });
      return new TrainingSession({ backend, config, trace, ...(groups ? { groups } : { group: null }) });
    },
  };
}

/**
 * Backend and sessions in the compute worker; the page keeps the mesh and the UI. When no worker can
 * be started, the page computes and the backend choice carries the reason as a notice.
 */
export function workerCompute(start: () => Promise<ComputeWorker> = () => pageLoaded().then(() => startComputeWorker()), onPage: ComputePorts = pageCompute()): ComputePorts {
  let chosen: Promise<ComputePorts> | null = null;
  let fallback: (Error & { code?: string }) | null = null;
  const ports = () =>
    (chosen ??= start().then(
      (worker): ComputePorts => ({ provideBackend: () => worker.backend(), createSession: worker.createSession }),
      (err: Error & { code?: string }) => {
        fallback = err;
        return onPage;
      },
    ));
  let current: ComputePorts | null = null;
  return {
    provideBackend: async (): Promise<BackendChoice> => {
      current = await ports();
      const choice = await current.provideBackend();
      return fallback ? { ...choice, notices: [...(choice.notices ?? []), fallback] } : choice;
    },
    createSession: (opts) => {
      if (!current) throw Object.assign(new Error('the backend has not been chosen yet'), { code: 'ERR_SESSION' });
      return current.createSession(opts);
    },
  };
}

/**
 * Resolves once the page has loaded: the worker fetches its own copy of the modules, and starting it
 * after the page's keeps it from slowing the page's first paint (seen on a loaded dev server).
 */
function pageLoaded(): Promise<void> {
  if (typeof document === 'undefined' || document.readyState === 'complete') return Promise.resolve();
  return new Promise((resolve) => window.addEventListener('load', () => resolve(), { once: true }));
}

/**
 * Browsers expose WebGPU to secure contexts only (https, or localhost): a page opened over plain http
 * on a LAN address has none, whatever its GPU. Saying so tells the person the fix (https), not
 * "use another browser".
 */
function noWebGpuCode(): 'ERR_INSECURE_CONTEXT' | 'ERR_NO_WEBGPU' {
  return globalThis.isSecureContext === false ? 'ERR_INSECURE_CONTEXT' : 'ERR_NO_WEBGPU';
}
