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
  send(to: number, opId: number, round: number, data: Float32Array, channel: Channel): Promise<void>;
  /** Resolves with rank `from`'s message, or rejects with ERR_TIMEOUT naming that peer at `deadline`. */
  recv(from: number, opId: number, round: number, deadline: number): Promise<Float32Array>;
  /** Called by a collective when it has finished, so late frames of it are dropped. */
  finish(opId: number): void;
}

/** Sends one message of a given epoch to a peer (the endpoint supplies it). */
export type SendFn = (peerId: string, header: { epoch: number; step: number; opId: number; round: number }, data: Float32Array, channel: Channel) => Promise<void>;

interface Waiter {
  opId: number;
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
  private arrived = new Map<string, { data: Float32Array; step: number }>();
  private waiters = new Map<string, Waiter>();
  private finished = new Set<number>();
  private rankById: Map<string, number>;

  constructor(
    readonly selfId: string,
    /** Peer ids in rank order, self included. */
    readonly members: readonly string[],
    readonly epoch: number,
    readonly timers: Timers,
    private readonly sendFn: SendFn,
  ) {
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
    for (const [key, entry] of this.arrived) if (entry.step < step) this.arrived.delete(key);
    this.finished.clear();
  }

  nextOpId(): number {
    return this.opCounter++;
  }

  async send(to: number, opId: number, round: number, data: Float32Array, channel: Channel): Promise<void> {
    if (this.abortError) throw this.abortError;
    await this.sendFn(this.peerIdOf(to), { epoch: this.epoch, step: this.step, opId, round }, data, channel);
  }

  recv(from: number, opId: number, round: number, deadline: number): Promise<Float32Array> {
    if (this.abortError) return Promise.reject(this.abortError);
    const key = `${from}:${opId}:${round}`;
    const early = this.arrived.get(key);
    if (early) {
      this.arrived.delete(key);
      return Promise.resolve(early.data);
    }
    return new Promise<Float32Array>((resolve, reject) => {
      const waitMs = Math.max(0, deadline - this.timers.now());
      const timer = this.timers.setTimeout(() => {
        this.waiters.delete(key);
        const peerId = this.peerIdOf(from);
        reject(new MeshError('ERR_TIMEOUT', `collective op ${opId} timed out waiting for peer ${peerId} (rank ${from})`, peerId));
      }, waitMs);
      this.waiters.set(key, { opId, resolve, reject, timer });
    });
  }

  finish(opId: number): void {
    this.finished.add(opId);
    // A collective that failed early may leave receives behind: settle them now rather than at their timeout.
    for (const [key, waiter] of this.waiters) {
      if (waiter.opId !== opId) continue;
      this.waiters.delete(key);
      this.timers.clearTimeout(waiter.timer);
      waiter.reject(new MeshError('ERR_TIMEOUT', `collective op ${opId} was abandoned`));
    }
    for (const key of this.arrived.keys()) if (key.split(':')[1] === String(opId)) this.arrived.delete(key);
  }

  /** A complete message from `peerId` arrived (called by the endpoint). */
  deliver(peerId: string, opId: number, round: number, step: number, data: Float32Array): void {
    const from = this.rankById.get(peerId);
    if (from === undefined || this.abortError || this.finished.has(opId)) return;
    const key = `${from}:${opId}:${round}`;
    const waiter = this.waiters.get(key);
    if (waiter) {
      this.waiters.delete(key);
      this.timers.clearTimeout(waiter.timer);
      waiter.resolve(data);
    } else {
      this.arrived.set(key, { data, step });
    }
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
  }
}
