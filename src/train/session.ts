/**
 * A training run of one tab inside a room: drives the MocoTrainer step by step, follows the mesh's
 * membership and recovers from it, evaluates kNN, and reports everything as events for the UI and the
 * experiment runner.
 *
 * Membership changes (a tab closes, or one joins mid-run) are handled at step boundaries. A step's
 * collectives fail fast when the group changes (MeshError), and the trainer mutates no state until all
 * of a step's communication is done, so a failed step leaves every tab at its last completed step.
 * The tabs then wait for the new group to settle, rebuild the worker world (ranks, worker ranges and
 * the world size, hence the permutation, are recomputed), and rank 0 broadcasts its whole state
 * (parameters, key encoder, optimizer velocities, queue, step): survivors continue from the last
 * completed step, and a newcomer receives everything it needs at the same boundary.
 *
 * After a timeout or a failed collective, the mesh moves every peer to a new epoch (operation numbers
 * are never matched across it) and the tabs rebuild as above: one agreed step, rank 0's. A peer whose
 * contribution fails validation (ERR_BAD_PEER_*: wrong length, non-finite or out-of-bound values,
 * bad BatchNorm rows) is excluded by every tab that saw it (each sees the same evidence), and the
 * others continue from the last step they completed: nothing of the refused step was applied.
 * Waits adapt to the room: this tab's step time goes out in its heartbeats, and `pace` names the
 * slowest peer and the one this tab is waiting on.
 *
 * Events: 'step' (CustomEvent<StepLog>), 'state' (CustomEvent<SessionState>), 'error'
 * (CustomEvent<Error & { code?: string }>), 'world' (CustomEvent<WorldInfo>) when the world is (re)built,
 * before any step of it (its `step` says from where: steps logged from there on are rolled back),
 * 'pace' (CustomEvent<RoomPace>) about once a second while running.
 */
import type { Backend } from '../backend/backend.ts';
import { MeshError, type ProcessGroup } from '../mesh/types.ts';
import { localWorld, processGroupWorld, type WorkerWorld } from '../nn/world.ts';
import { createDatasetAsync, type ShapeDataset } from './dataset.ts';
import { RunTrainer, needsTwoWorkers, type RunState } from './compare.ts';
import { knnAccuracy } from './knn.ts';
import type { StepLog, TrainConfig } from './types.ts';
import { PaceMeter, pacedGroup, type PeerFaults } from './comm.ts';

/** After a membership change, wait this long for more changes before rebuilding the world. */
export const SETTLE_MS = 400;
/** Give up waiting for a complete group after this long and continue with the connected peers. */
export const SETTLE_LIMIT_MS = 10_000;
/** Collective timeout while (re)building the world: a peer that does not answer is left behind. */
export const RESYNC_TIMEOUT_MS = 15_000;
/** Consecutive failed attempts at (re)building the world before the session gives up with an error. */
export const MAX_RESYNC_ATTEMPTS = 4;
/** How long the other tabs wait for rank 0's kNN evaluation (slow on a CPU-backend phone). */
export const KNN_WAIT_MS = 10 * 60_000;
/** How often a running session reports the room's pace ('pace' event). */
export const PACE_EVENT_MS = 1_000;
/**
 * A tab that joins a run in progress waits this long for one of the run's tabs before it gives up
 * (ERR_RUN_GONE) rather than train the run alone from step 0. After a server restart the run's tabs
 * return within their reconnect backoff (≤ 10 s) and the server's restore window (30 s).
 */
export const JOIN_RUN_WAIT_MS = 60_000;

export type SessionState = 'idle' | 'running' | 'paused' | 'done' | 'error';
/**
 * What a running session is doing at this moment (read by the status line): forming the group with
 * the other tabs, computing, waiting in a collective, or evaluating kNN; otherwise its state.
 */
export type SessionActivity = Exclude<SessionState, 'running'> | 'waiting' | 'computing' | 'exchanging' | 'evaluating';

