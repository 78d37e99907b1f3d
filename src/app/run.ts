/**
 * One training run as the app sees it: the session, its curves, its exportable RunLog and the live
 * log lines. Step events are batched (src/app/batcher.ts) so the page renders at most ~10 times a
 * second however fast the steps come.
 *
 * The log holds only steps the world completed: when the session rebuilds its world and resumes from
 * an earlier step (its 'world' event), the steps from there on leave the log, the curves and the
 * saved copy (`sink`), and the repeated steps take their place. A run continued after a reload starts
 * from its saved log (`saved`).
 */
import { modelConfigs } from '../train/compare.ts';
import type { GroupSource, RoomPace, WorldInfo } from '../train/session.ts';
import type { RunLog, StepLog, TrainConfig } from '../train/types.ts';
import { realTimers, type TimeoutTimers } from '../util/timers.ts';
import { Batcher } from './batcher.ts';
import { stepLines } from './format.ts';
import type { BackendHandle, SessionFactory, SessionLike, SessionState } from './ports.ts';
import { ProgressMeter, type RunProgress } from './progress.ts';
import type { RunLogSink } from './run-store/recorder.ts';
import { appendStep, newSeries, seriesLabel, truncateSeries, type RunSeries } from './series.ts';
import type { ShuffleFrame } from './store.ts';

/** What a batch of steps changes on screen. */
export interface RunUpdate {
  step: number;
  series: RunSeries;
  /** Compare mode: the second model's curves. */
  compareSeries: RunSeries | null;
  /** The newest traced step in the batch, if any. */
  shuffle: ShuffleFrame | null;
  lines: string[];
  progress: RunProgress;
}

export interface RunCallbacks {
  onUpdate(update: RunUpdate): void;
  onState(state: SessionState): void;
  onError(err: Error & { code?: string }): void;
  /** The session's 'pace' event: the room's slowest peer and the one this tab waits on. */
  onPace?(pace: RoomPace): void;
}

export interface RunOptions {
  id: string;
  config: TrainConfig;
  backend: BackendHandle;
  backendLabel: string;
  groups: GroupSource | null;
  createSession: SessionFactory;
  callbacks: RunCallbacks;
  timers?: TimeoutTimers;
  now?: () => Date;
  /** The saved log of this same run (this tab trained in it before a reload): the log continues it. */
  saved?: RunLog | null;
  /** Receives every change of the log, to save it. */
  sink?: RunLogSink | null;
}

export class Run {
  readonly id: string;
  readonly series: RunSeries;
  /** Compare mode: the second model's curves (config.compareWith); null for one model. */
  readonly compareSeries: RunSeries | null;
  readonly log: RunLog;
  private readonly session: SessionLike;
  private readonly batcher: Batcher<StepLog>;
  /** The room's pause step given to the session and not resumed since (null: none). */
  private pauseAt: number | null = null;
  private readonly meter = new ProgressMeter();
  private readonly timers: TimeoutTimers;
  private latest: StepLog | null = null;
  /** Last completed step (0-based), as received; -1 before the first. */
  lastStep = -1;
  /** Wall time of the last step, in ms (compute + communication), for choosing a pause step. */
  lastStepMs = 0;
  private destroyed = false;

  constructor(private readonly opts: RunOptions) {
    this.id = opts.id;
    const tabs = opts.groups?.current()?.size ?? 1;
    // The room shares workersPerTab, so the world is tabs × workersPerTab; corrected from the first step.
    const worldSize = tabs * opts.config.workersPerTab;
    this.series = newSeries(opts.id, opts.config, worldSize);
    const second = modelConfigs(opts.config)[1];
    this.compareSeries = second ? newSeries(`${opts.id}:${second.mode}`, second, worldSize, opts.id) : null;
    this.log = {
      version: 1,
      config: opts.config,
      worldSize,
      tabs,
      backend: opts.backendLabel,
      startedAt: (opts.now?.() ?? new Date()).toISOString(),
      steps: [],
    };
    if (opts.saved) this.continueFrom(opts.saved);
    this.timers = opts.timers ?? realTimers;
    this.batcher = new Batcher((logs) => this.flush(logs), undefined, this.timers);
    this.session = opts.createSession({ backend: opts.backend, groups: opts.groups, config: opts.config, trace: true });
    this.session.addEventListener('step', this.onStep);
    this.session.addEventListener('state', this.onState);
    this.session.addEventListener('error', this.onError);
    this.session.addEventListener('world', this.onWorld);
    this.session.addEventListener('pace', this.onPace);
  }

  get state(): SessionState {
    return this.session.state;
  }

  /**
   * The newest step (0-based) the session has completed as far as this page knows: a session in the
   * compute worker reports its count before the step's event has crossed to the page.
   */
  get completedStep(): number {
    return Math.max(this.lastStep, this.session.step - 1);
  }

