/**
 * Coalesces a fast stream (training steps can arrive at 100+/s on a GPU) into at most one flush per
 * interval, so the page re-renders at a rate a person can follow and the DOM work stays cheap. The
 * first item after a quiet period flushes at once; later ones wait for the interval to pass.
 */
import { realTimers, type TimeoutTimers } from '../util/timers.ts';

/** Minimum time between two renders of live training data: 10 fps. */
export const RENDER_INTERVAL_MS = 100;

export class Batcher<T> {
  private pending: T[] = [];
  private timer: unknown = null;
  private lastFlush = -Infinity;
  private destroyed = false;

  constructor(
    private readonly flushFn: (items: T[]) => void,
    private readonly intervalMs: number = RENDER_INTERVAL_MS,
    private readonly timers: TimeoutTimers = realTimers,
  ) {}

  push(item: T): void {
    if (this.destroyed) return;
    this.pending.push(item);
    if (this.timer !== null) return;
    const wait = this.lastFlush + this.intervalMs - this.timers.now();
    if (wait <= 0) this.flush();
    else this.timer = this.timers.setTimeout(() => this.flush(), wait);
  }

  /** Delivers everything pending now (also used when a run ends, so the last step is shown). */
  flush(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    if (this.destroyed || this.pending.length === 0) return;
    const items = this.pending;
    this.pending = [];
    this.lastFlush = this.timers.now();
    this.flushFn(items);
  }

  /** Drops pending items; idempotent. */
  destroy(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
    this.destroyed = true;
  }
}
