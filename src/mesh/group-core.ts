/**
 * The point-to-point layer under the collectives for one membership epoch: tagged sends to a rank and
 * receives from a rank with deadlines, over whatever links the endpoint holds. Messages are matched by
 * (source rank, operation id, round); every peer numbers its collectives with the same per-epoch counter.
 * When the membership breaks (a peer leaves, the epoch is replaced), every pending and later call fails
 * with the abort error at once instead of waiting for its timeout.
 */
import { MeshError } from './types.ts';
import type { Channel } from './transport.ts';
import type { Timers } from '../util/timers.ts';

/**
 * What one peer may have buffered in an epoch's matching layer, and how far ahead its operation ids may
 * run. Every rank numbers collectives with the same counter and none completes without every rank's
 * part, so a healthy peer is at most a few operations ahead (a root may finish a broadcast early).
 */
export interface MatchLimits {
  /**
   * Operation ids accepted: fewer than this many ahead of this peer's next one, and no more than this
   * many behind its oldest collective still running (a long allReduce stays current while many short
   * exchanges start and finish beside it).
   */
  opIdWindow: number;
  /**
   * Complete messages received before their receive was posted, per sender. A ring all-reduce's
   * first round can arrive before this rank enters it: up to 2048 pieces, plus a few gathers.
   */
  maxEarlyMessages: number;
  /** Their bytes, per sender: two of the largest messages. */
  maxEarlyBytes: number;
}

export const DEFAULT_MATCH_LIMITS: Readonly<MatchLimits> = Object.freeze({
  opIdWindow: 32,
  maxEarlyMessages: 4096,
  maxEarlyBytes: 128 * 1024 * 1024,
});

/** What the collectives need from the layer below (implemented by GroupCore). */
export interface PointToPoint {
  readonly rank: number;
  readonly size: number;
  readonly epoch: number;
  readonly step: number;
  readonly timers: Timers;
  peerIdOf(rank: number): string;
  setStep(step: number): void;
  /** Next operation id of this epoch (same sequence on every peer). */
  nextOpId(): number;
  /**
   * Rejects with ERR_TIMEOUT naming the peer when it does not take the data by `deadline`. `unchecked`
   * sends it as FrameKind.F32Unchecked (wire.ts): finiteness left to the receiver, which must ask for it.
   */
  send(to: number, opId: number, round: number, data: Float32Array, channel: Channel, deadline: number, unchecked?: boolean): Promise<void>;
  /**
   * Resolves with rank `from`'s message, or rejects with ERR_TIMEOUT naming that peer at `deadline`.
   * Only an `unchecked` receive takes an unchecked message, whose values the caller must check itself;
   * any other rejects it with ERR_BAD_FRAME naming the sender.
   */
  recv(from: number, opId: number, round: number, deadline: number, unchecked?: boolean): Promise<Float32Array>;
  /** Called by a collective when it has finished, so late frames of it are dropped. */
  finish(opId: number): void;
}

/** Sends one message of a given epoch to a peer (the endpoint supplies it). */
export type SendFn = (peerId: string, header: { epoch: number; step: number; opId: number; round: number; unchecked?: boolean }, data: Float32Array, channel: Channel, deadline: number) => Promise<void>;

/**
 * When a wait that started at `startedAt` with a `baseMs` deadline expires: ms to wait more, or 0 to
 * fail it (pace.ts: the room's slowest peer is still working).
 */
export type WaitPolicy = (startedAt: number, baseMs: number) => number;

interface Waiter {
  opId: number;
  from: number;
  startedAt: number;
  /** The receive takes an unchecked message (its caller checks the values). */
  unchecked: boolean;
  resolve(data: Float32Array): void;
  reject(err: Error): void;
  timer: unknown;
}

