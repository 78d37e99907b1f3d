/**
 * One tab of a fault scenario (page module): joins a room over the real mesh, trains with a
 * TrainingSession on the real backend, and can play a slow, stalling, faulty or hostile peer.
 * Everything it sees goes to `window.__sbnReport(kind, payload)` as plain JSON.
 */
import { createBackend, type BackendPreference } from '../../src/backend/index.ts';
import { Mesh } from '../../src/mesh/mesh.ts';
import { encodeFrame, FrameKind, MAX_CHUNKS, MAX_MESSAGE_BYTES } from '../../src/mesh/wire.ts';
import { meshGroups, TrainingSession, type RoomPace, type SessionFaults, type WorldInfo } from '../../src/train/session.ts';
import type { StepLog, TrainConfig } from '../../src/train/types.ts';
import { hostileGroups, type GatherFault } from '../helpers/hostile-gather.ts';

/** What makes this tab misbehave (JSON, so a test can pass it into the page). */
export interface FaultSpec {
  /** Extra compute time on steps from..to (a slow device). */
  slow?: { from: number; to: number; delayMs: number };
  /** One stall of `ms` before the gradient of `step` (the first time that step runs only). */
  stallOnce?: { step: number; ms: number };
  /** This tab's gradient contribution at `step` (or the first step after, once armed) is corrupted. */
  gradient?: { step: number; kind: 'inf' | 'huge' | 'wrong-length' };
}

export interface TabRunOptions {
  config: TrainConfig;
  tabs: number;
  backend: BackendPreference;
  gatherTimeoutMs?: number;
  faults?: FaultSpec;
  /** What this tab forges in its gathers (BatchNorm sync rows, its worker count). */
  gatherFault?: GatherFault;
  /** false: `gradient` and `gatherFault` hold off until arm() (so a test can take a baseline first). */
  armed?: boolean;
}

type Report = (kind: 'step' | 'world' | 'error' | 'pace' | 'state', payload: unknown) => void;
const report: Report = (kind, payload) => (window as unknown as { __sbnReport?: Report }).__sbnReport?.(kind, payload);

let mesh: Mesh | null = null;
let session: TrainingSession | null = null;
/** Whether the model was finite when leave() stopped training (null before). */
let finiteAtLeave: boolean | null = null;
/** Whether corrupt gradients and forged gathers may strike (see TabRunOptions.armed). */
let armed = true;

/** Lets the faults of a run started with `armed: false` strike from now on. */
export function arm(): void {
  armed = true;
}

async function modelFinite(s: TrainingSession): Promise<boolean | null> {
  const models = await s.snapshot();
  return models ? models.every((state) => [state.query, state.key, state.velocities, state.queue].every((part) => part.every(Number.isFinite))) : null;
}

/** Joins (or creates) a room; `collectiveTimeoutMs` is the base deadline of every collective. */
export async function joinRoom(room: { create: true } | { roomId: string }, collectiveTimeoutMs?: number): Promise<{ roomId: string; selfId: string }> {
  mesh = await Mesh.join({ room, meta: { name: 'fault-tab' }, ...(collectiveTimeoutMs ? { collective: { timeoutMs: collectiveTimeoutMs } } : {}) });
  mesh.on('error', (err) => report('error', { code: err.code, message: err.message, peerId: err.peerId ?? null, at: performance.now() }));
  mesh.on('peer-left', ({ peerId, reason }) => report('error', { code: reason.code, message: reason.message, peerId, at: performance.now() }));
  return { roomId: mesh.roomId, selfId: mesh.selfId };
}

function sessionFaults(spec: FaultSpec = {}): SessionFaults {
  const faults: SessionFaults = {};
  if (spec.slow) {
    const { from, to, delayMs } = spec.slow;
    faults.stepDelayMs = (step) => (step >= from && step <= to ? delayMs : 0);
  }
  if (spec.stallOnce) {
    let done = false;
    const { step: at, ms } = spec.stallOnce;
    faults.gradientDelayMs = (step) => (step === at && !done ? ((done = true), ms) : 0);
  }
  if (spec.gradient) {
    const { step: at, kind } = spec.gradient;
    let done = false;
    faults.gradient = (step, g) => {
      if (!armed || step < at || done) return g;
      done = true;
      if (kind === 'inf') return g.map((v, i) => (i % 7 === 0 ? Infinity : v));
      if (kind === 'huge') return g.map(() => 3e38);
      return Float32Array.from([...g, 0]);
    };
  }
  return faults;
}

