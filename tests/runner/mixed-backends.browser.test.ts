/**
 * A browser without WebGPU joins with the CPU backend, trains in the same room as a WebGPU tab, and the
 * run's numbers agree with an independent CPU run of the same (seed, world, config) in Node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadlessRoom } from '../../scripts/lib/headless-run.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/train/types.ts';

const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  mode: 'shuffle',
  steps: 6,
  batchPerWorker: 4,
  workersPerTab: 2,
  queueSize: 64,
  hiddenDims: [32],
  outputDim: 16,
  knnEvery: 0,
};

describe('a tab without WebGPU', () => {
  let room: HeadlessRoom;
  beforeAll(async () => {
    room = await HeadlessRoom.open();
  });
  afterAll(async () => {
    await room?.close();
  });

  it('trains on the CPU backend beside a WebGPU tab, with the numbers of a CPU reference run', async () => {
    const gpuTab = await room.addTab();
    const cpuTab = await room.addTab({ disableWebGpu: true });
    const opts = { config, tabs: 2, backend: 'auto' as const, traceEvery: 0, traceChannels: 1 };
    const [gpu, cpu] = await Promise.all([gpuTab.run(opts), cpuTab.run(opts)]);
    expect(gpu.backend).toMatch(/^webgpu/);
    expect(cpu.backend).toMatch(/^cpu/);
    expect(cpuTab.errors.some((e) => e.code === 'ERR_NO_WEBGPU')).toBe(true);
    const roomLosses = gpuTab.steps.map((s) => s.loss);
    expect(cpuTab.steps.map((s) => s.loss)).toEqual(roomLosses);

    // Reference: the same world of 4 workers in one Node process on the CPU backend.
    const backend = createCpuBackend();
    const data = createDataset({ seed: config.seed });
    const trainer = new MocoTrainer({ backend, config: { ...config, workersPerTab: 4 }, world: localWorld(4), train: data.train });
    const reference: number[] = [];
    for (let i = 0; i < config.steps; i++) reference.push((await trainer.runStep()).loss);
    trainer.destroy();
    expect(roomLosses).toHaveLength(config.steps);
    roomLosses.forEach((loss, i) => expect(Math.abs(loss - reference[i]!)).toBeLessThan(2e-3 * Math.abs(reference[i]!)));
  });
});
