/**
 * MoCo v2-style contrastive training over a world of workers (He et al. 2019, §3.3), all tensor math
 * on the Backend. One tab runs `world.localWorkers` workers as batch groups of one tensor; the world
 * may span several tabs (ProcessGroup), and results do not depend on that placement:
 * - every worker's samples, views and the step's permutation come from keyed streams (seed, step, w);
 * - gradients follow DDP: the mean over ALL world workers of each worker's mean-loss gradient;
 * - the queue receives the keys of all workers in global worker order, so it is identical everywhere.
 *
 * The key encoder's BatchNorm runs in the configured mode: `local` (the leak), `shuffle` (statistics
 * permuted across workers), `sync` (global statistics) or `samples` (official MoCo: the world's key
 * input samples are dealt out to workers in a random order, encoded with local BN, and the keys are
 * dealt back to their owners; see sample-shuffle.ts).
 * The query encoder always uses local BN, as in MoCo.
 */
import type { Backend, Tensor } from '../backend/backend.ts';
import type { ProcessGroup } from '../mesh/types.ts';
import { buildEncoder } from '../nn/encoder.ts';
import type { Sequential } from '../nn/layers/sequential.ts';
import type { ForwardContext, Parameter } from '../nn/layers/types.ts';
import { SGD, copyParams, emaParams } from '../nn/optim.ts';
import { stepPermutation } from '../nn/permutation.ts';
import { syncRunningStats } from '../nn/batchnorm/running-stats.ts';
import { flattenTensors, unflattenInto } from '../nn/serialize.ts';
import type { WorkerWorld } from '../nn/world.ts';
import { createRng } from '../util/rng.ts';
import { drawWorkerBatch, type WorkerBatch } from './augment.ts';
import type { Timers } from '../util/timers.ts';
import { BUCKET_CAP_BYTES, GradientBuckets } from './buckets.ts';
import { CommTimer, allReduceSum, timedWorld, yieldToEventLoop } from './comm.ts';
import type { LabelledImages } from './dataset.ts';
import { initialQueue, packState, unpackState, type TrainerState } from './moco-state.ts';
import { dealRows, sampleShuffle, undealRows } from './sample-shuffle.ts';
import type { MarkedPhase, StepProfiler } from './step-profile.ts';
import type { BnLayerTrace, StepLog, TrainConfig } from './types.ts';

/** Stream tags of the trainer's own random draws. */
const TAG_INIT = 0x1417;

export interface MocoTrainerOptions {
  backend: Backend;
  config: Readonly<TrainConfig>;
  /** This tab's view of the workers; its localWorkers overrides config.workersPerTab. */
  world: WorkerWorld;
  /** The tabs' process group; null (default) when the world lives in this tab alone. */
  group?: ProcessGroup | null;
  /** Training images (each tab draws the same data set from the seed). */
  train: LabelledImages;
  now?: Timers['now'];
  /**
   * Where worker batches come from (default: drawWorkerBatch over `train`); tests inject batches
   * with known structure. Must depend only on (step, worker, n), never on the tab.
   */
  drawBatch?: BatchSource;
  /**
   * The step clock, shared by the models of a compare-mode run (compare.ts), which then starts each
   * step itself; by default the trainer has its own and starts it in prepareStep.
   */
  timer?: CommTimer;
  /** Gradient bucket cap (default BUCKET_CAP_BYTES); Infinity: one all-reduce after backward. */
  bucketCapBytes?: number;
  /**
   * Marks every phase of each step (benchmarks; see step-profile.ts). Give the trainer
   * `profiler.backend` as its backend, so that readbacks are counted. Without one no mark is made.
   */
  profiler?: StepProfiler;
}

/** Worker `worker`'s batch at `step`: n samples, two views each. */
export type BatchSource = (step: number, worker: number, n: number) => Pick<WorkerBatch, 'query' | 'key'>;

/**
 * A step whose computation is done and whose results are not applied yet; its gradient all-reduces
 * may still be travelling (`reduced`).
 */
