/**
 * Where the time of one training step goes: an optional profiler the MocoTrainer marks at each phase
 * boundary (bench:train uses it; training without one pays nothing).
 *
 * A mark says "the work since the previous mark belongs to this phase". On WebGPU, ops are only
 * recorded when issued, so with `syncGpu` each mark first waits for the device (backend.flush()):
 * the GPU time then lands in the phase that issued the work, at the cost of one extra wait per
 * phase (the profiled step is slower than an unprofiled one, by that much). Time spent waiting in
 * `read()` (readbacks) and inside collectives (communication) is taken out of the phase it happened
 * in and reported as phases of its own, so the phases add up to the step's wall time.
 */
import type { Backend, Tensor } from '../backend/backend.ts';
import { realTimers, type Timers } from '../util/timers.ts';

/** Phases in step order; `readbacks` and `communication` are the waits taken out of the others. */
export const STEP_PHASES = [
  'input', 'forward', 'InfoNCE', 'backward', 'gradient packing', 'optimizer', 'momentum encoder', 'queue',
  'running statistics', 'readbacks', 'communication',
] as const;
export type StepPhase = (typeof STEP_PHASES)[number];
/** The phases the trainer marks (the other two are measured, not marked). */
export type MarkedPhase = Exclude<StepPhase, 'readbacks' | 'communication'>;

export interface StepProfile {
  /** Milliseconds per phase; they sum to `totalMs`. */
  phasesMs: Record<StepPhase, number>;
  totalMs: number;
  /** `read()` calls in the step (each one a GPU→CPU copy on WebGPU). */
  readbacks: number;
  /** Times the host started waiting for a readback with none in flight (reads issued together count once). */
  readbackWaits: number;
}

export interface StepProfilerOptions {
  /** Wait for the device at every mark so GPU time is attributed to its phase (WebGPU). */
  syncGpu: boolean;
  now?: Timers['now'];
}

export class StepProfiler {
  /** The backend to give the trainer: the same one, with its `read()` calls counted and timed. */
  readonly backend: Backend;
  private readonly now: Timers['now'];
  private phases = emptyPhases();
  private stepStart = 0;
  private lastMark = 0;
  private readMs = 0;
  private readMsAtMark = 0;
  private commMsAtMark = 0;
  private readsInFlight = 0;
  private readStart = 0;
  private readbacks = 0;
  private readbackWaits = 0;

  constructor(private readonly inner: Backend, private readonly opts: StepProfilerOptions) {
    this.now = opts.now ?? realTimers.now;
    this.backend = countReads(inner, (read) => this.onRead(read));
  }

  /** Starts a step; `commMs` is the trainer's communication time so far. */
  begin(commMs: number): void {
    this.phases = emptyPhases();
    this.readbacks = 0;
    this.readbackWaits = 0;
    this.readMs = 0;
    this.readMsAtMark = 0;
    this.commMsAtMark = commMs;
    this.stepStart = this.lastMark = this.now();
  }

  /** The work since the previous mark was `phase`; `commMs` is the trainer's communication time so far. */
  async mark(phase: MarkedPhase, commMs: number): Promise<void> {
    if (this.opts.syncGpu) await this.inner.flush();
    const t = this.now();
    const reads = this.readMs - this.readMsAtMark;
    const comm = commMs - this.commMsAtMark;
    this.phases[phase] += Math.max(0, t - this.lastMark - reads - comm);
    this.phases.readbacks += reads;
    this.phases.communication += comm;
    this.lastMark = t;
    this.readMsAtMark = this.readMs;
    this.commMsAtMark = commMs;
  }

  /** The step's profile (call after its last mark). */
  end(): StepProfile {
    return { phasesMs: { ...this.phases }, totalMs: this.lastMark - this.stepStart, readbacks: this.readbacks, readbackWaits: this.readbackWaits };
  }

  private onRead(read: Promise<unknown>): void {
    this.readbacks++;
    if (this.readsInFlight++ === 0) {
      this.readbackWaits++;
      this.readStart = this.now();
    }
    const settle = (): void => {
      if (--this.readsInFlight === 0) this.readMs += this.now() - this.readStart;
    };
    read.then(settle, settle);
  }
}

function emptyPhases(): Record<StepPhase, number> {
  return Object.fromEntries(STEP_PHASES.map((p) => [p, 0])) as Record<StepPhase, number>;
}

/** `backend` with every `read()` reported to `onRead`; every other member is the backend's own. */
function countReads(backend: Backend, onRead: (read: Promise<Float32Array>) => void): Backend {
  return new Proxy(backend, {
    get(target, key) {
      if (key === 'read') {
        return (t: Tensor): Promise<Float32Array> => {
          const read = target.read(t);
          onRead(read);
          return read;
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