export class GroupCore implements PointToPoint {
  readonly size: number;
  readonly rank: number;
  step = 0;
  private opCounter = 0;
  private abortError: MeshError | null = null;
  /** Messages that arrived before their receive was posted, by key; with the step they were stamped with. */
  private arrived = new Map<string, { data: Float32Array; step: number; from: number; unchecked: boolean }>();
  /** Count and bytes of `arrived` per source rank. */
  private early = new Map<number, { messages: number; bytes: number }>();
  private readonly limits: MatchLimits;
  private waiters = new Map<string, Waiter>();
  private finished = new Set<number>();
  /** Operations started here and not finished yet. */
  private running = new Set<number>();
  private rankById: Map<string, number>;

  constructor(
    readonly selfId: string,
    /** Peer ids in rank order, self included. */
    readonly members: readonly string[],
    readonly epoch: number,
    readonly timers: Timers,
    private readonly sendFn: SendFn,
    limits: Partial<MatchLimits> = {},
    private readonly waitPolicy: WaitPolicy = () => 0,
  ) {
    this.limits = { ...DEFAULT_MATCH_LIMITS, ...limits };
    this.size = members.length;
    this.rank = members.indexOf(selfId);
    if (this.rank < 0) throw new Error(`self ${selfId} is not among the members`);
    this.rankById = new Map(members.map((id, r) => [id, r]));
  }

  get aborted(): MeshError | null {
    return this.abortError;
  }

  peerIdOf(rank: number): string {
    return this.members[rank]!;
  }

  rankOf(peerId: string): number | undefined {
    return this.rankById.get(peerId);
  }

  setStep(step: number): void {
    if (step === this.step) return;
    this.step = step;
    // Leftovers of earlier steps (late frames of a timed-out collective) can never be received now.
    for (const [key, entry] of this.arrived) if (entry.step < step) this.takeArrived(key);
    this.finished.clear();
  }

  nextOpId(): number {
    this.running.add(this.opCounter);
    return this.opCounter++;
  }

  /** The id the next collective will take (fault tests aim forged frames inside the window with it). */
  get currentOp(): number {
    return this.opCounter;
  }

  /**
   * Where operation `opId` stands: 'current' (deliver it), 'stale' (long finished: ignore), or
   * 'ahead' (further ahead than any healthy peer can be: the sender is broken or hostile).
   */
  classifyOp(opId: number): 'current' | 'stale' | 'ahead' {
    if (opId >= this.opCounter + this.limits.opIdWindow) return 'ahead';
    let oldestRunning = this.opCounter;
    for (const running of this.running) oldestRunning = Math.min(oldestRunning, running);
    if (opId < oldestRunning - this.limits.opIdWindow) return 'stale';
    return 'current';
  }

  async send(to: number, opId: number, round: number, data: Float32Array, channel: Channel, deadline: number, unchecked = false): Promise<void> {
    if (this.abortError) throw this.abortError;
    await this.sendFn(this.peerIdOf(to), { epoch: this.epoch, step: this.step, opId, round, unchecked }, data, channel, deadline);
  }

  /** The peer this epoch has waited for longest (a posted receive), and since when; null if none. */
  oldestWait(): { peerId: string; since: number } | null {
    let oldest: Waiter | null = null;
    for (const waiter of this.waiters.values()) if (!oldest || waiter.startedAt < oldest.startedAt) oldest = waiter;
    return oldest ? { peerId: this.peerIdOf(oldest.from), since: oldest.startedAt } : null;
  }

  recv(from: number, opId: number, round: number, deadline: number, unchecked = false): Promise<Float32Array> {
    if (this.abortError) return Promise.reject(this.abortError);
    const key = `${from}:${opId}:${round}`;
    const early = this.takeArrived(key);
    if (early) {
      if (early.unchecked && !unchecked) return Promise.reject(uncheckedRefused(this.peerIdOf(from), opId, round));
      return Promise.resolve(early.data);
    }
    return new Promise<Float32Array>((resolve, reject) => {
      const startedAt = this.timers.now();
      const baseMs = Math.max(0, deadline - startedAt);
      const waiter: Waiter = { opId, from, startedAt, unchecked, resolve, reject, timer: null };
      const arm = (ms: number) => {
        waiter.timer = this.timers.setTimeout(() => {
          if (this.waiters.get(key) !== waiter) return;
          // The base deadline passed: wait on while the room's slowest peer is still working.
          const more = this.waitPolicy(startedAt, baseMs);
          if (more > 0) return arm(more);
          this.waiters.delete(key);
          const peerId = this.peerIdOf(from);
          const waited = Math.round(this.timers.now() - startedAt);
          reject(new MeshError('ERR_TIMEOUT', `collective op ${opId} timed out after ${waited} ms waiting for peer ${peerId} (rank ${from})`, peerId));
        }, ms);
      };
      arm(baseMs);
      this.waiters.set(key, waiter);
    });
  }