export interface PendingStep {
  /**
   * Resolves when every gradient bucket and the step's figures are summed over all tabs (rejects
   * as the collective did). Await it, through the step's timer, before commit().
   */
  readonly reduced: Promise<void>;
  /** The models whose BatchNorm running statistics the step recorded: sync them before commit(). */
  readonly models: Sequential[];
  /** The trainer's (timed) world, for that sync. */
  readonly world: WorkerWorld;
  /** The step's index (0-based). */
  readonly step: number;
  /** Applies the step (optimizer, key EMA, queue, counter) and returns its log. Once, in order. */
  commit(): StepLog;
  /** Frees the step's tensors and gradients; call it whether or not the step was committed. */
  dispose(): void;
}

export interface StepOptions {
  /** Record the key encoder's BN statistics of every worker (StepLog.bn). Set it on all tabs or none. */
  trace?: boolean;
}

export class MocoTrainer {
  readonly backend: Backend;
  readonly config: Readonly<TrainConfig>;
  readonly world: WorkerWorld;
  readonly group: ProcessGroup | null;
  /** Query encoder (local BN): the one trained by SGD and evaluated by kNN. */
  readonly query: Sequential;
  /** Key encoder: EMA of the query encoder, BN in the configured mode. */
  readonly key: Sequential;
  /** Key queue [K, D], L2-normalised rows. */
  readonly queue: Tensor;
  private readonly optimizer: SGD;
  /** The step clock (shared in compare mode). */
  readonly timer: CommTimer;
  private readonly ownTimer: boolean;
  private readonly timed: WorkerWorld;
  private readonly drawBatch: BatchSource;
  private readonly bucketCapBytes: number;
  private readonly profiler: StepProfiler | null;
  private stepIndex = 0;
  private queuePtr = 0;
  private destroyed = false;

  constructor(opts: MocoTrainerOptions) {
    const { backend, config, world } = opts;
    this.backend = backend;
    this.config = config;
    this.world = world;
    this.group = opts.group ?? null;
    const train = opts.train;
    this.drawBatch = opts.drawBatch ?? ((step, worker, n) => drawWorkerBatch(train, config.seed, step, worker, n));
    this.timer = opts.timer ?? new CommTimer(opts.now);
    this.ownTimer = !opts.timer;
    this.bucketCapBytes = opts.bucketCapBytes ?? BUCKET_CAP_BYTES;
    this.profiler = opts.profiler ?? null;
    this.timed = timedWorld(world, this.timer);
    const spec = { inputDim: config.inputDim, hiddenDims: config.hiddenDims, outputDim: config.outputDim };
    this.query = buildEncoder(backend, { ...spec, bnMode: 'local' }, createRng(config.seed, TAG_INIT));
    this.key = buildEncoder(backend, { ...spec, bnMode: config.mode }, createRng(config.seed, TAG_INIT));
    copyParams(this.query, this.key);
    this.optimizer = new SGD(backend, this.query.parameters(), { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay });
    this.queue = backend.fromArray(initialQueue(config.seed, config.queueSize, config.outputDim), [config.queueSize, config.outputDim]);
  }

  /** Steps completed so far. */
  get step(): number {
    return this.stepIndex;
  }

  /** True while this tab waits in a collective (exchanging statistics, keys or gradients). */
  get communicating(): boolean {
    return this.timer.active > 0;
  }

  /** Makes every tab start from rank 0's full state (parameters, optimizer, queue, counters). */
  async broadcastParameters(): Promise<void> {
    if (!this.group || this.group.size === 1) return;
    const mine = this.group.rank === 0 ? packState(await this.state()) : null;
    const root = await this.timer.time(() => this.group!.broadcast(mine, 0, { priority: 'bulk' }));
    if (this.group.rank !== 0) this.loadState(unpackState(root));
  }

  /** Runs one training step of the whole world (every tab must call it together). */
  async runStep(opts: StepOptions = {}): Promise<StepLog> {
    const pending = await this.prepareStep(opts);
    try {
      // The step's last collectives. Nothing before commit() changes the trainer's state, so a step
      // that fails on a membership change or a refused contribution leaves this tab at its last
      // completed step (the session relies on it). The running statistics are written as soon as
      // their gather returns, so it starts only once every gradient bucket has been accepted.
      await this.timer.time(() => pending.reduced);
      await syncRunningStats(pending.models, { backend: this.backend, world: this.timed, step: pending.step });
      if (!this.profiler) return pending.commit();
      await this.mark('running statistics');
      return await (pending as ProfiledStep).commitPhases();
    } finally {
      pending.dispose();
    }
  }

