/**
 * Deadlines that fit the room. Every peer reports its step time ("pace") in its heartbeats: the
 * compute time of its last step, or of the step it is in, if that is longer already. A wait on a peer
 * (a receive, or a send held back by flow control) that reaches its base deadline is extended while
 * the slowest live peer's pace says the room is still working: a phone slower than the base deadline
 * makes everyone wait for it instead of ending the run. A peer that stops heartbeating is dropped by
 * the heartbeat timeout instead, and no wait lasts longer than MAX_STEP_WAIT_MS.
 *
 * Heartbeat payload (16 bytes, little-endian): f64 the prober's clock (echoed by the ack), f64 the
 * sender's pace in ms (−1: not training).
 */
import { MeshError } from './types.ts';
import type { Timers } from '../util/timers.ts';

export const HEARTBEAT_PAYLOAD_BYTES = 16;
/**
 * A wait is extended up to this multiple of the slowest other live peer's pace: its step time may
 * vary by 2×, and its transfer follows its compute.
 */
export const PACE_DEADLINE_FACTOR = 2;
/** No wait on a peer lasts longer than this, however slow the room says it is (a CPU-backend phone). */
export const MAX_STEP_WAIT_MS = 10 * 60_000;
/** A pace report older than this is not live (heartbeats come every second). */
export const PACE_STALE_MS = 4_000;
/** An extended wait re-checks the room's pace at least this often. */
const RECHECK_MS = 250;

/** What a peer reported about its step time. */
export interface PeerPace {
  peerId: string;
  /** Compute time of its last (or current, when longer) step, ms. */
  stepMs: number;
}

export function encodeHeartbeat(clock: number, paceMs: number): Uint8Array {
  const payload = new Uint8Array(HEARTBEAT_PAYLOAD_BYTES);
  const view = new DataView(payload.buffer);
  view.setFloat64(0, clock, true);
  view.setFloat64(8, Number.isFinite(paceMs) && paceMs >= 0 ? paceMs : -1, true);
  return payload;
}

export function decodeHeartbeat(payload: Uint8Array): { clock: number; paceMs: number } {
  const view = new DataView(payload.buffer, payload.byteOffset, HEARTBEAT_PAYLOAD_BYTES);
  const paceMs = view.getFloat64(8, true);
  // A forged pace cannot stretch waits beyond MAX_STEP_WAIT_MS; NaN or negative means "no report".
  return { clock: view.getFloat64(0, true), paceMs: Number.isFinite(paceMs) && paceMs >= 0 ? Math.min(paceMs, MAX_STEP_WAIT_MS) : -1 };
}

/** The room's step times as this peer knows them, and the wait allowance derived from them. */
export class PaceBoard {
  /** This peer's own pace, ms (−1: not training); set by the training session. */
  localPaceMs: () => number = () => -1;
  private reports = new Map<string, { paceMs: number; at: number }>();

  constructor(
    private readonly selfId: string,
    private readonly timers: Timers,
  ) {}

  report(peerId: string, paceMs: number): void {
    if (paceMs < 0) this.reports.delete(peerId);
    else this.reports.set(peerId, { paceMs, at: this.timers.now() });
  }

  forget(peerId: string): void {
    this.reports.delete(peerId);
  }

  /** The slowest live peer (self included unless `othersOnly`) and its step time, or null before any report. */
  slowest(othersOnly = false): PeerPace | null {
    const now = this.timers.now();
    let best: PeerPace | null = null;
    const own = othersOnly ? -1 : this.localPaceMs();
    if (own >= 0) best = { peerId: this.selfId, stepMs: own };
    for (const [peerId, { paceMs, at }] of this.reports) {
      if (now - at > PACE_STALE_MS) continue;
      if (!best || paceMs > best.stepMs) best = { peerId, stepMs: paceMs };
    }
    return best;
  }

  /**
   * How long a wait that started with a `baseMs` deadline may last, given the other peers' pace (this
   * peer's own pace is what the others wait for, not a reason to wait longer itself).
   */
  allowanceMs(baseMs: number): number {
    const slowest = this.slowest(true);
    const paced = slowest ? PACE_DEADLINE_FACTOR * slowest.stepMs : 0;
    return Math.min(MAX_STEP_WAIT_MS, Math.max(baseMs, paced));
  }

  /**
   * When a wait that started at `startedAt` with a `baseMs` deadline expires: ms to wait more, or 0 to
   * give up now.
   */
  extension(startedAt: number, baseMs: number): number {
    const waited = this.timers.now() - startedAt;
    const left = this.allowanceMs(baseMs) - waited;
    return left > 0 ? Math.max(RECHECK_MS, Math.min(left, 5 * RECHECK_MS)) : 0;
  }
}

/**
 * Waits for `work` until `deadline` (ms on `timers`), extended while `extend()` grants more time;
 * then rejects with ERR_TIMEOUT naming `peerId`.
 */
export function withDeadline<T>(work: Promise<T>, deadline: number, timers: Timers, extend: () => number, peerId: string, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: unknown = null;
    const arm = (ms: number) => {
      timer = timers.setTimeout(() => {
        const more = extend();
        if (more > 0) return arm(more);
        reject(new MeshError('ERR_TIMEOUT', `${what}: peer ${peerId} did not take the data before the deadline`, peerId));
      }, ms);
    };
    arm(Math.max(0, deadline - timers.now()));
    work.then(
      (value) => {
        timers.clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        timers.clearTimeout(timer);
        reject(err);
      },
    );
  });
}