  /** Pace, ETA and what the session is doing now (stand-in sessions without `activity` report their state). */
  progress(): RunProgress {
    const state = this.session.state;
    const activity = this.session.activity ?? (state === 'running' ? 'computing' : state);
    const done = this.lastStep + 1;
    const total = this.opts.config.steps;
    const latest = this.latest;
    return {
      activity,
      done,
      total,
      stepsPerSecond: this.meter.stepsPerSecond(),
      etaSeconds: state === 'running' || state === 'paused' ? this.meter.etaSeconds(total - done) : null,
      tabComputeMs: latest?.tabComputeMs ?? (latest ? [latest.computeMs] : []),
      computeMs: latest?.computeMs ?? 0,
      commMs: latest?.commMs ?? 0,
    };
  }

  /** Copies of this run's curves (one per model), for the store's history. */
  allSeries(): RunSeries[] {
    return [this.series, ...(this.compareSeries ? [this.compareSeries] : [])].map((s) => ({ ...s }));
  }

  /** Starts training; failures arrive through the error callback, never as a rejection. */
  start(): void {
    this.session.start().catch((err: unknown) => {
      if (this.destroyed) return;
      this.opts.callbacks.onError(err as Error);
    });
  }

  /**
   * Pauses after `step` completes (-1: at once). The session decides where its steps run (in the
   * compute worker, its loop is ahead of the step events this page has seen): it begins no step after
   * `step`, so every tab given the same step stops after that step, and its 'paused' state follows
   * the event of the last step it completed (the step the page then shows).
   */
  pauseAfter(step: number): void {
    this.pauseAt = step < 0 ? null : step;
    if (step < 0) {
      if (this.session.state === 'running') this.session.pause();
    } else {
      this.session.pauseAfter(step);
    }
  }

  /** Resumes the paused session, or cancels the pause step it was given. */
  resume(): void {
    const pending = this.pauseAt !== null;
    this.pauseAt = null;
    const state = this.session.state;
    if (state === 'paused' || (pending && state === 'running')) this.session.resume();
  }

  /** Stops the session for good; pending steps are delivered (and saved) first. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.batcher.flush();
    void this.opts.sink?.flush();
    this.destroyed = true;
    this.batcher.destroy();
    this.session.removeEventListener('step', this.onStep);
    this.session.removeEventListener('state', this.onState);
    this.session.removeEventListener('error', this.onError);
    this.session.removeEventListener('world', this.onWorld);
    this.session.removeEventListener('pace', this.onPace);
    this.series.finished = true;
    if (this.compareSeries) this.compareSeries.finished = true;
    this.session.destroy();
  }

  private readonly onStep = (ev: Event): void => {
    if (this.destroyed) return;
    const log = (ev as CustomEvent<StepLog>).detail;
    this.lastStep = log.step;
    this.lastStepMs = log.computeMs + log.commMs;
    this.latest = log;
    this.meter.record(this.timers.now(), this.lastStepMs);
    this.batcher.push(log);
  };

  private readonly onState = (): void => {
    if (this.destroyed) return;
    const state = this.session.state;
    if (state === 'done' || state === 'error' || state === 'paused') {
      this.batcher.flush();
      void this.opts.sink?.flush();
    }
    // Time spent paused is not a step's duration.
    if (state === 'paused' || state === 'running') this.meter.restart();
    if (state === 'done') for (const series of this.allLiveSeries()) series.finished = true;
    this.opts.callbacks.onState(state);
  };

  private readonly onError = (ev: Event): void => {
    if (this.destroyed) return;
    const detail = (ev as CustomEvent<Error & { code?: string }>).detail;
    this.opts.callbacks.onError(detail ?? new Error('training session error'));
  };

  private readonly onPace = (ev: Event): void => {
    if (this.destroyed) return;
    const pace = (ev as CustomEvent<RoomPace>).detail;
    if (pace) this.opts.callbacks.onPace?.(pace);
  };

  /**
   * The session (re)built its world: membership changed, so tabs and world size may have too, and the
   * world resumes from `info.step` (rank 0's completed steps): later steps of this tab were abandoned.
   */
  private readonly onWorld = (ev: Event): void => {
    if (this.destroyed) return;
    const info = (ev as CustomEvent<Partial<WorldInfo>>).detail;
    // Forming the new group took time that is not a step's; the pace may change with the tabs.
    this.meter.restart();
    if (info?.tabs) this.log.tabs = info.tabs;
    if (info?.worldSize) this.setWorldSize(info.worldSize);
    if (typeof info?.step === 'number') this.rollBack(info.step);
  };

