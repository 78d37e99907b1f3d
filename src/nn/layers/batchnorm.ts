/**
 * BatchNorm over a world of workers, in one of three statistics modes (training):
 * - `local` (alias `samples`): each worker (batch group) normalises with its own batch statistics,
 *   like MoCo's SplitBatchNorm; no communication. (`samples` = official MoCo shuffling of the key
 *   encoder's input samples, which the trainer does; the layer itself is plain local BN.)
 * - `shuffle`: worker w normalises with worker sourceOf[w]'s batch mean and biased variance. One
 *   gather of (mean, var) rows per layer in forward, one gather of (dmean, dvar) rows per layer in
 *   backward (reverse layer order, as backward runs), so the gradient through the borrowed
 *   statistics reaches the worker whose samples produced them: the backward is exact.
 * - `sync`: every worker uses the global statistics of the whole world, merged exactly from
 *   (count, mean, M2) rows in float64 (Chan); backward sums the statistics' gradients over the world.
 * Eval mode normalises with the running statistics.
 *
 * Running statistics are updated with the statistics each worker actually *used* (its own, the
 * borrowed ones, or the global ones), averaged over ALL workers of the world, so they are identical
 * on every tab and do not depend on how workers are placed. To avoid one more collective per layer,
 * forward only records this tab's rows; `syncRunningStats(model, ctx)` gathers every layer's
 * records in one call and applies the update once per step (see batchnorm/running-stats.ts).
 *
 * The exchange itself (both directions) is batchnorm/exchange.ts, the row layouts batchnorm/rows.ts,
 * the measured trace batchnorm/trace.ts; this class calls them in order.
 */
import { type Backend, type BnBackwardResult, type BnLayout, type Tensor } from '../../backend/backend.ts';
import { NnError } from '../errors.ts';
import { exchangeStatistics, returnStatGradients } from '../batchnorm/exchange.ts';
import { measureTrace } from '../batchnorm/trace.ts';
import type { BnMode, BnStatsKind } from '../batchnorm/types.ts';
import { accumulateGrad, createParameter, disposeParameter, keepsForBackward, type ForwardContext, type Layer, type Parameter } from './types.ts';

/**
 * BatchNorm forwards seen per context: a layer's index in forward order (traces and errors name it).
 * A context is one forward pass of one model (the trainer builds a fresh one per step and model).
 */
const forwardsSeen = new WeakMap<ForwardContext, number>();
function nextLayerIndex(ctx: ForwardContext): number {
  const index = forwardsSeen.get(ctx) ?? 0;
  forwardsSeen.set(ctx, index + 1);
  return index;
}

/** Added to the variance before the square root (PyTorch's default). */
export const BN_DEFAULT_EPS = 1e-5;
/** Weight of the new batch statistics in the running averages (PyTorch's default). */
export const BN_DEFAULT_MOMENTUM = 0.1;
/** Forwards recorded without `syncRunningStats` before we call it a bug rather than let records pile up. */
export const MAX_UNSYNCED_FORWARDS = 64;

export interface BatchNormOptions {
  mode?: BnMode;
  /** Learnable γ, β (default true). The MoCo output BN has none. */
  affine?: boolean;
  eps?: number;
  momentum?: number;
  /** Default true; false = running statistics are never updated (nothing to sync). */
  trackRunningStats?: boolean;
  /**
   * Test-only (default true): false drops the gradient through the borrowed (shuffle) or global
   * (sync) statistics, to show the finite-difference test catches a missing route.
   */
  routeStatGradients?: boolean;
}

/** The tensors a BatchNorm owns; passed on by the converter so optimizers keep working. */
export interface BatchNormState {
  weight: Parameter | null;
  bias: Parameter | null;
  runningMean: Parameter;
  runningVar: Parameter;
}

/** This tab's statistics rows as used in one forward, awaiting `syncRunningStats`. */
export interface RunningStatsRecord {
  mean: Tensor; // [groups, c]
  variance: Tensor; // [groups, c]
  /** Values behind each statistic (for the unbiased running variance). */
  count: number;
}

