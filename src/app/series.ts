/**
 * Curves of one run (loss, pretext accuracy, kNN accuracy per step) and the bounded history of runs
 * that the charts overlay, so e.g. a `shuffle` run and a `local` run can be compared on one plot. A
 * compare-mode run has one series per model.
 */
import type { StepLog, TrainConfig } from '../train/types.ts';

/** Runs kept for overlay (the current one included). */
export const MAX_HISTORY_RUNS = 6;

export interface RunSeries {
  id: string;
  /** The run this series belongs to: in compare mode two series (one per model) share it. */
  runId: string;
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

/** `runId` defaults to `id` (a run of one model); a compare-mode run's second series passes its run's id. */
export function newSeries(id: string, config: TrainConfig, worldSize: number, runId: string = id): RunSeries {
  return { id, runId, label: seriesLabel(config, worldSize), config, worldSize, steps: [], loss: [], pretextAcc: [], knnSteps: [], knnAcc: [], finished: false };
}

/**
 * Appends one step. A step that is not newer than the last one (a replayed event) is ignored, so the
 * x axis stays increasing as uPlot requires.
 */
export function appendStep(series: RunSeries, log: Pick<StepLog, 'step' | 'loss' | 'pretextAcc' | 'knnAcc'>): void {
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

/** Removes every entry from `step` on (steps rolled back after the world was rebuilt). */
export function truncateSeries(series: RunSeries, step: number): void {
  const keep = series.steps.findIndex((s) => s >= step);
  if (keep >= 0) {
    series.steps.length = keep;
    series.loss.length = keep;
    series.pretextAcc.length = keep;
  }
  const keepKnn = series.knnSteps.findIndex((s) => s >= step);
  if (keepKnn >= 0) {
    series.knnSteps.length = keepKnn;
    series.knnAcc.length = keepKnn;
  }
}

/** History with `run` at the end (replacing an entry with the same id), oldest dropped beyond the limit. */
export function withRun(history: readonly RunSeries[], run: RunSeries): RunSeries[] {
  return withRuns(history, [run]);
}

/** withRun for all series of one run (two in compare mode), kept together and in order at the end. */
export function withRuns(history: readonly RunSeries[], runs: readonly RunSeries[]): RunSeries[] {
  const ids = new Set(runs.map((r) => r.id));
  const rest = history.filter((r) => !ids.has(r.id));
  return [...rest, ...runs].slice(-MAX_HISTORY_RUNS);
}