/** Trains until the run's last step or leave(); resolves with the backend it ran on and whether its model is finite. */
export async function run(opts: TabRunOptions): Promise<{ steps: number; state: string; backend: string; modelFinite: boolean | null }> {
  if (!mesh) throw new Error('joinRoom() first');
  const m = mesh;
  await m.waitForSize(opts.tabs, 120_000);
  const { backend } = await createBackend(opts.backend);
  armed = opts.armed ?? true;
  let stepOf = () => 0;
  const s = new TrainingSession({
    backend,
    config: opts.config,
    groups: opts.gatherFault ? hostileGroups(meshGroups(m), opts.gatherFault, () => stepOf()) : meshGroups(m),
    faults: sessionFaults(opts.faults),
    ...(opts.gatherTimeoutMs ? { gatherTimeoutMs: opts.gatherTimeoutMs } : {}),
  });
  session = s;
  stepOf = () => (armed ? s.step : -1);
  s.addEventListener('step', (e) => report('step', { ...(e as CustomEvent<StepLog>).detail, rank: m.group.rank, epoch: m.epoch, at: performance.now() }));
  s.addEventListener('world', (e) => report('world', { ...(e as CustomEvent<WorldInfo>).detail, epoch: m.epoch, at: performance.now() }));
  s.addEventListener('pace', (e) => report('pace', (e as CustomEvent<RoomPace>).detail));
  s.addEventListener('state', (e) => report('state', (e as CustomEvent<string>).detail));
  s.addEventListener('error', (e) => {
    const err = (e as CustomEvent<Error & { code?: string; peerId?: string }>).detail;
    report('error', { code: err.code ?? 'ERR_SESSION', message: err.message, peerId: err.peerId ?? null, at: performance.now() });
  });
  await s.start().catch(() => {});
  const result = { steps: s.step, state: s.state, backend: backend.kind, modelFinite: s === session ? await modelFinite(s) : finiteAtLeave };
  s.destroy();
  backend.destroy();
  return result;
}

/**
 * Plays a hostile peer towards every connected peer: `declare-512mib` sends the first 1 KiB chunk of
 * 8 messages each declaring 64 MiB (≈ 8.5 KB on the wire); `future-steps` sends `count` small
 * messages stamped with future steps. Returns the frames and bytes sent.
 */
export function attack(kind: 'declare-512mib' | 'future-steps', count = 10_000): { frames: number; bytes: number } {
  if (!mesh) throw new Error('joinRoom() first');
  const frames: ArrayBuffer[] = [];
  const epoch = mesh.epoch;
  // Inside the receivers' operation window (they run in lockstep with this tab), but not reached soon.
  const opId = (mesh.group as unknown as { p2p: { currentOp: number } }).p2p.currentOp + 20;
  if (kind === 'declare-512mib') {
    const chunk = new Uint8Array(MAX_MESSAGE_BYTES / MAX_CHUNKS);
    for (let i = 0; i < 8; i++) {
      frames.push(encodeFrame({ kind: FrameKind.F32, round: i, epoch, step: 0, opId, chunkIndex: 0, chunkCount: MAX_CHUNKS, totalBytes: MAX_MESSAGE_BYTES }, chunk));
    }
  } else {
    const payload = new Uint8Array(16);
    for (let i = 0; i < count; i++) frames.push(encodeFrame({ kind: FrameKind.F32, round: i % 65_536, epoch, step: 1_000_000 + i, opId, chunkIndex: 0, chunkCount: 1, totalBytes: 16 }, payload));
  }
  let bytes = 0;
  for (const peer of mesh.members) {
    if (peer.id === mesh.selfId) continue;
    for (const frame of frames) {
      mesh.sendRawFrame(peer.id, 'bulk', frame);
      bytes += frame.byteLength;
    }
  }
  return { frames: frames.length, bytes };
}

/** Leaves the room and frees everything, after the step in flight (run() then resolves with the model's state). */
export async function leave(): Promise<void> {
  if (session) {
    await session.pauseAndSettle();
    finiteAtLeave = await modelFinite(session);
  }
  session?.destroy();
  mesh?.destroy();
  session = null;
  mesh = null;
}
