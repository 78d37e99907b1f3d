/**
 * Adapts the project's real modules to the controller's ports (src/app/ports.ts). This is the only
 * file of the app that imports the backend, mesh and session implementations.
 */
import { createBackend } from '../backend/index.ts';
import { connectMeshRoom } from './mesh-room.ts';
import { ORIGINS_PATH, ServerOrigins } from '../signaling/origins.ts';
import { TrainingSession } from '../train/session.ts';
import type { BackendProvider, OriginsProvider, RoomConnector, SessionFactory } from './ports.ts';

/** How long the page waits for the server's origins before offering only its own link (ms). */
const ORIGINS_TIMEOUT_MS = 5_000;

/** WebGPU when the browser has it (software adapters included, flagged), else the CPU backend. */
export const provideBackend: BackendProvider = async () => {
  const created = await createBackend('auto');
  const { backend } = created;
  const badge = backend.kind === 'cpu' ? 'cpu' : backend.isFallbackAdapter ? 'webgpu-fallback' : 'webgpu';
  return {
    backend,
    badge,
    ...(created.fallbackReason ? { fallbackReason: Object.assign(new Error(created.fallbackReason), { code: noWebGpuCode() }) } : {}),
    onError: (listener) => created.onError(listener),
  };
};

/**
 * Browsers expose WebGPU to secure contexts only (https, or localhost): a page opened over plain http
 * on a LAN address has none, whatever its GPU. Saying so tells the person the fix (https), not
 * "use another browser".
 */
function noWebGpuCode(): 'ERR_INSECURE_CONTEXT' | 'ERR_NO_WEBGPU' {
  return globalThis.isSecureContext === false ? 'ERR_INSECURE_CONTEXT' : 'ERR_NO_WEBGPU';
}

export const connectRoom: RoomConnector = connectMeshRoom;

/** The page's server's answer to `GET /api/origins`, validated; null when it has no such endpoint. */
export const loadOrigins: OriginsProvider = async () => {
  const response = await fetch(new URL(ORIGINS_PATH, location.href), { cache: 'no-store', signal: AbortSignal.timeout(ORIGINS_TIMEOUT_MS) });
  if (!response.ok || !(response.headers.get('content-type') ?? '').includes('json')) return null;
  const parsed = ServerOrigins.safeParse(await response.json());
  return parsed.success ? parsed.data : null;
};

/**
 * A session per run. BN statistics are traced every step: the shuffle view and the log show them
 * (the controller renders at most ~10 frames a second and keeps only the newest trace).
 */
export const createSession: SessionFactory = ({ backend, groups, config, trace }) =>
  new TrainingSession({ backend, config, trace, ...(groups ? { groups } : { group: null }) });
