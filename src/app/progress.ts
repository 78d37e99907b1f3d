/**
 * How fast a run goes and when it will end, from when its steps actually completed on this tab (every
 * tab of a room completes a step together, so this is the room's pace). kNN evaluation steps and
 * waiting for peers are included: the ETA is wall time, not compute time.
 */
import type { SessionActivity } from '../train/session.ts';

/**
 * Steps the rate is averaged over: long enough to smooth over a kNN evaluation step, short enough to
 * follow a change of pace (a tab joined or left) within a minute on the software GPU.
 */
export const RATE_WINDOW_STEPS = 20;

/** What the status line and the peers table show about the run in progress. */
export interface RunProgress {
  activity: SessionActivity;
  /** Steps completed so far. */
  done: number;
  total: number;
  /** Completed steps per second of wall time; null until it can be measured. */
  stepsPerSecond: number | null;
  /** Seconds until the last step at that rate; null when unknown. */
  etaSeconds: number | null;
  /** Every tab's compute time of the newest step, ms, by group rank (StepLog.tabComputeMs). */
  tabComputeMs: number[];
  /** This tab's compute and communication time of the newest step, ms (StepLog). */
  computeMs: number;
  commMs: number;
}

export class ProgressMeter {
  /** Arrival times (ms) of the newest steps, oldest first, with no pause in between. */
  private arrivals: number[] = [];
  private lastStepMs: number | null = null;

  /** Records that a step completed at `atMs` (its own measured duration `stepMs`, compute + communication). */
  record(atMs: number, stepMs: number): void {
    this.arrivals.push(atMs);
    if (this.arrivals.length > RATE_WINDOW_STEPS + 1) this.arrivals.shift();
    this.lastStepMs = stepMs;
  }

  /** After a pause or a rebuilt world the next interval is not a step's duration: start over. */
  restart(): void {
    this.arrivals = [];
  }

  /**
   * Steps per second over the window. With one step only, the session's measured duration of that
   * step stands in (it leaves out the time between steps, so it is slightly optimistic).
   */
  stepsPerSecond(): number | null {
    const n = this.arrivals.length;
    if (n >= 2) {
      const span = this.arrivals[n - 1]! - this.arrivals[0]!;
      return span > 0 ? ((n - 1) * 1000) / span : null;
    }
    return this.lastStepMs !== null && this.lastStepMs > 0 ? 1000 / this.lastStepMs : null;
  }

  etaSeconds(remainingSteps: number): number | null {
    if (remainingSteps <= 0) return 0;
    const rate = this.stepsPerSecond();
    return rate === null ? null : remainingSteps / rate;
  }
}

/** "45 s", "12 min", "1 h 5 min": an ETA rounded to what a person plans with. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** "2.4 steps/s", "0.42 steps/s", or "1 step per 2.4 s" when slower than one a second. */
export function formatRate(stepsPerSecond: number): string {
  if (stepsPerSecond >= 10) return `${stepsPerSecond.toFixed(0)} steps/s`;
  if (stepsPerSecond >= 1) return `${stepsPerSecond.toFixed(1)} steps/s`;
  return `${stepsPerSecond.toFixed(2)} steps/s (${(1 / stepsPerSecond).toFixed(1)} s a step)`;
}
