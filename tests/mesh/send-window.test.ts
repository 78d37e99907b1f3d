/**
 * The adaptive send window on its own, fed credit samples on a driven clock: it grows while credits
 * come back at the base round trip, shrinks when they come late, stays within its floor and cap, and
 * rebuilds its base after a route change.
 */
import { describe, expect, it } from 'vitest';
import { AdaptiveWindow, BaseDelay, createWindow, DEFAULT_ADAPTIVE_WINDOW, FixedWindow } from '../../src/mesh/send-window.ts';
import { CREDIT_BATCH_BYTES } from '../../src/mesh/flow-control.ts';

const FRAME = CREDIT_BATCH_BYTES;

/** Feeds `count` credits of one frame each, `rttMs` apart in time, the sender always window-limited. */
function credit(window: AdaptiveWindow, clock: { now: number }, rttMs: number, count: number, limited = true): number[] {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) {
    clock.now += 0.1;
    window.onCredit({ rttMs, ackedBytes: FRAME, sentAtMs: clock.now - rttMs, nowMs: clock.now, peakInFlightBytes: limited ? window.highBytes + FRAME : FRAME });
    seen.push(window.highBytes);
  }
  return seen;
}

describe('adaptive send window', () => {
  it('grows while credits return at the base round trip, up to its cap and never past it', () => {
    const window = new AdaptiveWindow();
    const clock = { now: 0 };
    const start = window.highBytes;
    const seen = credit(window, clock, 1, 2_000);
    expect(seen[20]!).toBeGreaterThan(start);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect(Math.max(...seen)).toBe(DEFAULT_ADAPTIVE_WINDOW.maxBytes);
  });

  it('does not grow when the application, not the window, limits the sender', () => {
    const window = new AdaptiveWindow();
    const clock = { now: 0 };
    const seen = credit(window, clock, 1, 200, false);
    expect(new Set(seen)).toEqual(new Set([DEFAULT_ADAPTIVE_WINDOW.initialBytes]));
  });

  it('shrinks when credits come later than base + target, down to its floor and never under it', () => {
    const window = new AdaptiveWindow({ initialBytes: 512 * 1024 });
    const clock = { now: 0 };
    credit(window, clock, 1, 8); // base 1 ms
    const before = window.highBytes;
    const late = 1 + 3 * DEFAULT_ADAPTIVE_WINDOW.targetDelayMs;
    const seen: number[] = [];
    for (let i = 0; i < 40; i++) {
      // Each credit acknowledges a frame sent after the previous cut: a cut per round trip.
      clock.now += late;
      window.onCredit({ rttMs: late, ackedBytes: FRAME, sentAtMs: clock.now - 0.01, nowMs: clock.now, peakInFlightBytes: window.highBytes });
      seen.push(window.highBytes);
    }
    // The current round trip is the least of the last few credits: one late credit alone is noise.
    expect(seen[DEFAULT_ADAPTIVE_WINDOW.currentFilter - 1]!).toBeLessThan(before);
    expect(window.queueDelayMs).toBeCloseTo(late - 1, 6);
    expect(Math.min(...seen)).toBe(DEFAULT_ADAPTIVE_WINDOW.minBytes);
    expect(seen.at(-1)).toBe(DEFAULT_ADAPTIVE_WINDOW.minBytes);
  });

  it('cuts once per round trip: late credits for bytes sent before the cut do not cut again', () => {
    const window = new AdaptiveWindow({ initialBytes: 512 * 1024, currentFilter: 1 });
    credit(window, { now: 0 }, 1, 8);
    const before = window.highBytes;
    const late = 1 + 4 * DEFAULT_ADAPTIVE_WINDOW.targetDelayMs;
    window.onCredit({ rttMs: late, ackedBytes: FRAME, sentAtMs: 100 - late, nowMs: 100, peakInFlightBytes: window.highBytes });
    const afterCut = window.highBytes;
    expect(afterCut).toBe(before / 2); // four targets over: the deepest cut, a half
    for (let t = 100.1; t < 100 + late; t += 0.1) {
      window.onCredit({ rttMs: late, ackedBytes: FRAME, sentAtMs: t - late, nowMs: t, peakInFlightBytes: window.highBytes });
    }
    expect(window.highBytes).toBe(afterCut);
  });

  it('the resume mark is one credit batch under the high mark, so never below a batch', () => {
    const window = new AdaptiveWindow({ initialBytes: 0 });
    expect(window.highBytes).toBe(DEFAULT_ADAPTIVE_WINDOW.minBytes);
    expect(window.lowBytes).toBe(DEFAULT_ADAPTIVE_WINDOW.minBytes - CREDIT_BATCH_BYTES);
    expect(window.lowBytes).toBeGreaterThanOrEqual(CREDIT_BATCH_BYTES);
  });

  it('a standing queue does not become the base while a faster credit is within the period', () => {
    const window = new AdaptiveWindow({ currentFilter: 1 });
    const clock = { now: 0 };
    credit(window, clock, 1, 1);
    // A stream whose credits all carry 5 ms of queue: it stays queueing, and the window at its floor.
    const seen = credit(window, clock, 6, 200);
    expect(window.baseMs).toBe(1);
    expect(window.queueDelayMs).toBe(5);
    expect(seen.at(-1)).toBe(DEFAULT_ADAPTIVE_WINDOW.minBytes);
  });

  it('after a route change raises the round trip, the base follows within its period and the window grows again', () => {
    const period = DEFAULT_ADAPTIVE_WINDOW.basePeriodMs;
    const window = new AdaptiveWindow();
    const clock = { now: 0 };
    credit(window, clock, 1, 50);
    expect(window.baseMs).toBe(1);
    // The new route: 10 ms. Seen as queueing at first, so the window goes to its floor.
    for (let i = 0; i < 20; i++) credit(window, clock, 10, 1), (clock.now += 10);
    expect(window.highBytes).toBe(DEFAULT_ADAPTIVE_WINDOW.minBytes);
    while (clock.now < period + 100) credit(window, clock, 10, 1), (clock.now += 50);
    expect(window.baseMs).toBe(10);
    const floor = window.highBytes;
    credit(window, clock, 10, 100);
    expect(window.highBytes).toBeGreaterThan(floor);
  });

  it('BaseDelay keeps the minimum of its period and forgets older buckets', () => {
    const base = new BaseDelay(1_000, 4);
    base.add(5, 0);
    base.add(3, 100);
    base.add(7, 300);
    expect(base.valueMs).toBe(3);
    base.add(9, 1_100); // the 0-250 ms bucket has left the period
    expect(base.valueMs).toBe(7);
  });

  it('bad windows are refused with a RangeError', () => {
    expect(() => new AdaptiveWindow({ minBytes: CREDIT_BATCH_BYTES })).toThrow(RangeError);
    expect(() => new AdaptiveWindow({ maxBytes: 2 * CREDIT_BATCH_BYTES - 1 })).toThrow(RangeError);
    expect(() => new AdaptiveWindow({ targetDelayMs: 0 })).toThrow(RangeError);
    expect(() => new FixedWindow({ lowBytes: CREDIT_BATCH_BYTES / 2 })).toThrow(RangeError);
    expect(createWindow({ mode: 'fixed', highBytes: 256 * 1024, lowBytes: 64 * 1024 }).highBytes).toBe(256 * 1024);
    expect(createWindow().highBytes).toBe(DEFAULT_ADAPTIVE_WINDOW.initialBytes);
  });
});