interface BnCache {
  x: Tensor;
  layout: BnLayout;
  /** Statistics used by bnApply, [groups, c]. */
  mean: Tensor;
  variance: Tensor;
  /** shuffle: this tab's own batch means (the producer side of the backward). */
  ownMean: Tensor | null;
  sourceOf: readonly number[] | null;
  /** sync: local values per statistic over global ones (n·hw / N·hw). */
  countRatio: number;
  /** Index in forward order, for errors of the backward exchange. */
  layer: number;
}

/**
 * BatchNorm1d/2d over `[N, C]` or `[N, C, H, W]` input whose N rows are this tab's worker groups
 * (`ctx.world.localWorkers` equal groups), with the statistics mode chosen at construction.
 */
export class BatchNorm implements Layer {
  readonly mode: BnMode;
  readonly affine: boolean;
  readonly eps: number;
  readonly momentum: number;
  readonly trackRunningStats: boolean;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly runningMean: Parameter;
  readonly runningVar: Parameter;
  private readonly routeStatGradients: boolean;
  private cache: BnCache | null = null;
  private pending: RunningStatsRecord[] = [];
  /** Set when the state was handed to another layer (converter) or freed. */
  private released = false;

  constructor(
    readonly backend: Backend,
    readonly numFeatures: number,
    opts: BatchNormOptions = {},
    adopt?: BatchNormState,
  ) {
    this.mode = opts.mode ?? 'local';
    this.affine = opts.affine ?? true;
    this.eps = opts.eps ?? BN_DEFAULT_EPS;
    this.momentum = opts.momentum ?? BN_DEFAULT_MOMENTUM;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    this.routeStatGradients = opts.routeStatGradients ?? true;
    const c = numFeatures;
    if (adopt) {
      if ((adopt.weight !== null) !== this.affine || adopt.runningMean.value.size !== c) {
        throw new NnError('ERR_SHAPE', `cannot adopt BatchNorm state: affine/channels differ (${c} channels)`);
      }
      ({ weight: this.weight, bias: this.bias, runningMean: this.runningMean, runningVar: this.runningVar } = adopt);
      return;
    }
    const filled = (v: number) => backend.fromArray(new Float32Array(c).fill(v), [c]);
    this.weight = this.affine ? createParameter(backend, 'weight', filled(1)) : null;
    this.bias = this.affine ? createParameter(backend, 'bias', filled(0)) : null;
    this.runningMean = createParameter(backend, 'running_mean', filled(0));
    this.runningVar = createParameter(backend, 'running_var', filled(1));
  }

  async forward(x: Tensor, ctx: ForwardContext): Promise<Tensor> {
    if (this.released) throw new NnError('ERR_LAYER_RELEASED', 'this BatchNorm was disposed or replaced by convertShuffleBatchNorm');
    this.clearCache();
    const { backend } = ctx;
    const gamma = this.weight?.value ?? null;
    const beta = this.bias?.value ?? null;
    if (!ctx.training) {
      // Every row uses the same running statistics: one group over the whole batch.
      const layout = this.layoutOf(x, 1);
      const mean = backend.clone(this.runningMean.value, [1, layout.c]);
      const variance = backend.clone(this.runningVar.value, [1, layout.c]);
      const y = backend.bnApply(x, layout, mean, variance, gamma, beta, this.eps);
      backend.dispose(mean);
      backend.dispose(variance);
      return y;
    }
    const layout = this.layoutOf(x, ctx.world.localWorkers);
    const layer = nextLayerIndex(ctx);
    const used = await exchangeStatistics(this.kind, x, layout, ctx, layer);
    const y = backend.bnApply(x, layout, used.mean, used.variance, gamma, beta, this.eps);
    if (ctx.trace) {
      const { world, sourceOf, step } = ctx;
      const { mean, variance, own } = used;
      const traced = { backend, world, layout, kind: this.kind, layer, eps: this.eps, mean, variance, own, y, gamma, beta, sourceOf };
      try {
        ctx.trace.push(await measureTrace(step !== undefined ? { ...traced, step } : traced));
      } catch (err) {
        for (const t of [y, used.mean, used.variance, used.ownMean]) if (t) backend.dispose(t);
        throw err;
      }
    }
    if (this.trackRunningStats) this.record(backend, used.mean, used.variance, used.recordCount);
    if (keepsForBackward(ctx)) {
      this.cache = {
        x: backend.clone(x),
        layout,
        mean: used.mean,
        variance: used.variance,
        ownMean: used.ownMean,
        sourceOf: ctx.sourceOf ? [...ctx.sourceOf] : null,
        countRatio: used.countRatio,
        layer,
      };
    } else {
      for (const t of [used.mean, used.variance, used.ownMean]) if (t) backend.dispose(t);
    }
    return y;
  }

