/**
 * The step profiler (src/train/step-profile.ts) on an injected clock that only batch draws, gathers and
 * readbacks advance: each phase must receive exactly the time of what happened in it, the phases must
 * add up to the step, and every read() must be counted. Also what a 1-tab step reads back at all.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { localWorld } from '../../src/nn/world.ts';
import { drawWorkerBatch } from '../../src/train/augment.ts';
import { MocoTrainer, type BatchSource } from '../../src/train/moco.ts';
import { STEP_PHASES, StepProfiler } from '../../src/train/step-profile.ts';
import { SMALL_CONFIG, smallTrain } from './harness.ts';

const DRAW_MS = 3;
const GATHER_MS = 10;
const READ_MS = 5;

/** A CPU backend whose reads take READ_MS of `clock` each (advanced before they resolve), and are logged. */
function slowReads(clock: { t: number }): { backend: Backend; reads: Tensor[] } {
  const inner = createCpuBackend();
  const reads: Tensor[] = [];
  const backend = Object.create(inner) as Backend;
  backend.read = async (t: Tensor) => {
    reads.push(t);
    const data = await inner.read(t);
    clock.t += READ_MS;
    return data;
  };
  return { backend, reads };
}

describe('StepProfiler', () => {
  it('gives every phase the time spent in it, readbacks and gathers as phases of their own, adding up to the step', async () => {
    const clock = { t: 0 };
    const workers = 2;
    const inner = localWorld(workers);
    let gathers = 0;
    const world = { ...inner, gatherRows: async (rows: Float32Array, len: number) => ((clock.t += GATHER_MS), gathers++, inner.gatherRows(rows, len)) };
    const draw: BatchSource = (step, worker, n) => ((clock.t += DRAW_MS), drawWorkerBatch(smallTrain(), 1, step, worker, n));
    const { backend, reads } = slowReads(clock);
    const profiler = new StepProfiler(backend, { syncGpu: true, now: () => clock.t });
    const t = new MocoTrainer({ backend: profiler.backend, profiler, config: { ...SMALL_CONFIG, mode: 'shuffle' }, world, train: smallTrain(), now: () => clock.t, drawBatch: draw });
    for (let step = 0; step < 2; step++) {
      reads.length = 0;
      gathers = 0;
      const before = clock.t;
      const log = await t.runStep();
      const p = profiler.end();
      expect(p.readbacks).toBe(reads.length);
      expect(p.readbacks).toBeGreaterThan(0);
      expect(p.phasesMs.input).toBe(DRAW_MS * workers);
      expect(p.phasesMs.communication).toBe(GATHER_MS * gathers);
      expect(p.phasesMs.readbacks).toBe(READ_MS * reads.length);
      for (const phase of STEP_PHASES) if (!['input', 'communication', 'readbacks'].includes(phase)) expect(p.phasesMs[phase], phase).toBe(0);
      expect(p.totalMs).toBe(clock.t - before);
      expect(Object.values(p.phasesMs).reduce((a, b) => a + b, 0)).toBe(p.totalMs);
      expect(log.commMs).toBe(p.phasesMs.communication);
    }
    t.destroy();
  });

  it('changes nothing a step computes', async () => {
    const config = { ...SMALL_CONFIG, mode: 'shuffle' as const };
    const plain = new MocoTrainer({ backend: createCpuBackend(), config, world: localWorld(4), train: smallTrain() });
    const profiler = new StepProfiler(createCpuBackend(), { syncGpu: false });
    const profiled = new MocoTrainer({ backend: profiler.backend, profiler, config, world: localWorld(4), train: smallTrain() });
    for (let step = 0; step < 3; step++) {
      const [a, b] = [await plain.runStep(), await profiled.runStep()];
      expect(b.loss).toBe(a.loss);
      expect(b.pretextAcc).toBe(a.pretextAcc);
    }
    expect(await profiled.state()).toEqual(await plain.state());
    plain.destroy();
    profiled.destroy();
  });
});

describe('a step of a world in one tab', () => {
  it('reads back the loss, the accuracy and the BatchNorm statistics, never the gradients or the keys', async () => {
    const clock = { t: 0 };
    const { backend, reads } = slowReads(clock);
    const t = new MocoTrainer({ backend, config: { ...SMALL_CONFIG, mode: 'local' }, world: localWorld(2), train: smallTrain() });
    const smallestWeight = Math.min(...t.query.parameters().filter((p) => p.value.shape.length === 2).map((p) => p.value.size));
    await t.runStep();
    const keysSize = 2 * SMALL_CONFIG.batchPerWorker * SMALL_CONFIG.outputDim;
    // Scalars (loss, accuracy) and per-channel statistics only: each far below a weight matrix or the keys.
    for (const r of reads) expect(r.size, `read of [${r.shape.join(', ')}]`).toBeLessThan(Math.min(smallestWeight, keysSize));
    expect(reads.filter((r) => r.size === 1)).toHaveLength(2);
    t.destroy();
  });
});
