/**
 * A room of unequal devices over real tabs (headless Chromium, WebRTC, the real backends): one tab on
 * WebGPU, one on WebGPU with its CPU throttled 10× through CDP, one forced onto the CPU backend. They
 * train 30 steps in shuffle mode and must end as one run: the same steps, the same losses, nobody
 * dropped, and the losses of a single-process CPU run of the same world of workers.
 *
 * CDP throttles the page's main thread only (Chromium refuses Emulation.setCPUThrottlingRate on a
 * worker target, and a dedicated worker of a throttled page runs at full speed), so this slows
 * training only because faulty-tab.page.ts runs the TrainingSession on the page's main thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadlessRoom } from '../../scripts/lib/headless-run.ts';
import { FAULT_CONFIG, openFaultRoom, type FaultTab } from '../../scripts/lib/fault-room.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import type { TrainConfig } from '../../src/train/types.ts';

/** How much slower the throttled tab's main thread runs (CDP's rate: 10 = ten times slower). */
const THROTTLE_RATE = 10;
/** 3 tabs × 2 workers × 4 samples, hidden width 32: the protocol is the one of any size. */
const config: TrainConfig = { ...FAULT_CONFIG, mode: 'shuffle', steps: 30 };
/**
 * Relative loss difference allowed against the CPU reference: two tabs compute in float32 on the
 * GPU, the reference accumulates in float64, and 30 steps of SGD carry the rounding forward
 * (measured: 6.5e-5 at worst).
 */
const REFERENCE_REL_TOL = 5e-4;

describe('a heterogeneous room', () => {
  let room: HeadlessRoom;
  beforeAll(async () => {
    room = await HeadlessRoom.open();
  });
  afterAll(async () => {
    await room?.close();
  });

  it('WebGPU, WebGPU throttled 10× and the CPU backend train 30 shuffle steps as one run', async () => {
    const tabs = await openFaultRoom(room.server, room.browser, 3);
    const [gpu, throttled, cpu] = tabs as [FaultTab, FaultTab, FaultTab];
    const cdp = await throttled.page.context().newCDPSession(throttled.page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: THROTTLE_RATE });
    const started = Date.now();
    const results = await Promise.all(tabs.map((t) => t.run({ config, tabs: 3, backend: t === cpu ? 'cpu' : 'webgpu' })));
    const trainedInMs = Date.now() - started;
    // What the tabs saw while training (closing one afterwards is a departure for the others).
    const errors = tabs.map((t) => t.errors.map((e) => `${e.code}: ${e.message}`));
    for (const t of tabs) await t.page.context().close().catch(() => {});

    expect(results.map((r) => r.backend)).toEqual(['webgpu', 'webgpu', 'cpu']);
    expect(errors).toEqual([[], [], []]);
    const allSteps = [...Array(config.steps).keys()];
    for (const [i, t] of tabs.entries()) {
      // One world from start to end (nobody dropped, no re-form), every step once.
      expect(t.worlds.map((w) => [w.tabs, w.rank, w.step])).toEqual([[3, i, 0]]);
      expect(t.steps.map((s) => s.step)).toEqual(allSteps);
      expect(results[i]!.state).toBe('done');
      expect(results[i]!.modelFinite).toBe(true);
    }
    const losses = gpu.steps.map((s) => s.loss);
    expect(throttled.steps.map((s) => s.loss)).toEqual(losses);
    expect(cpu.steps.map((s) => s.loss)).toEqual(losses);

    // The throttle took: the slowed tab's compute, as the room measured it for its pace, is the longest.
    const medianCompute = (rank: number) => median(gpu.steps.map((s) => s.tabComputeMs![rank]!));
    const [gpuMs, throttledMs, cpuMs] = [0, 1, 2].map(medianCompute) as [number, number, number];
    console.log(
      `heterogeneous room: 30 steps in ${(trainedInMs / 1000).toFixed(1)} s; median compute per step ` +
        `WebGPU ${gpuMs.toFixed(0)} ms, WebGPU throttled ${throttledMs.toFixed(0)} ms (${(throttledMs / gpuMs).toFixed(1)}×), CPU ${cpuMs.toFixed(0)} ms`,
    );
    expect(throttledMs).toBeGreaterThan(2 * gpuMs);
    expect(gpu.paces.some((p) => p.slowest?.peerId === throttled.selfId)).toBe(true);

    // The same world of 6 workers in one Node process on the CPU backend.
    const backend = createCpuBackend();
    const trainer = new MocoTrainer({ backend, config: { ...config, workersPerTab: 6 }, world: localWorld(6), train: createDataset({ seed: config.seed }).train });
    const reference: number[] = [];
    for (let i = 0; i < config.steps; i++) reference.push((await trainer.runStep()).loss);
    trainer.destroy();
    const worst = Math.max(...losses.map((loss, i) => Math.abs(loss - reference[i]!) / Math.abs(reference[i]!)));
    console.log(`heterogeneous room: largest relative loss difference to the CPU reference ${worst.toExponential(1)}`);
    expect(worst).toBeLessThan(REFERENCE_REL_TOL);
  }, 180_000);
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
