/**
 * The curves' data: several runs, each with its own step axis, aligned onto one x axis for uPlot
 * (steps missing in a run become null and are spanned over), as `[x, run0, run1, …]`.
 */
import type { RunSeries } from '../app/series.ts';

export type Metric = 'loss' | 'pretextAcc' | 'knnAcc';

export const METRICS: readonly { key: Metric; title: string; percent: boolean }[] = [
  { key: 'loss', title: 'Loss (InfoNCE)', percent: false },
  { key: 'pretextAcc', title: 'Pretext accuracy', percent: true },
  { key: 'knnAcc', title: 'kNN accuracy', percent: true },
];

function columns(run: RunSeries, metric: Metric): { x: readonly number[]; y: readonly number[] } {
  if (metric === 'knnAcc') return { x: run.knnSteps, y: run.knnAcc };
  return { x: run.steps, y: metric === 'loss' ? run.loss : run.pretextAcc };
}

/**
 * Aligned columns `[steps, ...one column per run]` with null where a run has no value at that step.
 * Steps are shown 1-based like the log. A sorted merge keeps it O(total points).
 */
export function alignRuns(runs: readonly RunSeries[], metric: Metric): (number | null)[][] {
  const cols = runs.map((r) => columns(r, metric));
  const xs = new Set<number>();
  for (const c of cols) for (const x of c.x) xs.add(x);
  const x = [...xs].sort((a, b) => a - b);
  const index = new Map(x.map((v, i) => [v, i]));
  const out: (number | null)[][] = [x.map((s) => s + 1)];
  for (const c of cols) {
    const y: (number | null)[] = new Array(x.length).fill(null);
    for (let i = 0; i < c.x.length; i++) y[index.get(c.x[i]!)!] = c.y[i]!;
    out.push(y);
  }
  return out;
}

/** The newest value of a metric in a run, or null. */
export function lastValue(run: RunSeries, metric: Metric): number | null {
  const y = columns(run, metric).y;
  return y.length ? y[y.length - 1]! : null;
}

/** Line colour of the i-th run; the current run (last) is drawn brightest. */
export const RUN_COLOURS = ['#6cb6ff', '#f2c14e', '#5fd08a', '#ff8f6b', '#c792ea', '#7fdbca'];
