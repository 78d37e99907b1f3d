/**
 * Adapts the project's real modules to the controller's ports (src/app/ports.ts). This is the only
 * file of the app that imports the backend, mesh and session implementations.
 */
import { createCpuBackend } from '../backend/cpu/index.ts';
import type { BackendProvider, RoomConnector, SessionFactory } from './ports.ts';

/** CPU until the WebGPU selector is wired: the same numbers, only slower. */
export const provideBackend: BackendProvider = async () => ({ backend: createCpuBackend(), badge: 'cpu' });

/** Rooms need the WebRTC mesh (src/mesh/mesh.ts). */
export const connectRoom: RoomConnector | null = null;

/** Training needs src/train/session.ts. */
export const createSession: SessionFactory | null = null;
