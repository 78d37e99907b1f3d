/**
 * Page side of the UI browser tests: loads every element and lets the test mount one with given
 * properties, and drive an AppController over fake room/session ports.
 */
import '../../src/ui/sbn-app.ts';
import { toNotice } from '../../src/app/errors.ts';
import { AppStore } from '../../src/app/store.ts';
import { AppController } from '../../src/app/controller.ts';
import { newSeries, appendStep } from '../../src/app/series.ts';
import { stepLines } from '../../src/app/format.ts';
import { DEFAULT_CONFIG } from '../../src/train/types.ts';
import { cyclic, stepLog } from './fixtures.ts';
import type { PeerInfo } from '../../src/app/ports.ts';
import { fakeBackendProvider, fakeConnector, fakeSessionFactory, type FakeRoom } from './fakes.ts';

/** Mounts `<tag>` with `props` and waits for its first render. */
export async function mount(tag: string, props: Record<string, unknown>): Promise<void> {
  document.body.replaceChildren();
  // The app's page background, so screenshots look like the app.
  document.body.style.background = '#0f1218';
  const el = document.createElement(tag) as HTMLElement & { updateComplete?: Promise<unknown> };
  Object.assign(el, props);
  document.body.append(el);
  await el.updateComplete;
  // Children render in their own update cycles.
  await new Promise((r) => requestAnimationFrame(() => r(null)));
}

/** Records CustomEvents of the given types fired anywhere in the page. */
export function recordEvents(types: string[]): { type: string; detail: unknown }[] {
  const seen: { type: string; detail: unknown }[] = [];
  for (const t of types) document.addEventListener(t, (e) => seen.push({ type: t, detail: (e as CustomEvent).detail }));
  (window as unknown as { __events: typeof seen }).__events = seen;
  return seen;
}

export function shuffleFrame(channels: number, layers: number, sourceOf: number[]) {
  const log = stepLog(4, sourceOf, { channels, layers });
  return { step: log.step, sourceOf: log.sourceOf, layers: log.bn! };
}

export function logLines(workers: number, steps: number): string[] {
  return stepLines(stepLog(2, cyclic(workers), { channels: 12 }), steps);
}

export function notices(codes: string[]) {
  return codes.map((code, i) => toNotice(Object.assign(new Error(`technical ${code}`), { code }), { now: i }));
}

/** Two runs: an older finished `local` run and a current `shuffle` run, with given step counts. */
export function runs(olderSteps: number, currentSteps: number) {
  const older = newSeries('older', { ...DEFAULT_CONFIG, mode: 'local' }, 4);
  for (let s = 0; s < olderSteps; s++) appendStep(older, stepLog(s, cyclic(4), { knn: s % 5 === 4 }));
  older.finished = true;
  const current = newSeries('current', { ...DEFAULT_CONFIG, mode: 'shuffle' }, 4);
  for (let s = 0; s < currentSteps; s++) appendStep(current, stepLog(s, cyclic(4, 3), { knn: s % 5 === 4 }));
  return [older, current];
}

/**
 * Two more connected peers with the longest texts the table shows (adapter names as browsers report
 * them, the software-adapter backend, RTT filled), so the room has three connected peers besides this tab.
 */
const CROWD: PeerInfo[] = [
  { id: 'crowd-peer-a', rank: 2, meta: { device: 'Google SwiftShader Device (Subzero) (0x0000C0DE) · Vulkan 1.3', backend: 'webgpu-fallback', virtualWorkers: 64 }, rttMs: 123.45, link: 'connected' },
  { id: 'crowd-peer-b', rank: 3, meta: { device: 'Mozilla Firefox 153 (no WebGPU) on a Pixel 8 Pro', backend: 'cpu', virtualWorkers: 16 }, rttMs: 1234.5, link: 'connected' },
];

/** The crowded room waits for its Firefox phone (the longest device name gets the mark and the button). */
const CROWD_PACE = { slowest: { peerId: 'crowd-peer-b', stepMs: 9876.5 }, waitingFor: { peerId: 'crowd-peer-b', waitedMs: 4200 } };

/** The whole app over fake ports: returns handles the test drives through `window.__app`. */
export async function mountApp(opts: { href: string; stepsPerSecond?: number; crowded?: boolean }): Promise<void> {
  const room: FakeRoom = { configs: [], listener: null };
  const store = new AppStore();
  const controller = new AppController({
    store,
    connectRoom: fakeConnector(room, opts.crowded ? { extraPeers: CROWD } : {}),
    provideBackend: fakeBackendProvider('webgpu-fallback', 'SwiftShader (test)'),
    createSession: fakeSessionFactory({ stepIntervalMs: 1000 / (opts.stepsPerSecond ?? 50), ...(opts.crowded ? { tabComputeMs: [2412.4, 2871.9, 1203.2, 9876.5], pace: CROWD_PACE } : {}) }),
    nav: { href: () => opts.href, replace: () => {} },
  });
  document.body.replaceChildren();
  const app = document.createElement('sbn-app');
  app.store = store;
  app.controller = controller;
  document.body.append(app);
  (window as unknown as Record<string, unknown>).__app = { store, controller, room };
  await controller.boot();
  await app.updateComplete;
}