/** Where the session gets its process group; it changes with membership. */
export interface GroupSource {
  /** The current group, or null when this tab is alone. */
  current(): ProcessGroup | null;
  /** `complete`: every member of the room is connected to this tab. Returns an unsubscribe function. */
  subscribe(listener: (group: ProcessGroup | null, complete: boolean) => void): () => void;
  /** After a timeout or failed collective in `failed`: every peer moves to a new epoch. */
  restart?(failed: ProcessGroup, reason: Error): void;
  /** Drops a misbehaving peer for good (every tab that saw the same evidence does the same). */
  exclude?(peerId: string, reason: Error): void;
  /**
   * Shares this tab's step time (ms, −1: none yet) with the room. `computing` gives the compute time
   * of the step in progress while it computes (null otherwise), for a reader that cannot call
   * `paceMs` whenever it likes and extrapolates from a reading (src/worker/group-host.ts).
   */
  setPace?(paceMs: () => number, computing?: () => number | null): void;
  /** The room's slowest peer and the peer this tab waits on. */
  pace?(): RoomPace;
  /**
   * This tab joins a run already in progress: its first world waits for a group with another tab
   * (whose rank 0 hands over the run's state), never trains the run alone from scratch.
   */
  joinsRunInProgress?: boolean;
}

/** Who the room waits for, as this tab sees it. */
export interface RoomPace {
  /** The slowest live peer by its reported step time (compute, ms): the one everyone waits for when it lags. */
  slowest: { peerId: string; stepMs: number } | null;
  /** The peer this tab is waiting on right now in a collective, and for how long (ms). */
  waitingFor: { peerId: string; waitedMs: number } | null;
}

/** Test hooks that make this tab a faulty or slow peer (fault tests, benchmarks). */
export interface SessionFaults extends PeerFaults {
  /** Extra compute time (ms) this tab spends before step `step` (a slow device). */
  stepDelayMs?(step: number): number;
}

export interface WorldInfo {
  tabs: number;
  rank: number;
  worldSize: number;
  firstWorker: number;
  localWorkers: number;
  /**
   * Step the (re)built world starts from: the steps rank 0 had completed, so the 0-based number of
   * the next step. Any step this tab logged with a number ≥ this was not completed by the world (a
   * try abandoned by the fault, or steps rank 0 never reached) and is rolled back: its log is dropped
   * here (`logs`) and listeners must drop theirs (src/app/run.ts does).
   */
  step: number;
  /** When the rebuild followed a fault here: ms from the fault to the rebuilt world (training resumes). */
  recoveredInMs?: number;
}

export interface SessionOptions {
  backend: Backend;
  config: TrainConfig;
  /** A fixed group (tests, single tab); ignored when `groups` is given. */
  group?: ProcessGroup | null;
  /** A membership-following group source (the mesh). */
  groups?: GroupSource;
  /** Record BN statistics in the step logs (every `traceEvery` steps; default every step). */
  trace?: boolean;
  traceEvery?: number;
  /** The data set; drawn from config.seed when absent. */
  dataset?: ShapeDataset;
  /** kNN on the hidden (default) or output features. */
  knnFeatures?: 'hidden' | 'output';
  faults?: SessionFaults;
  /**
   * Base deadline (ms) of the world's collectives: the worker-count exchange and every BatchNorm/key
   * gather of a step (default RESYNC_TIMEOUT_MS); waits on a slower room outlive it (mesh/pace.ts).
   */
  gatherTimeoutMs?: number;
  /** How long a tab joining a run in progress waits for the run's tabs (default JOIN_RUN_WAIT_MS). */
  joinRunWaitMs?: number;
  /** Gradient bucket cap in bytes (default BUCKET_CAP_BYTES, train/buckets.ts); benchmarks compare caps. */
  bucketCapBytes?: number;
}

function sessionError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/**
 * A pause step as `pauseAfter` takes it: a 0-based step (an integer ≥ 0), or -1 for at once. Anything
 * else is refused with ERR_BAD_PAUSE_STEP (the compute worker checks what the page sends with it).
 */
export function checkPauseStep(step: unknown): number {
  if (typeof step !== 'number' || !Number.isInteger(step) || step < -1) {
    throw sessionError('ERR_BAD_PAUSE_STEP', `a pause step must be a whole step number ≥ 0, or -1 for at once; got ${typeof step === 'number' ? step : JSON.stringify(step)}`);
  }
  return step;
}

/** Is this failure a membership change (recoverable by rebuilding the world)? */
export function isMembershipFault(err: unknown): boolean {
  return err instanceof MeshError && (err.code === 'ERR_PEER_LEFT' || err.code === 'ERR_MEMBERSHIP_CHANGED' || err.code === 'ERR_TIMEOUT');
}

