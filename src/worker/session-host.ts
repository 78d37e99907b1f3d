/**
 * The worker's side of a training session: builds the session when the page opens it (with a
 * GroupSource that reaches the page's mesh, src/worker/group-client.ts), applies the page's commands
 * and sends back every event with the session's state, step and activity. Step logs and the other
 * event details are plain data and cross by structured clone; errors cross as records
 * (src/worker/errors.ts).
 */
import type { SessionLike } from '../app/ports.ts';
import type { Backend } from '../backend/backend.ts';
import { checkBucketCap } from '../train/buckets.ts';
import { checkPauseStep, TrainingSession, type GroupSource, type SessionOptions } from '../train/session.ts';
import type { TrainConfig } from '../train/types.ts';
import { encodeError } from './errors.ts';
import { RemoteGroups } from './group-client.ts';
import { listen, type PortLike } from './port.ts';
import type { SessionCommand, SessionEventName, SessionReply, SessionRequest, SessionStatus } from './protocol.ts';

/**
 * How often the worker looks at what its session is doing (computing, exchanging…) and tells the
 * page when it changed: finer than the page's status line polls it (250 ms).
 */
export const ACTIVITY_CHECK_MS = 100;

const EVENTS: readonly SessionEventName[] = ['step', 'world', 'pace', 'error'];

/** What the page opened a session with, checked: `groups` null when this tab trains alone. */
export interface WorkerSessionOptions {
  config: TrainConfig;
  trace: boolean;
  /** Absent: every step (when `trace`). */
  traceEvery?: number;
  /** Absent: the trainer's BUCKET_CAP_BYTES; Infinity: one all-reduce after backward. */
  bucketCapBytes?: number;
  groups: GroupSource | null;
}

/** Builds the session for an opened port. */
export type WorkerSessionFactory = (opts: WorkerSessionOptions) => SessionLike;

/**
 * The compute worker's sessions: a TrainingSession on `backend` with everything the page opened it
 * with. `base` adds what the page does not send (tests give a small data set).
 */
export function trainingSessions(backend: Backend, base: Partial<Omit<SessionOptions, 'backend' | 'groups' | 'group'>> = {}): WorkerSessionFactory {
  return ({ config, trace, traceEvery, bucketCapBytes, groups }) =>
    new TrainingSession({
      ...base,
      backend,
      config,
      trace,
      ...(traceEvery !== undefined ? { traceEvery } : {}),
      ...(bucketCapBytes !== undefined ? { bucketCapBytes } : {}),
      ...(groups ? { groups } : { group: null }),
    });
}

/**
 * The page's optional fields, refused here with a stable code when out of range: a session would
 * otherwise read 0 or NaN as "the default" and measure something else than was asked for.
 */
function checkedOptions(msg: SessionRequest & { type: 's.open' }): Pick<WorkerSessionOptions, 'traceEvery' | 'bucketCapBytes'> {
  const out: Pick<WorkerSessionOptions, 'traceEvery' | 'bucketCapBytes'> = {};
  if (msg.traceEvery !== undefined) {
    if (!Number.isInteger(msg.traceEvery) || msg.traceEvery < 1) {
      throw Object.assign(new Error(`the trace period must be a whole number of steps ≥ 1, got ${String(msg.traceEvery)}`), { code: 'ERR_BAD_TRACE_PERIOD' });
    }
    out.traceEvery = msg.traceEvery;
  }
  if (msg.bucketCapBytes !== undefined) out.bucketCapBytes = checkBucketCap(msg.bucketCapBytes);
  return out;
}

/** Serves one session on `port` until the page destroys it; then closes the port. */
export class SessionHost {
  private session: SessionLike | null = null;
  private groups: RemoteGroups | null = null;
  private ack = 0;
  private lastSent = '';
  private activityTimer: ReturnType<typeof setInterval> | undefined;
  private readonly detach: () => void;
  private destroyed = false;

  constructor(
    private readonly port: PortLike,
    private readonly create: WorkerSessionFactory,
  ) {
    this.detach = listen(port, (data) => this.onMessage(data as SessionRequest));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.activityTimer);
    const session = this.session;
    if (session) {
      for (const name of EVENTS) session.removeEventListener(name, this.forward);
      session.removeEventListener('state', this.onState);
      session.destroy();
    }
    this.groups?.destroy();
    this.detach();
    this.port.close?.();
  }

  private status(): SessionStatus {
    const s = this.session!;
    return { ack: this.ack, state: s.state, step: s.step, activity: s.activity ?? (s.state === 'running' ? 'computing' : s.state) };
  }

  private post(message: SessionReply): void {
    if (this.destroyed) return;
    if (message.type !== 's.ended') this.lastSent = JSON.stringify(message.status);
    this.port.postMessage(message);
  }

  private readonly forward = (ev: Event): void => {
    const name = ev.type as SessionEventName;
    const detail = (ev as CustomEvent).detail;
    this.post({ type: 's.event', name, detail: name === 'error' ? encodeError(detail) : detail, status: this.status() });
  };

  private readonly onState = (): void => this.sendStatus(true);

  private sendStatus(always: boolean): void {
    if (!this.session) return;
    const status = this.status();
    if (always || JSON.stringify(status) !== this.lastSent) this.post({ type: 's.status', status });
  }

  private onMessage(msg: SessionRequest): void {
    if (this.destroyed || !msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 's.open':
        return this.open(msg);
      case 's.command':
        return this.command(msg.seq, msg.command);
      case 's.pause-after':
        return this.pauseAfter(msg.seq, msg.step);
      case 's.destroy':
        return this.destroy();
    }
  }

  private open(msg: SessionRequest & { type: 's.open' }): void {
    if (this.session) return;
    try {
      const checked = checkedOptions(msg);
      this.groups = msg.groups ? new RemoteGroups(this.port, msg.groups) : null;
      this.session = this.create({ config: msg.config, trace: msg.trace, ...checked, groups: this.groups });
    } catch (err) {
      this.port.postMessage({ type: 's.ended', error: encodeError(err) } satisfies SessionReply);
      return;
    }
    for (const name of EVENTS) this.session.addEventListener(name, this.forward);
    this.session.addEventListener('state', this.onState);
    this.activityTimer = setInterval(() => this.sendStatus(false), ACTIVITY_CHECK_MS);
    this.sendStatus(true);
  }

  private command(seq: number, command: SessionCommand): void {
    const session = this.session;
    this.ack = seq;
    if (!session) return;
    if (command === 'start') {
      session.start().then(
        () => this.post({ type: 's.ended', error: null }),
        (err: unknown) => this.post({ type: 's.ended', error: encodeError(err) }),
      );
    } else if (command === 'pause') session.pause();
    else if (command === 'resume') session.resume();
    else if (command === 'reset') session.reset();
    // Always, so the page learns this command is applied even when the state did not change.
    this.sendStatus(true);
  }

  /**
   * The page's pause step, checked here: a bad one is reported (ERR_BAD_PAUSE_STEP) and the session
   * pauses at once, since a pause was asked for and a tab that trains on would stall the room.
   */
  private pauseAfter(seq: number, step: unknown): void {
    const session = this.session;
    this.ack = seq;
    if (!session) return;
    try {
      session.pauseAfter(checkPauseStep(step));
    } catch (err) {
      session.pause();
      this.post({ type: 's.event', name: 'error', detail: encodeError(err), status: this.status() });
    }
    this.sendStatus(true);
  }
}