  finish(opId: number): void {
    this.finished.add(opId);
    this.running.delete(opId);
    // A collective that failed early may leave receives behind: settle them now rather than at their timeout.
    for (const [key, waiter] of this.waiters) {
      if (waiter.opId !== opId) continue;
      this.waiters.delete(key);
      this.timers.clearTimeout(waiter.timer);
      waiter.reject(new MeshError('ERR_TIMEOUT', `collective op ${opId} was abandoned`));
    }
    for (const key of [...this.arrived.keys()]) if (key.split(':')[1] === String(opId)) this.takeArrived(key);
  }

  /**
   * A complete message from `peerId` arrived (called by the endpoint). Throws ERR_PEER_OVER_LIMIT
   * (naming the sender) when it has more early messages than allowed, ERR_BAD_FRAME for a second
   * message under the same tag or an unchecked message (FrameKind.F32Unchecked) for a receive that did
   * not ask for one.
   */
  deliver(peerId: string, opId: number, round: number, step: number, data: Float32Array, unchecked = false): void {
    const from = this.rankById.get(peerId);
    if (from === undefined || this.abortError || this.finished.has(opId) || step < this.step) return;
    const key = `${from}:${opId}:${round}`;
    const waiter = this.waiters.get(key);
    if (waiter) {
      if (unchecked && !waiter.unchecked) throw uncheckedRefused(peerId, opId, round);
      this.waiters.delete(key);
      this.timers.clearTimeout(waiter.timer);
      waiter.resolve(data);
      return;
    }
    if (this.arrived.has(key)) throw new MeshError('ERR_BAD_FRAME', `peer ${peerId} sent op ${opId} round ${round} twice`, peerId);
    const count = this.early.get(from) ?? { messages: 0, bytes: 0 };
    if (count.messages + 1 > this.limits.maxEarlyMessages || count.bytes + data.byteLength > this.limits.maxEarlyBytes) {
      throw new MeshError(
        'ERR_PEER_OVER_LIMIT',
        `peer ${peerId} over its memory limit: ${count.messages + 1} messages / ${count.bytes + data.byteLength} bytes ahead of this peer ` +
          `(limits ${this.limits.maxEarlyMessages} messages, ${this.limits.maxEarlyBytes} bytes)`,
        peerId,
      );
    }
    count.messages++;
    count.bytes += data.byteLength;
    this.early.set(from, count);
    this.arrived.set(key, { data, step, from, unchecked });
  }

  /** Removes and returns an early message, keeping the per-sender counts. */
  private takeArrived(key: string): { data: Float32Array; step: number; unchecked: boolean } | undefined {
    const entry = this.arrived.get(key);
    if (!entry) return undefined;
    this.arrived.delete(key);
    const count = this.early.get(entry.from);
    if (count) {
      count.messages--;
      count.bytes -= entry.data.byteLength;
    }
    return entry;
  }

  /** Fails every pending and future call with `error` (idempotent: the first error wins). */
  abort(error: MeshError): void {
    if (this.abortError) return;
    this.abortError = error;
    for (const waiter of this.waiters.values()) {
      this.timers.clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiters.clear();
    this.arrived.clear();
    this.early.clear();
  }
}

/** An unchecked message where the receiver relies on the wire's finiteness check. */
function uncheckedRefused(peerId: string, opId: number, round: number): MeshError {
  return new MeshError('ERR_BAD_FRAME', `peer ${peerId} sent unchecked float32 for op ${opId} round ${round}, where only checked data is taken`, peerId);
}
