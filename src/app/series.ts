/**
 * Curves of one run (loss, pretext accuracy, kNN accuracy per step) and the bounded history of runs
 * that the charts overlay, so e.g. a `shuffle` run and a `local` run can be compared on one plot.
 */
import type { StepLog, TrainConfig } from '../train/types.ts';

/** Runs kept for overlay (the current one included). */
export const MAX_HISTORY_RUNS = 6;

export interface RunSeries {
  id: string;
  /** Legend text, e.g. "shuffle/random W=8". */
  label: string;
  config: TrainConfig;
  worldSize: number;
  /** Parallel arrays, one entry per completed step (step is the 0-based StepLog.step). */
  steps: number[];
  loss: number[];
  pretextAcc: number[];
  /** kNN accuracy only exists on evaluation steps: its own step axis. */
  knnSteps: number[];
  knnAcc: number[];
  finished: boolean;
}

/** Legend label of a run. */
export function seriesLabel(config: TrainConfig, worldSize: number): string {
  const perm = config.mode === 'shuffle' || config.mode === 'samples' ? `/${config.permutation}` : '';
  return `${config.mode}${perm} W=${worldSize}`;
}

export function newSeries(id: string, config: TrainConfig, worldSize: number): RunSeries {
  return { id, label: seriesLabel(config, worldSize), config, worldSize, steps: [], loss: [], pretextAcc: [], knnSteps: [], knnAcc: [], finished: false };
}

/**
 * Appends one step. A step that is not newer than the last one (a replayed event) is ignored, so the
 * x axis stays increasing as uPlot requires.
 */
export function appendStep(series: RunSeries, log: StepLog): void {
  const last = series.steps.length ? series.steps[series.steps.length - 1]! : -1;
  if (log.step <= last) return;
  series.steps.push(log.step);
  series.loss.push(log.loss);
  series.pretextAcc.push(log.pretextAcc);
  if (log.knnAcc !== undefined) {
    series.knnSteps.push(log.step);
    series.knnAcc.push(log.knnAcc);
  }
}

/** History with `run` at the end (replacing an entry with the same id), oldest dropped beyond the limit. */
export function withRun(history: readonly RunSeries[], run: RunSeries): RunSeries[] {
  const rest = history.filter((r) => r.id !== run.id);
  return [...rest, run].slice(-MAX_HISTORY_RUNS);
}
