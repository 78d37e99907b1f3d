/**
 * Saves one running log as it grows: the run's changes (steps added, steps rolled back) are gathered
 * and written as one batch at most every SAVE_INTERVAL_MS, so a run at 10 steps/s costs one IndexedDB
 * transaction a second, not ten. A failed write (quota, storage
 * switched off) stops saving this run and becomes one notice: training never fails over its log.
 */
import type { RunLog, StepLog } from '../../train/types.ts';
import { realTimers, type TimeoutTimers } from '../../util/timers.ts';
import { appError } from '../errors.ts';
import { MAX_SAVED_STEPS_PER_RUN, type RunLogHeader, type RunStore } from './store.ts';

/**
 * Most time between a step and its write (ms). A reload loses at most this much of the log: the
 * steps it covers are still in the other tabs' logs, and this tab's log continues after the gap.
 */
export const SAVE_INTERVAL_MS = 1_000;

/** What a Run tells about changes to its log (src/app/run.ts). */
export interface RunLogSink {
  /** Steps appended to the log, in order. */
  append(steps: readonly StepLog[]): void;
  /** Steps from `step` on left the log (rolled back after the world was rebuilt). */
  rollBack(step: number): void;
  /** Writes what is pending now (the run paused or ended). */
  flush(): Promise<void>;
}

export interface RecorderOptions {
  store: RunStore;
  roomId: string;
  runId: string;
  /** The log being saved (its header and length are read at each write). */
  log(): RunLog;
  /** Called once, when this run's log stops being saved. */
  onError(err: Error & { code: string }): void;
  timers?: TimeoutTimers;
  /** Wall clock for `updatedAt` (eviction order across page loads). */
  now?: () => number;
  intervalMs?: number;
}

export class RunRecorder implements RunLogSink {
  private pending: StepLog[] = [];
  private dropFrom: number | null = null;
  /** Whether anything changed since the last write (the header alone counts). */
  private dirty = true;
  private timer: unknown = null;
  private writing: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly timers: TimeoutTimers;

  constructor(private readonly opts: RecorderOptions) {
    this.timers = opts.timers ?? realTimers;
  }

  append(steps: readonly StepLog[]): void {
    if (this.stopped || steps.length === 0) return;
    this.pending.push(...steps);
    this.changed();
  }

  rollBack(step: number): void {
    if (this.stopped) return;
    this.pending = this.pending.filter((s) => s.step < step);
    this.dropFrom = Math.min(this.dropFrom ?? step, step);
    this.changed();
  }

  flush(): Promise<void> {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped || !this.dirty) return this.writing;
    const log = this.opts.log();
    const batch = { header: header(log), dropFrom: this.dropFrom, steps: this.pending, stepCount: log.steps.length, lastStep: log.steps.at(-1)?.step ?? -1, updatedAt: (this.opts.now ?? Date.now)() };
    this.pending = [];
    this.dropFrom = null;
    this.dirty = false;
    if (log.steps.length > MAX_SAVED_STEPS_PER_RUN) this.fail(`the run has more than ${MAX_SAVED_STEPS_PER_RUN} steps; later steps are in this tab's export only`);
    // Started now, not after the previous write: the write made on pagehide must be queued before the
    // page goes. The store keeps writes in the order they are made (IndexedDB runs read-write
    // transactions over the same stores in creation order).
    const previous = this.writing;
    const write = this.opts.store.write(this.opts.roomId, this.opts.runId, batch).catch((err: unknown) => {
      const name = (err as { name?: unknown })?.name;
      const why = name === 'QuotaExceededError' ? 'the browser’s storage for this site is full' : String((err as Error)?.message ?? err);
      this.fail(why);
    });
    this.writing = Promise.all([previous, write]).then(() => {});
    return this.writing;
  }

  /** Writes what is pending and stops; idempotent. */
  destroy(): Promise<void> {
    const last = this.flush();
    this.stopped = true;
    return last;
  }

  private changed(): void {
    this.dirty = true;
    if (this.timer === null) this.timer = this.timers.setTimeout(() => void this.flush(), this.opts.intervalMs ?? SAVE_INTERVAL_MS);
  }

  private fail(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
    this.opts.onError(appError('ERR_RUN_LOG_STORAGE', `run ${this.opts.runId}: ${why}`));
  }
}

/** The log without its steps (a copy of the config, so later edits to the log do not leak in). */
export function header(log: RunLog): RunLogHeader {
  const { steps: _steps, ...rest } = log;
  return { ...rest, config: { ...rest.config, hiddenDims: [...rest.config.hiddenDims] } };
}