/**
 * The peer a validation error names, or null when `err` is not one. Validation errors have a code
 * starting with ERR_BAD_PEER_ (the mesh's ERR_BAD_PEER_DATA, BatchNorm's ERR_BAD_PEER_ROWS, …), or
 * are the world's ERR_WORLD_TOO_LARGE about one tab's worker count, and name the offender by
 * `peerId`, or by `rank` (its rank in `group`).
 */
export function offendingPeer(err: unknown, group: ProcessGroup | null): string | null {
  if (!err || typeof err !== 'object') return null;
  const { code, peerId, rank } = err as { code?: unknown; peerId?: unknown; rank?: unknown };
  if (typeof code !== 'string' || !(code.startsWith('ERR_BAD_PEER_') || code === 'ERR_WORLD_TOO_LARGE')) return null;
  if (typeof peerId === 'string' && peerId) return peerId;
  if (group && typeof rank === 'number' && Number.isInteger(rank) && rank >= 0 && rank < group.size) return group.peerIdOf(rank);
  return null;
}

export function staticGroups(group: ProcessGroup | null): GroupSource {
  return { current: () => group, subscribe: () => () => {} };
}

/** The structural part of the mesh (src/mesh/mesh.ts) that a session follows. */
export interface MembershipSource {
  readonly group: ProcessGroup;
  on(event: 'membership', listener: (payload: { group: ProcessGroup; complete: boolean }) => void): () => void;
  restartGroup?(reason: MeshError): void;
  excludePeer?(peerId: string, reason: MeshError): void;
  setLocalPace?(paceMs: () => number): void;
  waitInfo?(): RoomPace;
  /** Trains `runId` (null: stops): groups then hold only the members confirming it (mesh.ts). */
  confirmRun?(runId: string | null): void;
}

function asMeshError(err: Error, code: 'ERR_BAD_PEER_DATA' | 'ERR_TIMEOUT', peerId?: string): MeshError {
  return err instanceof MeshError ? err : new MeshError(code, err.message, peerId);
}

/** Follows a mesh's membership: its current group, and every change. */
export function meshGroups(mesh: MembershipSource): GroupSource {
  return {
    current: () => mesh.group,
    subscribe: (listener) => mesh.on('membership', ({ group, complete }) => listener(group, complete)),
    restart: (_failed, reason) => mesh.restartGroup?.(asMeshError(reason, 'ERR_TIMEOUT')),
    exclude: (peerId, reason) => mesh.excludePeer?.(peerId, asMeshError(reason, 'ERR_BAD_PEER_DATA', peerId)),
    setPace: (paceMs) => mesh.setLocalPace?.(paceMs),
    pace: () => mesh.waitInfo?.() ?? { slowest: null, waitingFor: null },
  };
}

/**
 * The groups of one run: only the members that confirm run `run.id` (a member that is not training it
 * is never waited for). This tab confirms the run while a session follows these groups, i.e. from its
 * subscribe() to the unsubscribe of its destroy().
 */
export function runGroups(mesh: MembershipSource, run: { id: string; joining: boolean }): GroupSource {
  const source = meshGroups(mesh);
  return {
    ...source,
    joinsRunInProgress: run.joining,
    subscribe: (listener) => {
      const off = source.subscribe(listener);
      mesh.confirmRun?.(run.id);
      let subscribed = true;
      return () => {
        off();
        if (subscribed) mesh.confirmRun?.(null);
        subscribed = false;
      };
    },
  };
}

export class TrainingSession extends EventTarget {
  private readonly backend: Backend;
  private readonly config: TrainConfig;
  private readonly groups: GroupSource;
  private readonly opts: SessionOptions;
  private dataset: ShapeDataset | null;
  private trainer: RunTrainer | null = null;
  private _state: SessionState = 'idle';
  private needsWorld = true;
  private lastChange = 0;
  /** Whether every room member was connected at the last membership change. */
  private complete = true;
  private resumeWaiters: Array<() => void> = [];
  private unsubscribe: () => void;
  private loop: Promise<void> | null = null;
  private destroyed = false;
  private phase: 'waiting' | 'evaluating' | null = null;
  private readonly meter = new PaceMeter();
  /** Epoch of a group that failed here; the world is rebuilt only once the mesh has moved past it. */
  private failedEpoch: number | null = null;
  /** When the fault that is being recovered from happened (performance.now()). */
  private faultAt: number | null = null;
  private paceTimer: ReturnType<typeof setInterval> | undefined;
  private _pace: RoomPace | null = null;
  /** 0-based step after which the loop pauses (pauseAfter); null: none asked. */
  private pauseAtStep: number | null = null;
  /** True while the loop waits in pause (no step in flight). */
  private parked = false;
  private parkWaiters: Array<() => void> = [];
  /** Every completed step's log, in order. */
  readonly logs: StepLog[] = [];

