/**
 * Adapts the project's real modules to the controller's ports (src/app/ports.ts). This is the only
 * file of the app that imports the backend, mesh and session implementations.
 *
 * Where training computes: in the compute worker (src/worker/), so a step never blocks the page;
 * on the page itself with `?compute=main` in the link (for comparison, e.g. `npm run bench:longtask`),
 * or when no worker can be started (then with a notice, ERR_NO_WORKER).
 */
import type { Backend } from '../backend/backend.ts';
import { createBackend } from '../backend/index.ts';
import { COMPUTE_PARAM } from './link-settings.ts';
import { connectMeshRoom } from './mesh-room.ts';
import { ORIGINS_PATH, ServerOrigins } from '../signaling/origins.ts';
import { TrainingSession } from '../train/session.ts';
import { startComputeWorker } from '../worker/compute.ts';
import type { BackendChoice, BackendHandle, BackendProvider, OriginsProvider, RoomConnector, SessionFactory } from './ports.ts';

/** How long the page waits for the server's origins before offering only its own link (ms). */
const ORIGINS_TIMEOUT_MS = 5_000;

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
export function workerCompute(): ComputePorts {
  const onPage = pageCompute();
  let chosen: Promise<ComputePorts> | null = null;
  let fallback: (Error & { code?: string }) | null = null;
  const ports = () =>
    (chosen ??= startComputeWorker().then(
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
 * Browsers expose WebGPU to secure contexts only (https, or localhost): a page opened over plain http
 * on a LAN address has none, whatever its GPU. Saying so tells the person the fix (https), not
 * "use another browser".
 */
function noWebGpuCode(): 'ERR_INSECURE_CONTEXT' | 'ERR_NO_WEBGPU' {
  return globalThis.isSecureContext === false ? 'ERR_INSECURE_CONTEXT' : 'ERR_NO_WEBGPU';
}

/** The compute ports the page at `href` uses: the worker, unless the link says `?compute=main`. */
export function computeFor(href: string): ComputePorts {
  return new URL(href).searchParams.get(COMPUTE_PARAM) === 'main' ? pageCompute() : workerCompute();
}

export const connectRoom: RoomConnector = connectMeshRoom;

/** The page's server's answer to `GET /api/origins`, validated; null when it has no such endpoint. */
export const loadOrigins: OriginsProvider = async () => {
  const response = await fetch(new URL(ORIGINS_PATH, location.href), { cache: 'no-store', signal: AbortSignal.timeout(ORIGINS_TIMEOUT_MS) });
  if (!response.ok || !(response.headers.get('content-type') ?? '').includes('json')) return null;
  const parsed = ServerOrigins.safeParse(await response.json());
  return parsed.success ? parsed.data : null;
};
