/**
 * Compare mode: one run trains two MoCo models side by side, e.g. the chosen BN mode against `local`,
 * so the leak shows in one run instead of two.
 *
 * Each model is an ordinary MocoTrainer with the run's config, differing only in `mode`. Every random
 * draw of a trainer comes from a keyed stream (seed, tag, step, worker): parameter init, the initial
 * queue, each worker's samples and views, the step's permutation and the sample shuffle. No stream is
 * shared or advanced by the other model, so each model computes exactly what a single-model run with
 * the same seed computes (tests/train/compare.test.ts checks this bit for bit). The one thing shared
 * is the drawn batch itself (`sharedBatches`), which is a pure function of (step, worker, n).
 *
 * A step is all-or-nothing for the pair, like a single model's: both models do their forwards,
 * backwards and gradient all-reduces first (no state changed), then ONE gather syncs the BatchNorm
 * running statistics of all four encoders, and only then do both commit. A membership change during
 * the step therefore leaves both models at the last completed step. The first model's gradient
 * buckets travel while the second model computes; one step clock (CommTimer) serves both, so the
 * step log's compute and communication figures cover the whole step.
 */
import type { Backend } from '../backend/backend.ts';
import type { ProcessGroup } from '../mesh/types.ts';
import { discardRunningStats, syncRunningStats } from '../nn/batchnorm/running-stats.ts';
import { drawWorkerBatch } from './augment.ts';
import type { LabelledImages } from './dataset.ts';
import { CommTimer } from './comm.ts';
import { MocoTrainer, settleAll, type BatchSource, type MocoTrainerOptions, type PendingStep, type StepOptions } from './moco.ts';
import type { TrainerState } from './moco-state.ts';
import type { BnMode, StepLog, TrainConfig } from './types.ts';

/** The single-model config of each model of a (possibly compare-mode) run: one entry, or two. */
export function modelConfigs(config: Readonly<TrainConfig>): TrainConfig[] {
  const primary: TrainConfig = { ...config, hiddenDims: [...config.hiddenDims], compareWith: null };
  if (config.compareWith === null) return [primary];
  return [primary, { ...primary, mode: config.compareWith }];
}

/** The BN modes a run trains (one, or two in compare mode). */
export function runModes(config: Readonly<TrainConfig>): BnMode[] {
  return modelConfigs(config).map((c) => c.mode);
}

/** Does any model of the run exchange statistics or samples (so it needs ≥ 2 workers)? */
export function needsTwoWorkers(config: Readonly<TrainConfig>): boolean {
  return runModes(config).some((mode) => mode !== 'local');
}

/** Each worker's batch drawn once per step and handed to both models (it is pure in its arguments). */
export function sharedBatches(draw: BatchSource): BatchSource {
  let cachedStep = -1;
  const cache = new Map<string, ReturnType<BatchSource>>();
  return (step, worker, n) => {
    if (step !== cachedStep) {
      cache.clear();
      cachedStep = step;
    }
    const key = `${worker}:${n}`;
    let batch = cache.get(key);
    if (!batch) {
      batch = draw(step, worker, n);
      cache.set(key, batch);
    }
    return batch;
  };
}

/** Both models' states (for a joining tab or a rebuilt world), in model order. */
export type RunState = TrainerState[];

/**
 * The trainer a training session drives: one MocoTrainer, or two in compare mode. Its step log is the
 * first model's, with the second model's figures in `compare`.
 */
export class RunTrainer {
  /** The models in order: [config.mode] or [config.mode, config.compareWith]. */
  readonly models: MocoTrainer[];
  readonly backend: Backend;
  readonly config: Readonly<TrainConfig>;
  readonly group: ProcessGroup | null;
  /** The step clock of both models. */
  private readonly timer: CommTimer;
  private destroyed = false;

  constructor(opts: MocoTrainerOptions) {
    this.backend = opts.backend;
    this.config = opts.config;
    this.group = opts.group ?? null;
    const configs = modelConfigs(opts.config);
    const train: LabelledImages = opts.train;
    const seed = opts.config.seed;
    const draw = configs.length > 1 ? sharedBatches(opts.drawBatch ?? ((step, worker, n) => drawWorkerBatch(train, seed, step, worker, n))) : opts.drawBatch;
    this.timer = new CommTimer(opts.now);
    this.models = [];
    try {
      for (const config of configs) this.models.push(new MocoTrainer({ ...opts, config, drawBatch: draw, timer: this.timer }));
    } catch (err) {
      for (const m of this.models) m.destroy();
      throw err;
    }
  }

  /** Steps completed (both models are always at the same step). */
  get step(): number {
    return this.models[0]!.step;
  }

  /** True while either model waits in a collective. */
  get communicating(): boolean {
    return this.models.some((m) => m.communicating);
  }

  /** Makes every tab start from rank 0's state, model by model. */
  async broadcastParameters(): Promise<void> {
    for (const m of this.models) await m.broadcastParameters();
  }

  /** One step of every model (every tab must call it together). */
  async runStep(opts: StepOptions = {}): Promise<StepLog> {
    this.assertAlive();
    const [first, second] = this.models;
    if (!second) {
      this.timer.startStep();
      return first!.runStep(opts);
    }

    const pending: PendingStep[] = [];
    this.timer.startStep();
    try {
      for (const m of this.models) pending.push(await m.prepareStep(opts));
      // The running statistics are written when their gather returns: only after every bucket was accepted.
      await this.timer.time(() => settleAll(pending.map((p) => p.reduced)));
      await syncRunningStats(
        pending.flatMap((p) => p.models),
        { backend: this.backend, world: pending[0]!.world, step: pending[0]!.step },
      );
    } catch (err) {
      // Nothing was committed; forwards recorded but not synced must not count in a later step.
      for (const m of this.models) for (const model of [m.query, m.key]) discardRunningStats(model);
      for (const p of pending) p.dispose();
      throw err;
    }
    try {
      // One clock ran over the whole step, so the first model's log has the step's figures; the
      // second's per-tab compute slots were taken later in the same step (both models' compute).
      const [a, b] = pending.map((p) => p.commit()) as [StepLog, StepLog];
      const log: StepLog = { ...a };
      if (b.tabComputeMs) log.tabComputeMs = b.tabComputeMs;
      log.compare = { mode: this.models[1]!.config.mode, loss: b.loss, pretextAcc: b.pretextAcc, sourceOf: b.sourceOf };
      if (b.bn) log.compare.bn = b.bn;
      if (b.sampleOrder) log.compare.sampleOrder = b.sampleOrder;
      return log;
    } finally {
      for (const p of pending) p.dispose();
    }
  }

  async state(): Promise<RunState> {
    return Promise.all(this.models.map((m) => m.state()));
  }

  /** Adopts `s` (from a trainer of the same run config). */
  loadState(s: RunState): void {
    if (s.length !== this.models.length) {
      throw Object.assign(new Error(`state of ${s.length} model(s) for a run of ${this.models.length}`), { code: 'ERR_BAD_STATE' });
    }
    this.models.forEach((m, i) => m.loadState(s[i]!));
  }

  /** Frees both models; idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const m of this.models) m.destroy();
  }

  private assertAlive(): void {
    if (this.destroyed) throw Object.assign(new Error('the trainer was destroyed'), { code: 'ERR_DESTROYED' });
  }
}
