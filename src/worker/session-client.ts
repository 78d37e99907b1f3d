/**
 * The page's side of a training session that runs in the compute worker: a SessionLike the app's
 * Run drives as it would drive a TrainingSession. Commands apply to the mirrored state at once
 * (pause then resume in one tick works as on a local session) and go to the worker; the worker's
 * state is adopted once it has applied the newest command, so an echo of an older state never
 * flips the page back. Events ('step', 'world', 'pace', 'error', 'state') are re-dispatched here.
 */
import type { SessionLike, SessionState } from '../app/ports.ts';
import type { GroupSource, SessionActivity } from '../train/session.ts';
import type { TrainConfig } from '../train/types.ts';
import { decodeError } from './errors.ts';
import { GroupHost } from './group-host.ts';
import { listen, type PortLike } from './port.ts';
import type { SessionCommand, SessionReply, SessionRequest, SessionStatus } from './protocol.ts';

export interface RemoteSessionOptions {
  config: TrainConfig;
  trace: boolean;
  /** Passed to the worker's session as they are; the worker checks them (src/worker/protocol.ts). */
  traceEvery?: number;
  bucketCapBytes?: number;
  /** null: this tab trains alone. */
  groups: GroupSource | null;
}

export class RemoteSession extends EventTarget implements SessionLike {
  private _state: SessionState = 'idle';
  private _step = 0;
  private _activity: SessionActivity = 'idle';
  private seq = 0;
  /** A pause after a later step was sent and neither resumed nor reached yet (as far as the page knows). */
  private pausePending = false;
  private loop: { promise: Promise<void>; settle: (err: Error | null) => void } | null = null;
  private readonly host: GroupHost | null;
  private readonly detach: () => void;
  private destroyed = false;

  constructor(
    private readonly port: PortLike,
    opts: RemoteSessionOptions,
  ) {
    super();
    this.host = opts.groups ? new GroupHost(port, opts.groups) : null;
    this.detach = listen(port, (data) => this.onMessage(data as SessionReply));
    this.post({
      type: 's.open',
      config: opts.config,
      trace: opts.trace,
      ...(opts.traceEvery !== undefined ? { traceEvery: opts.traceEvery } : {}),
      ...(opts.bucketCapBytes !== undefined ? { bucketCapBytes: opts.bucketCapBytes } : {}),
      groups: this.host ? this.host.initial : null,
    });
  }

  get state(): SessionState {
    return this._state;
  }
  get step(): number {
    return this._step;
  }
  get activity(): SessionActivity {
    return this._state === 'running' ? this._activity : this._state;
  }

  start(): Promise<void> {
    if (this.destroyed) return Promise.reject(Object.assign(new Error('the session was destroyed'), { code: 'ERR_DESTROYED' }));
    if (this.loop) {
      this.resume();
      return this.loop.promise;
    }
    let settle!: (err: Error | null) => void;
    const promise = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
    this.loop = { promise, settle };
    this.command('start', 'running');
    return promise;
  }

  pause(): void {
    this.pausePending = false;
    if (this._state === 'running') this.command('pause', 'paused');
  }

  /**
   * The worker's loop decides (TrainingSession.pauseAfter): the mirrored state stays 'running' until
   * the worker reports the pause, which follows the event of the last step it completed.
   */
  pauseAfter(step: number): void {
    // Any other step goes as it is: the worker checks it.
    if (step === -1) return this.pause();
    if (this._state !== 'running') return;
    this.pausePending = true;
    this.post({ type: 's.pause-after', seq: ++this.seq, step });
  }

  /** Resumes a paused session, or cancels a pause still pending in the worker. */
  resume(): void {
    const pending = this.pausePending;
    this.pausePending = false;
    if (this._state === 'paused' || (pending && this._state === 'running')) this.command('resume', 'running');
  }

  reset(): void {
    this.pausePending = false;
    this._step = 0;
    this.command('reset', this.loop ? (this._state === 'running' ? 'paused' : this._state) : 'idle');
  }

  /** Stops the worker's session and detaches from the port (the worker closes it). Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.post({ type: 's.destroy' });
    this.destroyed = true;
    this.host?.destroy();
    this.detach();
    // As a local session's loop ends when it is destroyed.
    this.loop?.settle(null);
    this.loop = null;
  }

  private command(command: SessionCommand, expected: SessionState): void {
    this.post({ type: 's.command', seq: ++this.seq, command });
    this.setState(expected);
  }

  private post(message: SessionRequest): void {
    if (!this.destroyed) this.port.postMessage(message);
  }

  private setState(state: SessionState): void {
    if (this._state === state) return;
    this._state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  private adopt(status: SessionStatus): void {
    this._step = status.step;
    this._activity = status.activity;
    if (status.ack !== this.seq) return;
    if (status.state !== 'running') this.pausePending = false;
    this.setState(status.state);
  }

  private onMessage(msg: SessionReply): void {
    if (this.destroyed || !msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 's.status':
        return this.adopt(msg.status);
      case 's.event': {
        const detail = msg.name === 'error' ? decodeError(msg.detail as Parameters<typeof decodeError>[0]) : msg.detail;
        // The state that came with the event is the one its listeners should see (e.g. 'done' after the last step).
        this.adopt(msg.status);
        this.dispatchEvent(new CustomEvent(msg.name, { detail }));
        return;
      }
      case 's.ended': {
        const loop = this.loop;
        this.loop = null;
        const error = msg.error ? decodeError(msg.error) : null;
        // A loop ends in error only when the worker could not build or run the session at all.
        if (error) this.setState('error');
        if (loop) return loop.settle(error);
        if (error) this.dispatchEvent(new CustomEvent('error', { detail: error }));
        return;
      }
    }
  }
}
