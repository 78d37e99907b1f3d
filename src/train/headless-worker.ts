/**
 * One tab of a headless run (experiment runner, fault tests, training benchmark): joins a room over
 * the real mesh, waits for the other tabs, and trains with a TrainingSession on the real backend.
 * Progress goes to `window.__sbnReport(kind, payload)`, which the driving script exposes; payloads are
 * plain JSON. Loaded into a page with `import('/src/train/headless-worker.ts')`.
 */
import { createBackend, type BackendPreference } from '../backend/index.ts';
import { Mesh } from '../mesh/mesh.ts';
import { meshGroups, TrainingSession, type WorldInfo } from './session.ts';
import { truncateBnTrace } from '../nn/batchnorm/trace.ts';
import type { StepLog, TrainConfig } from './types.ts';
import type { TrafficTotals } from '../mesh/traffic.ts';
import type { SendWindowOption } from '../mesh/send-window.ts';
import type { SessionLike } from '../app/ports.ts';
import { startComputeWorker } from '../worker/compute.ts';
import { checkBucketCap } from './buckets.ts';

export interface HeadlessRunOptions {
  config: TrainConfig;
  /** Wait until this many tabs are connected before the first step. */
  tabs: number;
  backend: BackendPreference;
  /** Trace BN statistics every this many steps (0 = never). */
  traceEvery: number;
  /** Channels of each BN layer kept in traces (the full vectors are large). */
  traceChannels: number;
  /**
   * Gradient bucket cap in bytes (benchmarks; default the trainer's BUCKET_CAP_BYTES). Drivers call
   * this module through JSON, where Infinity becomes null: they pass a cap above every gradient instead.
   */
  bucketCapBytes?: number;
  /**
   * Where the steps compute: on this page (default), or in the app's compute worker (src/worker/), the
   * page keeping only the mesh; the worker offers `webgpu` or `wasm`, and takes the trace period and
   * the bucket cap through its protocol.
   */
  compute?: 'page' | 'worker';
}

export interface ReportedStep extends StepLog {
  rank: number;
  selfId: string;
  /** Everything this tab had sent to its peers when the step ended (the mesh's counters). */
  sent: TrafficTotals;
}

type Report = (kind: 'step' | 'world' | 'error' | 'state', payload: unknown) => void;

declare global {
  interface Window {
    __sbnReport?: Report;
  }
}

const report: Report = (kind, payload) => window.__sbnReport?.(kind, payload);

let mesh: Mesh | null = null;
let session: SessionLike | null = null;

/**
 * Joins (or creates) a room; resolves with its id and this tab's peer id. `peerTimeoutMs` replaces the
 * mesh's silence limit (benchmarks of many tabs on few cores, where a starved page is not a departed one);
 * `sendWindow` the bulk bytes a link may have in flight (benchmarks testing the flow-control window).
 */
export async function joinRoom(
  room: { create: true } | { roomId: string },
  opts: { peerTimeoutMs?: number; sendWindow?: SendWindowOption } = {},
): Promise<{ roomId: string; selfId: string }> {
  mesh = await Mesh.join({ room, meta: { name: 'headless' }, ...(opts.peerTimeoutMs ? { peerTimeoutMs: opts.peerTimeoutMs } : {}), ...(opts.sendWindow ? { sendWindow: opts.sendWindow } : {}) });
  mesh.on('error', (err) => report('error', { code: err.code, message: err.message, peerId: err.peerId ?? null }));
  mesh.on('peer-left', ({ peerId, reason }) => report('error', { code: reason.code, message: reason.message, peerId }));
  return { roomId: mesh.roomId, selfId: mesh.selfId };
}

/** Resolves once `size` tabs (this one included) are linked (benchmarks time the room's set-up with it). */
export async function waitForPeers(size: number, timeoutMs: number): Promise<void> {
  if (!mesh) throw new Error('joinRoom() first');
  await mesh.waitForSize(size, timeoutMs);
}

/** Trains to the end; resolves with this tab's adapter/backend label. */
export async function run(opts: HeadlessRunOptions): Promise<{ backend: string; steps: number }> {
  if (!mesh) throw new Error('joinRoom() first');
  const m = mesh;
  // Both paths refuse a bad cap alike (the page's trainer would read null or 0 as its default).
  if (opts.bucketCapBytes !== undefined) checkBucketCap(opts.bucketCapBytes);
  await m.waitForSize(opts.tabs, 120_000);
  let label: string;
  let s: SessionLike;
  let release: () => void;
  if (opts.compute === 'worker') {
    if (opts.backend !== 'webgpu' && opts.backend !== 'wasm') throw new Error(`the compute worker offers webgpu or wasm, not ${opts.backend}`);
    const worker = await startComputeWorker();
    const choice = await worker.backend(opts.backend === 'webgpu');
    if (choice.fallbackReason && opts.backend === 'webgpu') report('error', { code: 'ERR_NO_WEBGPU', message: choice.fallbackReason.message, peerId: null });
    label = `${choice.backend.kind} in the compute worker: ${choice.backend.label}`;
    s = worker.createSession({
      backend: choice.backend,
      groups: meshGroups(m),
      config: opts.config,
      trace: opts.traceEvery > 0,
      traceEvery: Math.max(1, opts.traceEvery),
      ...(opts.bucketCapBytes !== undefined ? { bucketCapBytes: opts.bucketCapBytes } : {}),
    });
    release = () => worker.terminate();
  } else {
    const { backend, fallbackReason } = await createBackend(opts.backend);
    if (fallbackReason) report('error', { code: 'ERR_NO_WEBGPU', message: fallbackReason, peerId: null });
    label = `${backend.kind}${backend.isFallbackAdapter ? ' (fallback adapter)' : ''}: ${backend.label}`;
    s = new TrainingSession({
      backend,
      config: opts.config,
      groups: meshGroups(m),
      trace: opts.traceEvery > 0,
      traceEvery: Math.max(1, opts.traceEvery),
      ...(opts.bucketCapBytes !== undefined ? { bucketCapBytes: opts.bucketCapBytes } : {}),
    });
    release = () => backend.destroy();
  }
  session = s;
  s.addEventListener('step', (e) => {
    const log = (e as CustomEvent<StepLog>).detail;
    const out: ReportedStep = { ...log, rank: m.group.rank, selfId: m.selfId, sent: m.traffic.snapshot() };
    if (log.bn) out.bn = truncateBnTrace(log.bn, opts.traceChannels);
    if (log.compare?.bn) out.compare = { ...log.compare, bn: truncateBnTrace(log.compare.bn, opts.traceChannels) };
    report('step', out);
  });
  s.addEventListener('world', (e) => report('world', { ...(e as CustomEvent<WorldInfo>).detail, selfId: m.selfId }));
  let lastError = '';
  s.addEventListener('error', (e) => {
    const err = (e as CustomEvent<Error & { code?: string }>).detail;
    lastError = `${err.code ?? 'ERR_SESSION'}: ${err.message}`;
    report('error', { code: err.code ?? 'ERR_SESSION', message: err.message, peerId: null });
  });
  s.addEventListener('state', (e) => report('state', (e as CustomEvent<string>).detail));
  // leave() may destroy the session meanwhile: then the run ends where it was.
  await s.start();
  const state = s.state;
  const steps = s.step;
  s.destroy();
  release();
  if (state === 'error') throw new Error(`training stopped with an error: ${lastError}`);
  return { backend: label, steps };
}

/** Leaves the room and frees everything (the tab can then be closed). */
export function leave(): void {
  session?.destroy();
  mesh?.destroy();
  session = null;
  mesh = null;
}
