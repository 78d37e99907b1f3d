/**
 * The leak in two numbers, read from a compare-mode run's step logs (local BN against another mode):
 * the pretext-accuracy gap (local − other; the leak makes local's pretext task easy) and the kNN gap
 * (other − local; the leak makes local's features worse). The quick demo counts as unmistakable when
 * both reach the thresholds below.
 */
import type { StepLog, TrainConfig } from '../../src/train/types.ts';

/** Pretext accuracy is read as the mean over this many last steps (one step's figure is noisy). */
export const PRETEXT_WINDOW_STEPS = 25;
/** What "unmistakable" means for the quick demo, in percentage points. */
export const MIN_PRETEXT_GAP_POINTS = 40;
export const MIN_KNN_GAP_POINTS = 2;

export interface LeakGaps {
  localMode: 'local';
  otherMode: string;
  /** Means over the last PRETEXT_WINDOW_STEPS steps, in %. */
  pretextLocal: number;
  pretextOther: number;
  /** Last kNN evaluation of each model, in % (null if none). */
  knnLocal: number | null;
  knnOther: number | null;
  pretextGap: number;
  knnGap: number | null;
  /** Step (1-based) the figures are read at. */
  step: number;
  unmistakable: boolean;
}

/** Null unless the run compared `local` with another mode. */
export function leakGaps(config: Pick<TrainConfig, 'mode' | 'compareWith'>, steps: readonly StepLog[]): LeakGaps | null {
  const { mode, compareWith } = config;
  if (compareWith === null || mode === compareWith || (mode !== 'local' && compareWith !== 'local') || steps.length === 0) return null;
  const localFirst = mode === 'local';
  const figures = steps.map((s) => (s.compare ? { first: s, second: s.compare } : null));
  if (figures.some((f) => f === null)) return null;
  const pick = (i: number) => (localFirst ? [figures[i]!.first, figures[i]!.second] : [figures[i]!.second, figures[i]!.first]) as [{ pretextAcc: number; knnAcc?: number }, { pretextAcc: number; knnAcc?: number }];
  const window = steps.slice(-PRETEXT_WINDOW_STEPS).map((_, k) => pick(steps.length - Math.min(steps.length, PRETEXT_WINDOW_STEPS) + k));
  const mean = (xs: number[]) => (100 * xs.reduce((a, b) => a + b, 0)) / xs.length;
  const pretextLocal = mean(window.map(([l]) => l.pretextAcc));
  const pretextOther = mean(window.map(([, o]) => o.pretextAcc));
  let knnLocal: number | null = null;
  let knnOther: number | null = null;
  for (let i = steps.length - 1; i >= 0 && knnLocal === null; i--) {
    const [l, o] = pick(i);
    if (l.knnAcc !== undefined && o.knnAcc !== undefined) [knnLocal, knnOther] = [100 * l.knnAcc, 100 * o.knnAcc];
  }
  const pretextGap = pretextLocal - pretextOther;
  const knnGap = knnLocal === null || knnOther === null ? null : knnOther - knnLocal;
  return {
    localMode: 'local',
    otherMode: localFirst ? compareWith : mode,
    pretextLocal,
    pretextOther,
    knnLocal,
    knnOther,
    pretextGap,
    knnGap,
    step: steps[steps.length - 1]!.step + 1,
    unmistakable: pretextGap >= MIN_PRETEXT_GAP_POINTS && knnGap !== null && knnGap >= MIN_KNN_GAP_POINTS,
  };
}

/** One line for a terminal. */
export function gapsLine(g: LeakGaps): string {
  const knn = g.knnGap === null ? 'kNN not evaluated' : `kNN ${g.otherMode} ${g.knnOther!.toFixed(1)}% vs local ${g.knnLocal!.toFixed(1)}% (gap ${g.knnGap.toFixed(1)} points)`;
  return `leak at step ${g.step}: pretext local ${g.pretextLocal.toFixed(1)}% vs ${g.otherMode} ${g.pretextOther.toFixed(1)}% (gap ${g.pretextGap.toFixed(1)} points, mean of the last ${PRETEXT_WINDOW_STEPS} steps); ${knn} → ${g.unmistakable ? 'unmistakable' : `not unmistakable (needs ≥ ${MIN_PRETEXT_GAP_POINTS} and ≥ ${MIN_KNN_GAP_POINTS} points)`}`;
}