  constructor(opts: SessionOptions) {
    super();
    this.opts = opts;
    this.backend = opts.backend;
    this.config = opts.config;
    this.groups = opts.groups ?? staticGroups(opts.group ?? null);
    this.dataset = opts.dataset ?? null;
    this.unsubscribe = this.groups.subscribe((_group, complete) => {
      this.needsWorld = true;
      this.complete = complete;
      this.lastChange = performance.now();
    });
    this.groups.setPace?.(() => this.meter.paceMs(), () => this.meter.computingMs());
  }

  /** Who the room waits for (refreshed about once a second while running; null before). */
  get pace(): RoomPace | null {
    return this._pace;
  }

  get state(): SessionState {
    return this._state;
  }

  get activity(): SessionActivity {
    if (this._state !== 'running') return this._state;
    return this.phase ?? (this.trainer?.communicating ? 'exchanging' : 'computing');
  }

  /** Steps completed. */
  get step(): number {
    return this.trainer?.step ?? 0;
  }

  /** The full state of every model (parameters, optimizer, queue, step), or null before the first world. */
  snapshot(): Promise<RunState> | null {
    return this.trainer?.state() ?? null;
  }

  /** Runs until `config.steps` steps are done, paused, or destroyed. Resolves when the loop ends. */
  start(): Promise<void> {
    if (this.destroyed) return Promise.reject(sessionError('ERR_DESTROYED', 'the session was destroyed'));
    if (this.loop) {
      this.resume();
      return this.loop;
    }
    this.loop = this.run().finally(() => {
      this.loop = null;
      for (const settled of this.parkWaiters.splice(0)) settled();
    });
    return this.loop;
  }

  /** Pauses at once: the step in flight (if any) completes, and no other begins. */
  pause(): void {
    this.pauseAtStep = null;
    if (this._state === 'running') this.setState('paused');
  }

  /**
   * Pauses once step `step` (0-based) has completed: the loop begins no step after it, so every tab
   * given the same step stops after the same step, however late each learns of it (as long as it is
   * before that tab begins step + 1). -1, or a step this session has already completed: at once, as
   * pause(). The state stays 'running' until the loop actually pauses. resume() cancels it.
   */
  pauseAfter(step: number): void {
    checkPauseStep(step);
    if (this._state !== 'running') return;
    if (step < 0 || this.step > step) this.pause();
    else this.pauseAtStep = step;
  }

  /** Pauses and resolves once no step is in flight (the loop waits or has ended): e.g. before a snapshot. */
  async pauseAndSettle(): Promise<void> {
    this.pause();
    if (!this.loop || this.parked || this._state !== 'paused') return;
    await new Promise<void>((settled) => this.parkWaiters.push(settled));
  }

  /** Resumes a paused session; also cancels a pause asked for a later step (pauseAfter). */
  resume(): void {
    this.pauseAtStep = null;
    if (this._state !== 'paused') return;
    this.setState('running');
    for (const wake of this.resumeWaiters.splice(0)) wake();
  }