  async backward(dy: Tensor, ctx: ForwardContext): Promise<Tensor> {
    const cache = this.cache;
    if (!cache) throw new NnError('ERR_NO_FORWARD', 'BatchNorm.backward without a training forward');
    const { backend } = ctx;
    const { x, layout } = cache;
    const gamma = this.weight?.value ?? null;
    if (this.kind === 'local') {
      const result = backend.bnBackward(dy, x, layout, cache.mean, cache.variance, gamma, this.eps);
      this.accumulateAffine(result);
      this.clearCache();
      return result.dx;
    }
    const result = backend.bnBackwardBorrowed(dy, x, layout, cache.mean, cache.variance, gamma, this.eps);
    this.accumulateAffine(result);
    await returnStatGradients(this.kind, result, x, layout, cache, ctx, cache.layer, this.routeStatGradients);
    this.clearCache();
    return result.dx;
  }

  /** The statistics mode that applies to the layer itself (`samples` is local BN). */
  get kind(): BnStatsKind {
    return this.mode === 'samples' ? 'local' : this.mode;
  }

  parameters(): Parameter[] {
    return this.weight && this.bias ? [this.weight, this.bias] : [];
  }

  buffers(): Parameter[] {
    return [this.runningMean, this.runningVar];
  }

  /** Hands this tab's unsynced running-statistics records to the caller (who disposes them). */
  takeRunningStatsRecords(): RunningStatsRecord[] {
    const records = this.pending;
    this.pending = [];
    return records;
  }

  /** Gives the parameters and buffers to a new layer; this one must not be used afterwards. */
  releaseState(): BatchNormState {
    this.dropTransient();
    this.released = true;
    return { weight: this.weight, bias: this.bias, runningMean: this.runningMean, runningVar: this.runningVar };
  }

  dispose(): void {
    if (this.released) return;
    this.dropTransient();
    this.released = true;
    for (const p of [...this.parameters(), ...this.buffers()]) disposeParameter(p);
  }

  private layoutOf(x: Tensor, groups: number): BnLayout {
    const [rows, c] = x.shape;
    if (x.shape.length < 2 || c !== this.numFeatures) {
      throw new NnError('ERR_SHAPE', `BatchNorm(${this.numFeatures}) expects [N, ${this.numFeatures}, …], got [${x.shape.join(', ')}]`);
    }
    if (rows! % groups !== 0) {
      throw new NnError('ERR_SHAPE', `BatchNorm: ${rows} rows do not split into ${groups} equal worker groups`);
    }
    const hw = x.shape.slice(2).reduce((a, b) => a * b, 1);
    return { groups, n: rows! / groups, c: c!, hw };
  }

  private record(backend: Backend, mean: Tensor, variance: Tensor, count: number): void {
    if (this.pending.length >= MAX_UNSYNCED_FORWARDS) {
      throw new NnError(
        'ERR_RUNNING_STATS_UNSYNCED',
        `${MAX_UNSYNCED_FORWARDS} training forwards without syncRunningStats(model, ctx): call it once per step (or set trackRunningStats: false)`,
      );
    }
    this.pending.push({ mean: backend.clone(mean), variance: backend.clone(variance), count });
  }

  private accumulateAffine(result: BnBackwardResult): void {
    if (this.weight && result.dgamma) accumulateGrad(this.weight, result.dgamma);
    else if (result.dgamma) this.backend.dispose(result.dgamma);
    if (this.bias && result.dbeta) accumulateGrad(this.bias, result.dbeta);
    else if (result.dbeta) this.backend.dispose(result.dbeta);
  }

  private clearCache(): void {
    const cache = this.cache;
    if (!cache) return;
    for (const t of [cache.x, cache.mean, cache.variance, cache.ownMean]) if (t) this.backend.dispose(t);
    this.cache = null;
  }

  private dropTransient(): void {
    this.clearCache();
    for (const r of this.takeRunningStatsRecords()) {
      this.backend.dispose(r.mean);
      this.backend.dispose(r.variance);
    }
  }
}
