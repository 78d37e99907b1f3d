/**
 * The run's pace and ETA from step arrival times, and the run's progress as the controller publishes
 * it: figures come from the measured times, pauses and rebuilt worlds are not counted as steps.
 */
import { describe, expect, it } from 'vitest';
import { ProgressMeter, RATE_WINDOW_STEPS, formatDuration, formatRate } from '../../src/app/progress.ts';

describe('ProgressMeter', () => {
  it('steps per second is measured over the newest window of arrivals; the ETA follows from it', () => {
    const m = new ProgressMeter();
    expect(m.stepsPerSecond()).toBeNull();
    // The first step: its own measured duration stands in (2400 ms → 1/2.4 steps/s).
    m.record(10_000, 2400);
    expect(m.stepsPerSecond()).toBeCloseTo(1 / 2.4, 12);
    // Then 2.5 s between arrivals, whatever the session said each step took.
    for (let i = 1; i <= 5; i++) m.record(10_000 + i * 2500, 2000);
    expect(m.stepsPerSecond()).toBeCloseTo(0.4, 12);
    expect(m.etaSeconds(100)).toBeCloseTo(250, 9);
    expect(m.etaSeconds(0)).toBe(0);
    // A change of pace: after a full window of 0.5 s steps, the old pace is forgotten.
    let t = 10_000 + 5 * 2500;
    for (let i = 0; i < RATE_WINDOW_STEPS; i++) m.record((t += 500), 400);
    expect(m.stepsPerSecond()).toBeCloseTo(2, 12);
  });

  it('a pause does not count as a long step', () => {
    const m = new ProgressMeter();
    m.record(0, 1000);
    m.record(1000, 1000);
    m.restart(); // paused for a minute
    m.record(61_000, 1000);
    m.record(62_000, 1000);
    m.record(63_000, 1000);
    expect(m.stepsPerSecond()).toBeCloseTo(1, 12);
  });

  it('formats durations and rates for a person', () => {
    expect(formatDuration(0.2)).toBe('1 s');
    expect(formatDuration(44.6)).toBe('45 s');
    expect(formatDuration(12 * 60 + 10)).toBe('12 min');
    expect(formatDuration(65 * 60)).toBe('1 h 5 min');
    expect(formatRate(42.3)).toBe('42 steps/s');
    expect(formatRate(2.44)).toBe('2.4 steps/s');
    expect(formatRate(0.4)).toBe('0.40 steps/s (2.5 s a step)');
  });
});
