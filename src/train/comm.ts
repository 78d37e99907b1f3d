/**
 * What the trainer needs to talk to the other tabs, with the time spent waiting on it measured:
 * the worker world (row gathers for BatchNorm statistics, keys and samples) and, when the world
 * spans several tabs, the process group (one all-reduce of gradients per step, the start-up
 * broadcast). Everything else the trainer does counts as compute.
 */
import type { WireFormat } from '../mesh/half-codec.ts';
import type { CollectiveOptions, ProcessGroup, ReduceOp } from '../mesh/types.ts';
import type { WorkerWorld } from '../nn/world.ts';
import { realTimers, type Timers } from '../util/timers.ts';

/**
 * Bound on |value| of every tab's contribution to the gradient all-reduce, checked per tab before
 * anything is summed. The contribution is the tab's local gradient times its worker count, plus the
 * loss and accuracy numerators (loss ≈ ln(queue + 1) per row, times the tab's rows). Measured on the
 * demo configuration (4 workers × 8 samples per tab, 30 steps): gradient elements ≤ 0.95, the loss
 * numerator ≈ 216. 1e6 leaves room for larger models and ~4,000 rows per tab, while a room of 16 tabs
 * sums to ≤ 1.6e7, nowhere near float32's 3.4e38: a finite but huge contribution is refused before
 * it can overflow the sum or blow up the parameters.
 */
export const GRADIENT_MAX_ABS = 1e6;

/**
 * One step's clock: how long the trainer waited on communication (blocked: the step cannot go on
 * until the collective returns) and how long communication was in flight at all (blocked, or
 * travelling in the background while the trainer computes: the gradient buckets). Both are unions of
 * intervals, so nested or concurrent calls count once; inFlightMs − ms is the communication hidden
 * behind compute.
 */
export class CommTimer {
  /** Milliseconds the step waited on communication since `startStep()` (its exposed communication). */
  ms = 0;
  /** Milliseconds with at least one collective in flight since `startStep()`. */
  inFlightMs = 0;
  /** Blocking communication calls in progress (what the status line reads as "exchanging"). */
  active = 0;
  /** When the step started (the `now` clock), NaN before the first. */
  stepStart = NaN;
  private flying = 0;
  private blockedSince = 0;
  private flyingSince = 0;
  /** `now` is injectable so tests and benchmarks control time. */
  constructor(readonly now: Timers['now'] = realTimers.now) {}

  /** Starts a step's accounting. */
  startStep(): void {
    this.ms = 0;
    this.inFlightMs = 0;
    this.stepStart = this.now();
  }

  /** Compute so far in this step: its wall time minus the time it waited on communication. */
  computeMs(): number {
    const blockedNow = this.active > 0 ? this.now() - this.blockedSince : 0;
    return Math.max(0, this.now() - this.stepStart - this.ms - blockedNow);
  }

  /** Runs a collective the step waits for. */
  async time<T>(work: () => Promise<T>): Promise<T> {
    if (this.active++ === 0) this.blockedSince = this.now();
    try {
      return await this.background(work);
    } finally {
      if (--this.active === 0) this.ms += this.now() - this.blockedSince;
    }
  }

  /** Runs a collective that travels while the step computes on (awaited later through `time`). */
  async background<T>(work: () => Promise<T>): Promise<T> {
    if (this.flying++ === 0) this.flyingSince = this.now();
    try {
      return await work();
    } finally {
      if (--this.flying === 0) this.inFlightMs += this.now() - this.flyingSince;
    }
  }
}

/**
 * Lets the event loop run (network events, sends waiting for buffer space) before more synchronous
 * compute: on the CPU backend a layer's backward never yields by itself, so a bucket launched before
 * it would not leave this tab until backward ends. A message-channel task, not setTimeout(0), which
 * browsers clamp to 4 ms when nested.
 */