  /** Drops the trainer: the next start() begins at step 0 with fresh parameters. */
  reset(): void {
    this.trainer?.destroy();
    this.trainer = null;
    this.logs.length = 0;
    this.needsWorld = true;
    this.pauseAtStep = null;
    if (!this.loop) this.setState('idle');
    else this.pause();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.paceTimer);
    this.unsubscribe();
    for (const wake of this.resumeWaiters.splice(0)) wake();
    this.trainer?.destroy();
    this.trainer = null;
  }

  private setState(state: SessionState): void {
    if (this._state === state) return;
    this._state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  private emitError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.dispatchEvent(new CustomEvent('error', { detail: error }));
  }

  private async run(): Promise<void> {
    this.setState('running');
    this.paceTimer = setInterval(() => this.reportPace(), PACE_EVENT_MS);
    try {
      this.dataset ??= await createDatasetAsync({ seed: this.config.seed });
      while (!this.destroyed) {
        if (this._state === 'paused') {
          this.parked = true;
          for (const settled of this.parkWaiters.splice(0)) settled();
          await new Promise<void>((wake) => this.resumeWaiters.push(wake));
          this.parked = false;
          continue;
        }
        if (this.needsWorld || !this.trainer) {
          this.phase = 'waiting';
          await this.buildWorld().finally(() => (this.phase = null));
        }
        if (this.destroyed) return;
        const trainer = this.trainer!;
        if (trainer.step >= this.config.steps) {
          this.setState('done');
          return;
        }
        // Checked last before the step begins (no await between here and its start), so a pause that
        // came while the loop awaited (a world rebuild) begins no step.
        if (this.pausesBefore(trainer.step)) continue;
        let log: StepLog;
        this.meter.startStep();
        try {
          const delayMs = this.opts.faults?.stepDelayMs?.(trainer.step) ?? 0;
          if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
          log = await trainer.runStep({ trace: this.traceThisStep(trainer.step) });
        } catch (err) {
          if (this.destroyed) return;
          // The step did not complete here; rank 0 of the new group decides where everyone resumes.
          if (!this.recover(err, trainer.group)) throw err;
          continue;
        } finally {
          this.meter.endStep();
        }
        try {
          this.phase = 'evaluating';
          await this.evaluate(trainer, log);
        } catch (err) {
          // The step itself completed: keep it, without its kNN figure.
          if (this.destroyed) return;
          if (!this.recover(err, trainer.group)) throw err;
        } finally {
          this.phase = null;
        }
        if (this.destroyed) return;
        this.logs.push(log);
        this.dispatchEvent(new CustomEvent('step', { detail: log }));
      }
    } catch (err) {
      if (this.destroyed) return;
      this.setState('error');
      this.emitError(err);
    } finally {
      clearInterval(this.paceTimer);
    }
  }

  /** Whether the loop must not begin 0-based step `step`: paused, or past the pause step it was given. */
  private pausesBefore(step: number): boolean {
    if (this.pauseAtStep !== null && step > this.pauseAtStep) this.pause();
    return this._state === 'paused';
  }

  /**
   * Handles a failed collective: a peer named by a validation error is excluded, a timeout or other
   * membership fault moves the room to a new epoch. Returns false when the failure is not
   * recoverable here (this tab's own data was refused, or no way to exclude).
   */
  private recover(err: unknown, group: ProcessGroup | null): boolean {
    const offender = offendingPeer(err, group);
    if (offender !== null) {
      const self = group ? group.peerIdOf(group.rank) : null;
      if (offender === self || !this.groups.exclude) return false;
      this.emitError(err);
      this.faultAt ??= performance.now();
      this.groups.exclude(offender, err as Error);
      this.needsWorld = true;
      return true;
    }
    if (!isMembershipFault(err)) return false;
    this.emitError(err);
    this.faultAt ??= performance.now();
    // A timeout leaves the others wherever they were in the epoch: all of them move to a new one.
    const current = this.groups.current();
    if (group && current && current.epoch === group.epoch && this.groups.restart) {
      this.failedEpoch = group.epoch;
      this.groups.restart(current, err as Error);
    }
    this.needsWorld = true;
    return true;
  }

  private reportPace(): void {
    if (this.destroyed || !this.groups.pace) return;
    this._pace = this.groups.pace();
    this.dispatchEvent(new CustomEvent('pace', { detail: this._pace }));
  }

  private traceThisStep(step: number): boolean {
    if (!this.opts.trace) return false;
    const every = Math.max(1, this.opts.traceEvery ?? 1);
    return step % every === 0;
  }

  /** Waits for membership to settle, then rebuilds the world and adopts rank 0's state. */
  private async buildWorld(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (!this.trainer && this.groups.joinsRunInProgress) await this.awaitRunTabs();
      await this.settle();
      await this.awaitNewEpoch();
      if (this.destroyed) return;
      this.needsWorld = false;
      const current = this.groups.current();
      const group = current && current.size > 1 ? pacedGroup(current, this.meter, this.opts.faults, () => this.step) : null;
      try {
        const world = group ? await processGroupWorld(group, this.config.workersPerTab, { timeoutMs: this.opts.gatherTimeoutMs ?? RESYNC_TIMEOUT_MS }) : localWorld(this.config.workersPerTab);
        if (needsTwoWorkers(this.config) && world.worldSize < 2) {
          const mode = this.config.mode !== 'local' ? this.config.mode : this.config.compareWith;
          throw sessionError('ERR_WORLD_TOO_SMALL', `mode '${mode}' needs at least 2 workers in the world, got ${world.worldSize}: add a tab or set virtual workers per tab ≥ 2`);
        }
        await this.replaceTrainer(world, group);
        return;
      } catch (err) {
        if (this.destroyed) return;
        if (attempt >= MAX_RESYNC_ATTEMPTS && isMembershipFault(err)) {
          throw sessionError('ERR_RESYNC_FAILED', `could not form a training group with the connected peers after ${attempt} attempts (${(err as Error).message}); are the other tabs running the same run?`);
        }
        if (!this.recover(err, group)) throw err;
      }
    }
  }

  /** Waits (bounded by JOIN_RUN_WAIT_MS) until another tab of the run is in this tab's group. */
  private async awaitRunTabs(): Promise<void> {
    const started = performance.now();
    const limitMs = this.opts.joinRunWaitMs ?? JOIN_RUN_WAIT_MS;
    while (!this.destroyed && (this.groups.current()?.size ?? 1) < 2) {
      if (performance.now() - started >= limitMs) {
        throw sessionError('ERR_RUN_GONE', `no tab of this run is connected after ${limitMs / 1000} s: press Start to begin a new run`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** After a restart request, waits (bounded) until the mesh has moved past the failed epoch. */
  private async awaitNewEpoch(): Promise<void> {
    if (this.failedEpoch === null) return;
    const started = performance.now();
    while (!this.destroyed && this.groups.current()?.epoch === this.failedEpoch && performance.now() - started < SETTLE_LIMIT_MS) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.failedEpoch = null;
  }

  private async settle(): Promise<void> {
    const started = performance.now();
    for (;;) {
      const sinceChange = performance.now() - this.lastChange;
      if ((sinceChange >= SETTLE_MS && this.complete) || performance.now() - started > SETTLE_LIMIT_MS) return;
      await new Promise((r) => setTimeout(r, Math.max(50, SETTLE_MS - sinceChange)));
    }
  }

  private async replaceTrainer(world: WorkerWorld, group: ProcessGroup | null): Promise<void> {
    const previous = this.trainer;
    const next = new RunTrainer({
      backend: this.backend,
      config: this.config,
      world,
      group,
      train: this.dataset!.train,
      ...(this.opts.bucketCapBytes ? { bucketCapBytes: this.opts.bucketCapBytes } : {}),
    });
    try {
      if (previous) next.loadState(await previous.state());
      await next.broadcastParameters();
    } catch (err) {
      next.destroy();
      // The wire already refuses non-finite values; a state of the wrong length or layout is the root's fault.
      if (group && group.rank !== 0 && !(err instanceof MeshError)) {
        const root = group.peerIdOf(0);
        throw new MeshError('ERR_BAD_PEER_DATA', `the parameter broadcast of peer ${root} (rank 0) does not fit this run: ${(err as Error).message}`, root);
      }
      throw err;
    }
    previous?.destroy();
    this.trainer = next;
    // Logs past the adopted step were not completed by the world: drop them.
    while (this.logs.length && this.logs[this.logs.length - 1]!.step >= next.step) this.logs.pop();
    const info: WorldInfo = {
      tabs: group?.size ?? 1,
      rank: group?.rank ?? 0,
      worldSize: world.worldSize,
      firstWorker: world.firstWorker,
      localWorkers: world.localWorkers,
      step: next.step,
    };
    if (this.faultAt !== null) info.recoveredInMs = performance.now() - this.faultAt;
    this.faultAt = null;
    this.dispatchEvent(new CustomEvent('world', { detail: info }));
  }

  /**
   * kNN accuracy on evaluation steps (of each model in compare mode): computed by rank 0 and shared so
   * every tab logs the same.
   */
  private async evaluate(trainer: RunTrainer, log: StepLog): Promise<void> {
    const every = this.config.knnEvery;
    const done = log.step + 1;
    if (!every || (done % every !== 0 && done !== this.config.steps)) return;
    const group = trainer.group;
    const isRoot = !group || group.rank === 0;
    const values: number[] = [];
    if (isRoot) for (const model of trainer.models) values.push(await knnAccuracy(model, this.dataset!, { features: this.opts.knnFeatures ?? 'hidden' }));
    const shared = group && group.size > 1 ? await group.broadcast(isRoot ? Float32Array.from(values) : null, 0, { priority: 'stats', timeoutMs: KNN_WAIT_MS }) : values;
    log.knnAcc = shared[0]!;
    if (log.compare) log.compare.knnAcc = shared[1]!;
  }
}
