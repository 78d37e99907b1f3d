/**
 * Adapts the project's real modules to the controller's ports (src/app/ports.ts). This is the only
 * file of the app that imports the backend, mesh and session implementations.
 */
import { createBackend } from '../backend/index.ts';
import { connectMeshRoom } from './mesh-room.ts';
import { TrainingSession } from '../train/session.ts';
import type { BackendProvider, RoomConnector, SessionFactory } from './ports.ts';

/** WebGPU when the browser has it (software adapters included, flagged), else the CPU backend. */
export const provideBackend: BackendProvider = async () => {
  const created = await createBackend('auto');
  const { backend } = created;
  const badge = backend.kind === 'cpu' ? 'cpu' : backend.isFallbackAdapter ? 'webgpu-fallback' : 'webgpu';
  return {
    backend,
    badge,
    ...(created.fallbackReason ? { fallbackReason: Object.assign(new Error(created.fallbackReason), { code: 'ERR_NO_WEBGPU' }) } : {}),
    onError: (listener) => created.onError(listener),
  };
};

export const connectRoom: RoomConnector = connectMeshRoom;

/**
 * A session per run. BN statistics are traced every step: the shuffle view and the log show them
 * (the controller renders at most ~10 frames a second and keeps only the newest trace).
 */
export const createSession: SessionFactory = ({ backend, groups, config, trace }) =>
  new TrainingSession({ backend, config, trace, ...(groups ? { groups } : { group: null }) });