export function yieldToEventLoop(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** The same world, with every gather timed. */
export function timedWorld(world: WorkerWorld, timer: CommTimer): WorkerWorld {
  return {
    worldSize: world.worldSize,
    firstWorker: world.firstWorker,
    localWorkers: world.localWorkers,
    tabOf: (worker) => world.tabOf(worker),
    gatherRows: (local, rowLen) => timer.time(() => world.gatherRows(local, rowLen)),
  };
}

/**
 * Element-wise sum over all tabs (identity when the world is one tab). `group` is null for a world
 * that lives in one tab (localWorld). Every tab's contribution is checked (length, finite,
 * |x| ≤ GRADIENT_MAX_ABS) before the sum: a violation rejects with ERR_BAD_PEER_DATA naming the tab.
 * `wire` is how the contribution travels (f32, or f16/bf16 for gradients); `blocking` false lets it
 * travel in the background of the step's compute (counted as in flight, not as waited for).
 */
export async function allReduceSum(
  group: ProcessGroup | null,
  data: Float32Array,
  timer: CommTimer,
  opts: { wire?: WireFormat; blocking?: boolean } = {},
): Promise<Float32Array> {
  if (!group || group.size === 1) return data;
  const collective: CollectiveOptions = { priority: 'bulk', validate: { maxAbs: GRADIENT_MAX_ABS } };
  if (opts.wire && opts.wire !== 'f32') collective.wire = opts.wire;
  const reduce = () => group.allReduce(data, 'sum', collective);
  return opts.blocking === false ? timer.background(reduce) : timer.time(reduce);
}

/**
 * This tab's step pace, shared with the room (heartbeats) so that waits on it adapt: the compute time
 * of its last step, or of the current step when that is longer already. Compute is the step's wall
 * time minus the time spent inside collectives.
 */
export class PaceMeter {
  private stepStart = NaN;
  private commMs = 0;
  private commDepth = 0;
  private commSince = 0;
  private lastComputeMs = -1;

  constructor(readonly now: Timers['now'] = realTimers.now) {}

  startStep(): void {
    this.stepStart = this.now();
    this.commMs = 0;
  }

  /** Ends the step; returns its compute time (ms). */
  endStep(): number {
    this.lastComputeMs = this.computeSoFar();
    this.stepStart = NaN;
    return this.lastComputeMs;
  }

  /** ms (−1 before the first step). */
  paceMs(): number {
    return Math.max(this.lastComputeMs, Number.isNaN(this.stepStart) ? -1 : this.computeSoFar());
  }

  /** While a step computes (started, not inside a collective): its compute time so far; else null. */
  computingMs(): number | null {
    return !Number.isNaN(this.stepStart) && this.commDepth === 0 ? this.computeSoFar() : null;
  }

  async time<T>(work: () => Promise<T>): Promise<T> {
    if (this.commDepth++ === 0) this.commSince = this.now();
    try {
      return await work();
    } finally {
      if (--this.commDepth === 0 && !Number.isNaN(this.stepStart)) this.commMs += this.now() - Math.max(this.commSince, this.stepStart);
    }
  }

  private computeSoFar(): number {
    if (Number.isNaN(this.stepStart)) return Math.max(0, this.lastComputeMs);
    const inComm = this.commDepth > 0 ? this.now() - Math.max(this.commSince, this.stepStart) : 0;
    return Math.max(0, this.now() - this.stepStart - this.commMs - inComm);
  }
}

/**
 * Test hooks that make one tab a faulty peer (fault tests, benchmarks): they act on what this tab
 * sends, never on what it receives.
 */
export interface PeerFaults {
  /** Rewrites this tab's gradient all-reduce contribution at `step` (Inf values, a wrong length, …). */
  gradient?(step: number, data: Float32Array): Float32Array;
  /** Stalls this tab for this many ms before it contributes its gradient at `step` (a hiccup mid-step). */
  gradientDelayMs?(step: number): number;
}

/**
 * `group` with every collective counted as communication by `pace`, and `faults` applied to what it
 * sends. A gradient stall (at most once per step) also holds back every collective called after it,
 * so this tab still calls them in the order every tab does (gradient buckets overlap later work).
 */
export function pacedGroup(group: ProcessGroup, pace: PaceMeter, faults: PeerFaults = {}, stepOf: () => number = () => 0): ProcessGroup {
  let gate: Promise<void> | null = null;
  let stalledStep = -1;
  const inOrder = <T>(call: () => Promise<T>): Promise<T> => pace.time(() => (gate ? gate.then(call) : call()));
  return {
    get rank() {
      return group.rank;
    },
    get size() {
      return group.size;
    },
    get epoch() {
      return group.epoch;
    },
    peerIdOf: (rank) => group.peerIdOf(rank),
    setStep: (step) => group.setStep(step),
    broadcast: (data, root, opts) => inOrder(() => group.broadcast(data, root, opts)),
    allGather: (data, opts) => inOrder(() => group.allGather(data, opts)),
    exchange: (to, data, from, opts) => inOrder(() => group.exchange(to, data, from, opts)),
    allReduce: (data: Float32Array, op?: ReduceOp, opts?: CollectiveOptions) => {
      const step = stepOf();
      const stallMs = stalledStep === step ? 0 : (faults.gradientDelayMs?.(step) ?? 0);
      if (stallMs > 0) {
        stalledStep = step;
        const previous = gate ?? Promise.resolve();
        gate = previous.then(() => new Promise<void>((r) => setTimeout(r, stallMs)));
      }
      return inOrder(() => group.allReduce(faults.gradient ? faults.gradient(step, data) : data, op, opts));
    },
    barrier: (opts) => inOrder(() => group.barrier(opts)),
  };
}
