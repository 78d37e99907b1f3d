/**
 * One training run as the app sees it: the session, its curves, its exportable RunLog and the live
 * log lines. Step events are batched (src/app/batcher.ts) so the page renders at most ~10 times a
 * second however fast the steps come.
 */
import { modelConfigs } from '../train/compare.ts';
import type { GroupSource, RoomPace } from '../train/session.ts';
import type { RunLog, StepLog, TrainConfig } from '../train/types.ts';
import { realTimers, type TimeoutTimers } from '../util/timers.ts';
import { Batcher } from './batcher.ts';
import { stepLines } from './format.ts';
import type { BackendHandle, SessionFactory, SessionLike, SessionState } from './ports.ts';
import { ProgressMeter, type RunProgress } from './progress.ts';
import { appendStep, newSeries, seriesLabel, type RunSeries } from './series.ts';
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
}

export class Run {
  readonly id: string;
  readonly series: RunSeries;
  /** Compare mode: the second model's curves (config.compareWith); null for one model. */
  readonly compareSeries: RunSeries | null;
  readonly log: RunLog;
  private readonly session: SessionLike;
  private readonly batcher: Batcher<StepLog>;
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
   * Pauses after `step` completes (-1: at once). The session checks its state between steps, so a
   * pause requested from the step event stops it before the next step begins.
   */
  pauseAfter(step: number): void {
    if (step < 0 || this.lastStep >= step) {
      this.pauseAt = null;
      if (this.session.state === 'running') this.session.pause();
    } else {
      this.pauseAt = step;
    }
  }

  resume(): void {
    this.pauseAt = null;
    if (this.session.state === 'paused') this.session.resume();
  }

  /** Stops the session for good; pending steps are delivered first. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.batcher.flush();
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
    if (this.pauseAt !== null && log.step >= this.pauseAt) this.pauseAfter(-1);
    this.batcher.push(log);
  };

  private readonly onState = (): void => {
    if (this.destroyed) return;
    const state = this.session.state;
    if (state === 'done' || state === 'error' || state === 'paused') this.batcher.flush();
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

  /** The session (re)built its world: membership changed, so tabs and world size may have too. */
  private readonly onWorld = (ev: Event): void => {
    if (this.destroyed) return;
    const info = (ev as CustomEvent<{ tabs?: number; worldSize?: number }>).detail;
    // Forming the new group took time that is not a step's; the pace may change with the tabs.
    this.meter.restart();
    if (info?.tabs) this.log.tabs = info.tabs;
    if (info?.worldSize) this.setWorldSize(info.worldSize);
  };

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
    let shuffle: ShuffleFrame | null = null;
    for (const entry of logs) {
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
      if (entry.knnAcc !== undefined) this.log.knnAcc = entry.knnAcc;
      if (bn && bn.length > 0) {
        shuffle = { step: entry.step, sourceOf: entry.sourceOf, layers: bn, mode: this.opts.config.mode };
        if (compare?.bn && compare.bn.length > 0) shuffle.compare = { step: entry.step, sourceOf: compare.sourceOf, layers: compare.bn, mode: compare.mode };
      }
      lines.push(...stepLines(entry, this.opts.config.steps));
    }
    const last = logs[logs.length - 1]!;
    this.opts.callbacks.onUpdate({ step: last.step, series: this.series, compareSeries: this.compareSeries, shuffle, lines, progress: this.progress() });
  }
}