  /**
   * A step up to its last collective: forwards, loss, and backward, whose gradient buckets start
   * their all-reduces as backward produces them, with no state changed. The caller awaits `reduced`
   * and syncs the running statistics of `models` (one gather, possibly together with another
   * trainer's), then calls commit(); dispose() always. Compare mode (compare.ts) uses it to keep two
   * models' steps all-or-nothing, and to compute the second model while the first one's buckets travel.
   */
  async prepareStep(opts: StepOptions = {}): Promise<PendingStep> {
    this.assertAlive();
    const { backend, config } = this;
    const step = this.stepIndex;
    const world = this.timed;
    const n = config.batchPerWorker;
    const L = world.localWorkers;
    const W = world.worldSize;
    const inDim = config.inputDim;
    this.group?.setStep(step);
    if (this.ownTimer) this.timer.startStep();
    this.profiler?.begin(this.timer.ms);

    const queryIn = new Float32Array(L * n * inDim);
    const keyIn = new Float32Array(L * n * inDim);
    for (let g = 0; g < L; g++) {
      const batch = this.drawBatch(step, world.firstWorker + g, n);
      queryIn.set(batch.query, g * n * inDim);
      keyIn.set(batch.key, g * n * inDim);
    }
    // In `samples` mode each worker normalises with its own (mixed) batch: no statistics are lent.
    const sourceOf = config.mode === 'shuffle' ? stepPermutation(config.seed, step, W, config.permutation) : identity(W);
    // Marks are guarded here, not inside mark(): an unprofiled step must not even yield at them.
    if (this.profiler) await this.mark('input');

    // Every temporary tensor is kept in `scope` and freed at the end, also when a collective fails
    // mid-step (a peer left): the caller then rebuilds the trainer from a broadcast state.
    const scope = new TensorScope(backend);
    try {
      // Query encoder: local BN, kept for backward.
      const queryCtx: ForwardContext = { backend, training: true, world, sourceOf: null, step };
      const xq = scope.keep(backend.fromArray(queryIn, [L * n, inDim]));
      const q = scope.keep(await this.query.forward(xq, queryCtx));
      const qn = scope.keep(backend.l2Normalize(q));
      if (this.profiler) await this.mark('forward');

      const trace: BnLayerTrace[] | undefined = opts.trace ? [] : undefined;
      const { keys, allKeys, order } = await this.encodeKeys(keyIn, step, sourceOf, trace, scope);
      if (this.profiler) await this.mark('forward');

      const { loss, logits, correct } = backend.infoNce(qn, keys, this.queue, config.temperature);
      scope.keep(loss);
      scope.keep(logits);
      scope.keep(correct);
      const dqn = scope.keep(backend.infoNceBackward(logits, keys, this.queue, config.temperature));
      if (this.profiler) await this.mark('InfoNCE');
      const dq = scope.keep(backend.l2NormalizeBackward(dqn, q));

      // DDP: the gradient is the mean over ALL world workers of each worker's mean-loss gradient. The
      // local gradient is that of the mean over L·n rows, i.e. (1/L)·Σ_local workers' gradients, so
      // each bucket sends it × L; buckets leave as backward produces them (buckets.ts).
      const params = this.optimizer.params;
      const tabs = this.group?.size ?? 1;
      // A world that lives in this tab alone has nothing to all-reduce: its gradients stay on the
      // device (no readback, no upload), and (L·g)/W = g is what the buckets would have applied.
      const alone = world.worldSize === L;
      const buckets = alone ? null : new GradientBuckets(
        backend,
        params,
        L,
        (contribution) => allReduceSum(this.group, contribution, this.timer, { wire: config.gradientWire, blocking: false }),
        this.bucketCapBytes,
      );
      let summedGrads: Float32Array[] | null = null;
      let summedFigures: Float32Array;
      let isReduced = false;
      let reduced: Promise<void>;
      try {
        scope.keep(
          await this.query.backward(
            dq,
            queryCtx,
            buckets
              ? async (layer) => {
                  // On the CPU backend backward never yields: let a launched bucket reach the wire first.
                  if ((await buckets.layerDone(layer)) && tabs > 1) await yieldToEventLoop();
                }
              : undefined,
          ),
        );
        if (this.profiler) await this.mark('backward');
        await buckets?.launchRest();
        const gradients = buckets ? buckets.finish() : Promise.resolve(null);
        const [lossValue, correctValue] = await Promise.all([backend.read(loss), backend.read(correct)]);
        // The step's figures go in float32 whatever the gradients' wire: the loss and accuracy
        // numerators, then one slot per tab holding that tab's compute time so far (zero elsewhere):
        // the sum gives every tab every tab's time, measured by that tab, with no extra message.
        const local = new Float32Array(2 + tabs);
        local[0] = lossValue[0] * L * n;
        local[1] = correctValue[0];
        local[2 + (this.group?.rank ?? 0)] = this.timer.computeMs();
        const figures = allReduceSum(this.group, local, this.timer, { blocking: false });
        reduced = settleAll([gradients, figures]).then(([g, f]) => {
          summedGrads = g;
          summedFigures = f;
          isReduced = true;
        });
      } catch (err) {
        buckets?.abandon();
        throw err;
      }
      reduced.catch(() => {});
      if (this.profiler) await this.mark('gradient packing');
      let committed = false;
      // What commit() applies, in order, each stage one phase of a profiled step.
      const stages: [MarkedPhase, () => void][] = [
        ['optimizer', () => {
          const summed = summedGrads;
          if (summed) params.forEach((p, i) => backend.write(p.grad ?? (p.grad = backend.zeros(p.value.shape)), summed[i]!.map((v) => v / W)));
          else for (const p of params) p.grad ??= backend.zeros(p.value.shape);
          this.optimizer.step();
        }],
        ['momentum encoder', () => emaParams(this.key, this.query, config.keyMomentum)],
        ['queue', () => {
          const worldKeys = allKeys ? scope.keep(backend.fromArray(allKeys, [W * n, config.outputDim])) : keys;
          backend.enqueue(this.queue, worldKeys, this.queuePtr);
          this.queuePtr = (this.queuePtr + W * n) % config.queueSize;
        }],
      ];
      const claim = (): void => {
        if (committed || this.stepIndex !== step) throw Object.assign(new Error('a prepared step can be committed once, in order'), { code: 'ERR_STEP_ORDER' });
        if (!isReduced) throw Object.assign(new Error('commit() before the step was reduced'), { code: 'ERR_STEP_ORDER' });
        committed = true;
      };
      const finish = (): StepLog => {
        this.stepIndex++;

        const log: StepLog = {
          step,
          loss: summedFigures[0]! / (W * n),
          pretextAcc: summedFigures[1]! / (W * n),
          sourceOf,
          computeMs: this.timer.computeMs(),
          commMs: this.timer.ms,
          commInFlightMs: this.timer.inFlightMs,
          tabComputeMs: Array.from(summedFigures.subarray(2, 2 + tabs)),
        };
        if (trace) log.bn = trace;
        if (trace && order) log.sampleOrder = order;
        return log;
      };
      const commit = (): StepLog => {
        claim();
        for (const [, apply] of stages) apply();
        return finish();
      };
      const commitPhases = async (): Promise<StepLog> => {
        claim();
        for (const [phase, apply] of stages) {
          apply();
          await this.mark(phase);
        }
        return finish();
      };
      const dispose = (): void => {
        this.optimizer.zeroGrad();
        scope.dispose();
      };
      const pending: ProfiledStep = { models: [this.query, this.key], world, step, reduced, commit, commitPhases, dispose };
      return pending;
    } catch (err) {
      this.optimizer.zeroGrad();
      scope.dispose();
      throw err;
    }
  }

