/**
 * Placement independence: the same world of 4 workers run as 1 tab × 4, 2 tabs × 2 and 4 tabs × 1
 * must train identically (up to float32 summation order), for every key-encoder BN mode.
 */
import { describe, expect, it } from 'vitest';
import type { BnMode } from '../../src/train/types.ts';
import { maxRelDiff, place, SMALL_CONFIG } from './harness.ts';

const STEPS = 5;
/** Float32 results summed in different orders (per-tab partial sums, all-reduce) agree to ~1e-6; allow growth over steps. */
const TOLERANCE = 2e-4;

async function run(mode: BnMode, workersPerTab: number[]) {
  const p = await place({ ...SMALL_CONFIG, mode }, workersPerTab);
  const losses: number[][] = [];
  const accs: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const logs = await p.step();
    losses.push(logs.map((l) => l.loss));
    accs.push(logs[0].pretextAcc);
  }
  const states = await Promise.all(p.trainers.map((t) => t.state()));
  p.destroy();
  return { losses, accs, states };
}

describe.each(['local', 'shuffle', 'sync', 'samples'] as const)('placement independence, mode %s', (mode) => {
  it('1×4, 2×2 and 4×1 tabs give the same losses, parameters and queue', async () => {
    const one = await run(mode, [4]);
    for (const split of [[2, 2], [1, 1, 1, 1]]) {
      const other = await run(mode, split);
      for (let s = 0; s < STEPS; s++) {
        // Every tab reports the same world loss...
        for (const l of other.losses[s]) expect(l).toBe(other.losses[s][0]);
        // ...equal to the single-tab run's.
        expect(Math.abs(other.losses[s][0] - one.losses[s][0])).toBeLessThan(TOLERANCE);
        expect(other.accs[s]).toBe(one.accs[s]);
      }
      const ref = one.states[0];
      for (const st of other.states) {
        // The queue is bit-identical on every tab (all tabs enqueue the same gathered keys).
        expect(st.queue).toEqual(other.states[0].queue);
        expect(st.query).toEqual(other.states[0].query);
        expect(st.step).toBe(STEPS);
        expect(maxRelDiff(st.queue, ref.queue)).toBeLessThan(TOLERANCE);
        expect(maxRelDiff(st.query, ref.query)).toBeLessThan(TOLERANCE);
        expect(maxRelDiff(st.key, ref.key)).toBeLessThan(TOLERANCE);
        expect(maxRelDiff(st.velocities, ref.velocities)).toBeLessThan(TOLERANCE);
      }
    }
    // The run actually trained: parameters moved and the loss changed.
    expect(one.losses[STEPS - 1][0]).not.toBe(one.losses[0][0]);
  });
});
