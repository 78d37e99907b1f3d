/** A manual clock implementing the mesh's Timers: time moves only when a test calls advance(). */
import type { Timers } from '../../src/util/timers.ts';

export interface FakeClock {
  timers: Timers;
  /** Moves the clock forward, firing due timeouts and intervals in time order. */
  advance(ms: number): void;
  readonly now: number;
  /** When the next timeout or interval is due (null: none pending). */
  nextDue(): number | null;
}

export function fakeClock(start = 0): FakeClock {
  let now = start;
  let nextId = 1;
  const pending = new Map<number, { at: number; fn: () => void; every: number | null }>();
  const timers: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => {
      pending.set(nextId, { at: now + Math.max(0, ms), fn, every: null });
      return nextId++;
    },
    clearTimeout: (h) => void pending.delete(h as number),
    setInterval: (fn, ms) => {
      pending.set(nextId, { at: now + ms, fn, every: Math.max(1, ms) });
      return nextId++;
    },
    clearInterval: (h) => void pending.delete(h as number),
  };
  return {
    timers,
    get now() {
      return now;
    },
    nextDue() {
      let at: number | null = null;
      for (const timer of pending.values()) if (at === null || timer.at < at) at = timer.at;
      return at;
    },
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void; every: number | null }] | null = null;
        for (const entry of pending) if (entry[1].at <= until && (!next || entry[1].at < next[1].at)) next = entry;
        if (!next) break;
        const [id, timer] = next;
        now = timer.at;
        if (timer.every === null) pending.delete(id);
        else timer.at += timer.every;
        timer.fn();
      }
      now = until;
    },
  };
}
