/** The quick demo's verdict (scripts/lib/leak-gaps.ts), on step logs whose gaps are known by construction. */
import { describe, expect, it } from 'vitest';
import { leakGaps, PRETEXT_WINDOW_STEPS } from '../../scripts/lib/leak-gaps.ts';
import type { StepLog } from '../../src/train/types.ts';

/** `n` steps: shuffle (first model) at pretext 0.1 and local at 0.9 over the last window, kNN at the end. */
function logs(n: number, knn: { shuffle: number; local: number } | null): StepLog[] {
  return Array.from({ length: n }, (_, step) => {
    const inWindow = step >= n - PRETEXT_WINDOW_STEPS;
    const log: StepLog = { step, loss: 1, pretextAcc: inWindow ? 0.1 : 0.5, sourceOf: [1, 0], computeMs: 0, commMs: 0, compare: { mode: 'local', loss: 1, pretextAcc: inWindow ? 0.9 : 0.5, sourceOf: [0, 1] } };
    if (knn && step === n - 1) {
      log.knnAcc = knn.shuffle;
      log.compare!.knnAcc = knn.local;
    }
    return log;
  });
}

describe('leak gaps', () => {
  it('reads pretext over the last window and kNN at the last evaluation, local against the other model', () => {
    const g = leakGaps({ mode: 'shuffle', compareWith: 'local' }, logs(40, { shuffle: 0.67, local: 0.64 }))!;
    expect(g.otherMode).toBe('shuffle');
    expect(g.pretextGap).toBeCloseTo(80, 9);
    expect(g.knnGap).toBeCloseTo(3, 9);
    expect(g.step).toBe(40);
    expect(g.unmistakable).toBe(true);
  });

  it('needs both gaps: a kNN gap under 2 points, or none evaluated, is not unmistakable', () => {
    expect(leakGaps({ mode: 'shuffle', compareWith: 'local' }, logs(40, { shuffle: 0.65, local: 0.64 }))!.unmistakable).toBe(false);
    const none = leakGaps({ mode: 'shuffle', compareWith: 'local' }, logs(40, null))!;
    expect(none.knnGap).toBeNull();
    expect(none.unmistakable).toBe(false);
  });

  it('is null without a local model to compare with', () => {
    expect(leakGaps({ mode: 'shuffle', compareWith: null }, logs(40, null))).toBeNull();
    expect(leakGaps({ mode: 'shuffle', compareWith: 'sync' }, logs(40, null))).toBeNull();
  });
});