  /**
   * The L2-normalised keys of this tab's workers [L·n, D] (no gradient) and all workers' keys
   * [W·n·D] in global worker order (for the queue); null when they are `keys` themselves (a world in
   * this tab alone, without a deal of samples), which then stay on the device.
   */
  private async encodeKeys(
    keyIn: Float32Array,
    step: number,
    sourceOf: number[],
    trace: BnLayerTrace[] | undefined,
    scope: TensorScope,
  ): Promise<{ keys: Tensor; allKeys: Float32Array | null; order: number[] | null }> {
    const { backend, config } = this;
    const world = this.timed;
    const n = config.batchPerWorker;
    const L = world.localWorkers;
    const D = config.outputDim;
    const inDim = config.inputDim;
    const first = world.firstWorker;
    const samples = config.mode === 'samples';
    const ctx: ForwardContext = { backend, training: true, noGrad: true, world, sourceOf: config.mode === 'shuffle' ? sourceOf : null, step };
    if (trace) ctx.trace = trace;

    let input = keyIn;
    let order: number[] | null = null;
    if (samples) {
      // Official MoCo: the world's key samples are dealt out in a random order, so each worker's
      // BN batch mixes owners; the keys are dealt back afterwards.
      order = sampleShuffle(config.seed, step, world.worldSize * n);
      const allInputs = await world.gatherRows(keyIn, n * inDim);
      input = dealRows(allInputs, inDim, order, first * n, L * n);
    }
    const xk = scope.keep(backend.fromArray(input, [L * n, inDim]));
    const k = scope.keep(await this.key.forward(xk, ctx));
    const kn = scope.keep(backend.l2Normalize(k));
    if (!order && world.worldSize === L) return { keys: kn, allKeys: null, order };
    const computed = await world.gatherRows(await backend.read(kn), n * D);
    if (!order) return { keys: kn, allKeys: computed, order };

    // Unshuffle: every key goes back to the row of the sample it encodes.
    const allKeys = undealRows(computed, D, order);
    const keys = scope.keep(backend.fromArray(allKeys.slice(first * n * D, (first + L) * n * D), [L * n, D]));
    return { keys, allKeys, order };
  }

