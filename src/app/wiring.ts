/**
 * Adapts the project's real modules to the controller's ports (src/app/ports.ts). This is the only
 * file of the app that imports the mesh and the compute (backend and sessions, src/worker/compute.ts).
 *
 * Where training computes: in the compute worker (src/worker/), so a step never blocks the page;
 * on the page itself with `?compute=main` in the link (for comparison, e.g. `npm run bench:longtask`),
 * or when no worker can be started (then with a notice, ERR_NO_WORKER).
 */
import { COMPUTE_PARAM } from './link-settings.ts';
import { connectMeshRoom } from './mesh-room.ts';
import { ORIGINS_PATH, ServerOrigins } from '../signaling/origins.ts';
import { pageCompute, workerCompute, type ComputePorts } from '../worker/compute.ts';
import type { OriginsProvider, RoomConnector } from './ports.ts';

/** How long the page waits for the server's origins before offering only its own link (ms). */
const ORIGINS_TIMEOUT_MS = 5_000;

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
