/**
 * Messages of the compute bridge. Two kinds of port carry them:
 * - the control port (the Worker itself): the page asks for the backend, the worker answers with its
 *   choice and later GPU errors, and each training session gets its own MessageChannel;
 * - a session port: the session's commands and events (`s.*`) and its process-group traffic (`g.*`),
 *   in order on one channel, so a collective is never overtaken by the command that preceded it.
 * Tensors travel as Float32Arrays whose buffers are transferred (src/worker/port.ts).
 */
import type { CollectiveOptions, ReduceOp } from '../mesh/types.ts';
import type { BackendBadge, SessionState } from '../app/ports.ts';
import type { RoomPace, SessionActivity } from '../train/session.ts';
import type { TrainConfig } from '../train/types.ts';
import type { WireError } from './errors.ts';

// ── control port ────────────────────────────────────────────────────────────────────────────────

/** Page → worker. */
export type ControlRequest =
  /** `webgpu` false: the page has no WebGPU, so the worker must not use it either. */
  | { type: 'backend'; webgpu: boolean }
  | { type: 'session'; port: MessagePort };

/** Worker → page. */
export type ControlReply =
  /** Posted once the worker's modules are loaded: the page knows the worker runs. */
  | { type: 'ready' }
  | { type: 'backend'; ok: true; badge: BackendBadge; label: string; kind: string; fallback: WireError | null }
  | { type: 'backend'; ok: false; error: WireError }
  | { type: 'backend-error'; error: WireError };

// ── process group (session port) ───────────────────────────────────────────────────────────────

/** One epoch's group as the worker sees it; `id` names it in calls (the page keeps the real object). */
export interface GroupWire {
  id: number;
  rank: number;
  size: number;
  epoch: number;
  /** peerIds[r]: the peer id of rank r in this epoch. */
  peerIds: string[];
}

export type CollectiveCall =
  | { op: 'broadcast'; data: Float32Array | null; root: number | undefined }
  | { op: 'allGather'; data: Float32Array }
  | { op: 'exchange'; to: number; data: Float32Array; from: number }
  | { op: 'allReduce'; data: Float32Array; reduce: ReduceOp | undefined }
  | { op: 'barrier' };

/**
 * This tab's step pace as the worker's meter reads it at `at` (ms since the epoch, comparable across
 * threads). `computingMs`: the compute time so far of a step computing at `at` (null otherwise),
 * which keeps growing with the clock, so the page extrapolates between readings.
 */
export interface PaceReading {
  paceMs: number;
  computingMs: number | null;
  at: number;
}

/** Worker → page. */
export type GroupRequest =
  | { type: 'g.call'; id: number; group: number; call: CollectiveCall; opts: CollectiveOptions | undefined }
  | { type: 'g.setStep'; group: number; step: number }
  | { type: 'g.restart'; group: number; reason: WireError }
  | { type: 'g.exclude'; peerId: string; reason: WireError }
  /** `room`: answer with the room's pace (the worker's pace() reads the newest answer). */
  | { type: 'g.pace'; reading: PaceReading; room: boolean };

/** Page → worker. */
export type GroupReply =
  | { type: 'g.result'; id: number; ok: true; value: Float32Array | Float32Array[] | null }
  | { type: 'g.result'; id: number; ok: false; error: WireError }
  | { type: 'g.group'; group: GroupWire | null; complete: boolean }
  | { type: 'g.room-pace'; pace: RoomPace };

// ── session (session port) ─────────────────────────────────────────────────────────────────────

export type SessionCommand = 'start' | 'pause' | 'resume' | 'reset';

/** Page → worker. */
export type SessionRequest =
  | {
      type: 's.open';
      config: TrainConfig;
      trace: boolean;
      /** With `trace`: record BN statistics every this many steps (integer ≥ 1; absent: every step). */
      traceEvery?: number;
      /**
       * The trainer's gradient bucket cap in bytes (integer ≥ 1, or Infinity: one all-reduce after
       * backward; absent: BUCKET_CAP_BYTES). Checked by the worker (ERR_BAD_BUCKET_CAP).
       */
      bucketCapBytes?: number;
      /** null: this tab trains alone. Otherwise the group at opening; changes follow as `g.group`. */
      groups: { group: GroupWire | null; complete: boolean } | null;
    }
  | { type: 's.command'; seq: number; command: SessionCommand }
  | PauseAfterRequest
  | { type: 's.destroy' };

/** What the page mirrors of the worker's session; `ack`: the last command the worker has applied. */
export interface SessionStatus {
  ack: number;
  state: SessionState;
  step: number;
  activity: SessionActivity;
}

export type SessionEventName = 'step' | 'world' | 'pace' | 'error';

/** Worker → page. */
export type SessionReply =
  | { type: 's.status'; status: SessionStatus }
  | { type: 's.event'; name: SessionEventName; detail: unknown; status: SessionStatus }
  /** The session's training loop ended (start()'s promise settles). */
  | { type: 's.ended'; error: WireError | null };

// ── pause after a step (session port) ──────────────────────────────────────────────────────────

/**
 * Page → worker: pause once step `step` (0-based) has completed, decided by the worker's loop
 * (TrainingSession.pauseAfter); -1: at once. A command like `s.command` (same `seq`, acknowledged by
 * the next status). The worker checks `step` (ERR_BAD_PAUSE_STEP) and pauses at once when it is bad.
 */
export interface PauseAfterRequest {
  type: 's.pause-after';
  seq: number;
  step: number;
}
