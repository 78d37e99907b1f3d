/**
 * The step clock: waited-for communication and communication in flight are unions of intervals
 * (nested or concurrent calls count once), so in flight − waited is what travelled behind compute.
 */
import { describe, expect, it } from 'vitest';
import { CommTimer } from '../../src/train/comm.ts';

describe('CommTimer', () => {
  it('counts a background collective as in flight only, a waited one as both, overlaps once', async () => {
    let now = 0;
    const timer = new CommTimer(() => now);
    timer.startStep();
    let finishBucket!: () => void;
    // t = 10: a bucket leaves; compute runs on until t = 50.
    now = 10;
    const bucket = timer.background(() => new Promise<void>((r) => (finishBucket = r)));
    now = 50;
    expect(timer.computeMs()).toBe(50);
    // t = 50..80: the step waits for the bucket (which ends at 70) inside a waited call, with a nested gather.
    const wait = timer.time(async () => {
      await timer.time(async () => {
        now = 60;
      });
      now = 70;
      finishBucket();
      await bucket;
      now = 80;
    });
    await wait;
    now = 100;
    // Waited: 50..80 = 30 (the nested call inside it counts once). In flight: 10..80 = 70.
    expect(timer.ms).toBe(30);
    expect(timer.inFlightMs).toBe(70);
    expect(timer.computeMs()).toBe(70);
    expect(timer.active).toBe(0);
    timer.startStep();
    expect([timer.ms, timer.inFlightMs]).toEqual([0, 0]);
  });
});