  /** Removes every step from `step` on: from the batch not shown yet, the log, the curves and the saved copy. */
  private rollBack(step: number): void {
    // Delivered first, so the batch cannot bring an abandoned step back after the cut.
    this.batcher.flush();
    if (!this.cut(step)) return;
    this.lastStep = this.log.steps.at(-1)?.step ?? -1;
    const lines = [`Resuming from step ${step + 1}/${this.opts.config.steps} with the rebuilt group: later steps of this tab were rolled back`];
    this.opts.callbacks.onUpdate({ step: this.lastStep, series: this.series, compareSeries: this.compareSeries, shuffle: null, lines, progress: this.progress() });
  }

  /** Removes steps from `step` on from the log, the curves and the saved copy; false when there were none. */
  private cut(step: number): boolean {
    const kept = this.log.steps.filter((s) => s.step < step);
    if (kept.length === this.log.steps.length) return false;
    this.log.steps = kept;
    const knnAcc = lastOf(kept, (s) => s.knnAcc);
    const compareKnnAcc = lastOf(kept, (s) => s.compare?.knnAcc);
    if (knnAcc === undefined) delete this.log.knnAcc;
    else this.log.knnAcc = knnAcc;
    if (compareKnnAcc === undefined) delete this.log.compareKnnAcc;
    else this.log.compareKnnAcc = compareKnnAcc;
    for (const series of this.allLiveSeries()) truncateSeries(series, step);
    this.opts.sink?.rollBack(step);
    return true;
  }

  /** Starts from the saved log of this run: its steps, curves and start time. */
  private continueFrom(saved: RunLog): void {
    this.log.startedAt = saved.startedAt;
    this.log.steps = saved.steps.map((s) => ({ ...s }));
    for (const entry of this.log.steps) {
      appendStep(this.series, entry);
      if (this.compareSeries && entry.compare) appendStep(this.compareSeries, { ...entry.compare, step: entry.step });
    }
    if (saved.knnAcc !== undefined) this.log.knnAcc = saved.knnAcc;
    if (saved.compareKnnAcc !== undefined) this.log.compareKnnAcc = saved.compareKnnAcc;
    this.lastStep = this.log.steps.at(-1)?.step ?? -1;
  }

  private allLiveSeries(): RunSeries[] {
    return this.compareSeries ? [this.series, this.compareSeries] : [this.series];
  }

  private setWorldSize(worldSize: number): void {
    this.log.worldSize = worldSize;
    for (const series of this.allLiveSeries()) {
      series.worldSize = worldSize;
      series.label = seriesLabel(series.config, worldSize);
    }
  }

  private flush(logs: StepLog[]): void {
    const lines: string[] = [];
    const added: StepLog[] = [];
    let shuffle: ShuffleFrame | null = null;
    for (const entry of logs) {
      // A step already in the log is being repeated: the world resumed before it (normally said by the
      // 'world' event first). The repeat replaces the abandoned try and everything after it.
      if (entry.step <= (this.log.steps.at(-1)?.step ?? -1) && this.cut(entry.step)) {
        for (let i = added.length - 1; i >= 0 && added[i]!.step >= entry.step; i--) added.pop();
      }
      if (this.log.steps.length === 0 && entry.sourceOf.length > 0) this.setWorldSize(entry.sourceOf.length);
      appendStep(this.series, entry);
      if (this.compareSeries && entry.compare) appendStep(this.compareSeries, { ...entry.compare, step: entry.step });
      // The export keeps the scalars of every step; full BN traces would grow by megabytes per step.
      const { bn, compare, ...scalars } = entry;
      const exported: StepLog = scalars;
      if (compare) {
        const { bn: _compareBn, ...compareScalars } = compare;
        exported.compare = compareScalars;
        if (compare.knnAcc !== undefined) this.log.compareKnnAcc = compare.knnAcc;
      }
      this.log.steps.push(exported);
      added.push(exported);
      if (entry.knnAcc !== undefined) this.log.knnAcc = entry.knnAcc;
      if (bn && bn.length > 0) {
        shuffle = { step: entry.step, sourceOf: entry.sourceOf, layers: bn, mode: this.opts.config.mode };
        if (compare?.bn && compare.bn.length > 0) shuffle.compare = { step: entry.step, sourceOf: compare.sourceOf, layers: compare.bn, mode: compare.mode };
      }
      lines.push(...stepLines(entry, this.opts.config.steps));
    }
    this.opts.sink?.append(added);
    const last = logs[logs.length - 1]!;
    this.opts.callbacks.onUpdate({ step: last.step, series: this.series, compareSeries: this.compareSeries, shuffle, lines, progress: this.progress() });
  }
}

/** The newest defined value of `pick` over `steps`. */
function lastOf(steps: readonly StepLog[], pick: (s: StepLog) => number | undefined): number | undefined {
  for (let i = steps.length - 1; i >= 0; i--) {
    const value = pick(steps[i]!);
    if (value !== undefined) return value;
  }
  return undefined;
}