  /** The full state (for a joining tab, or a checkpoint). */
  async state(): Promise<TrainerState> {
    const { backend } = this;
    return {
      step: this.stepIndex,
      queuePtr: this.queuePtr,
      query: await flattenTensors(backend, tensorsOf(this.query)),
      key: await flattenTensors(backend, tensorsOf(this.key)),
      velocities: await flattenTensors(backend, this.optimizer.state()),
      queue: await backend.read(this.queue),
    };
  }

  /** Replaces the whole state by `s` (same config required). */
  loadState(s: TrainerState): void {
    const { backend } = this;
    unflattenInto(backend, tensorsOf(this.query), s.query);
    unflattenInto(backend, tensorsOf(this.key), s.key);
    unflattenInto(backend, this.optimizer.state(), s.velocities);
    unflattenInto(backend, [this.queue], s.queue);
    this.stepIndex = s.step;
    this.queuePtr = s.queuePtr;
  }

  /** Frees every tensor; idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.optimizer.zeroGrad();
    this.optimizer.destroy();
    this.query.dispose();
    this.key.dispose();
    this.backend.dispose(this.queue);
  }

  /** Closes a phase of a profiled step (callers skip it without a profiler). */
  private async mark(phase: MarkedPhase): Promise<void> {
    if (this.profiler) await this.profiler.mark(phase, this.timer.ms);
  }

  private assertAlive(): void {
    if (this.destroyed) throw Object.assign(new Error('the trainer was destroyed'), { code: 'ERR_DESTROYED' });
  }
}

/** A prepared step that can also be committed stage by stage, each stage marked (profiled steps). */
interface ProfiledStep extends PendingStep {
  commitPhases(): Promise<StepLog>;
}

function tensorsOf(model: Sequential): Tensor[] {
  return [...model.parameters(), ...model.buffers()].map((p: Parameter) => p.value);
}

/** Tensors created during one step, freed together. */
class TensorScope {
  private readonly tensors: Tensor[] = [];
  constructor(private readonly backend: Backend) {}
  keep<T extends Tensor>(t: T): T {
    this.tensors.push(t);
    return t;
  }
  dispose(): void {
    for (const t of this.tensors.splice(0)) this.backend.dispose(t);
  }
}

/**
 * Like Promise.all, but settles only when every promise has: a failed step returns after all of its
 * collectives have finished, so none is still travelling when the session rebuilds the world.
 */
export async function settleAll<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

function identity(size: number): number[] {
  return Array.from({ length: size }, (_, i) => i);
}
