/**
 * Page module for tests/train/trajectory.browser.test.ts: one tab of a room that trains the
 * trajectory oracle's settings (MoCo, and the encoder through its BN exchange) on WebGPU over the real mesh (signaling server, WebRTC data channels),
 * with 2 of the world's 4 workers in this tab. Returns plain JSON for page.evaluate.
 */
import type { WebGpuBackend } from '../../src/gpu/webgpu-backend.ts';
import { Mesh } from '../../src/mesh/mesh.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import { processGroupWorld } from '../../src/nn/world.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import { ENCODER_SETTINGS, encoderInputsFingerprint, runEncoderTrajectory } from './encoder-trajectory.ts';
import { TRAJECTORY_SETTINGS, TRAJECTORY_WORKERS, inputsFingerprint, runTrajectory, settingConfig, trajectoryBatches, type TrajectoryRun } from './trajectory-setup.ts';

/** How long a tab waits for the rest of the room. */
const ROOM_WAIT_MS = 60_000;

let mesh: Mesh | null = null;
let gpu: WebGpuBackend | null = null;
const gpuErrors: string[] = [];

/** Creates (no roomId) or joins a room; ICE: host candidates only. */
export async function join(roomId?: string): Promise<{ roomId: string; peerId: string }> {
  mesh = await Mesh.join({ room: roomId ? { roomId } : { create: true }, iceServers: [], meta: { name: 'trajectory tab' } });
  return { roomId: mesh.roomId, peerId: mesh.selfId };
}

async function backend(): Promise<WebGpuBackend> {
  if (!gpu) {
    const { WebGpuBackend } = await import('../../src/gpu/webgpu-backend.ts');
    gpu = await WebGpuBackend.create();
    gpu.onError((err) => gpuErrors.push(`${err.code}: ${err.message}`));
  }
  return gpu;
}

export interface TabResult {
  rank: number;
  firstWorker: number;
  backend: string;
  fallbackAdapter: boolean;
  inputsSha256: string;
  run: TrajectoryRun;
  gpuErrors: string[];
}

/**
 * Every setting counts its steps from 0, but on one group a step must never go back: a frame stamped
 * with a step below the receiver's is a late frame of a finished step and is dropped (group-core.ts).
 * When one tab started the next setting's step 0 while the other was still at the last one's step 19,
 * its first statistics were dropped and the pair stalled. So each setting's steps follow the previous
 * setting's on the group.
 */
let stepBase = 0;
const STEPS_PER_SETTING = 1000;

function stepsAfterEarlierSettings(group: ProcessGroup): ProcessGroup {
  const base = stepBase;
  stepBase += STEPS_PER_SETTING;
  return new Proxy(group, {
    get(target, prop) {
      if (prop === 'setStep') return (step: number) => target.setStep(base + step);
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Trains one setting for the recorded steps with `workers` workers in this tab (every tab calls it together). */
export async function runSetting(name: string, tabs: number, workers: number): Promise<TabResult> {
  if (!mesh) throw new Error('join() first');
  const setting = TRAJECTORY_SETTINGS.find((s) => s.name === name);
  if (!setting) throw new Error(`no trajectory setting ${name}`);
  const group = stepsAfterEarlierSettings(await mesh.waitForSize(tabs, ROOM_WAIT_MS));
  const gpuBackend = await backend();
  const world = await processGroupWorld(group, workers);
  const source = trajectoryBatches();
  const trainer = new MocoTrainer({
    backend: gpuBackend,
    config: settingConfig(setting, workers),
    world,
    group,
    train: { images: new Float32Array(0), labels: new Int32Array(0), count: 0 },
    drawBatch: source,
  });
  try {
    const inputsSha256 = await inputsFingerprint(trainer, source);
    const run = await runTrajectory(trainer);
    // The next setting's collectives must not meet this one's late frames.
    await group.barrier();
    return tabResult(group.rank, world.firstWorker, gpuBackend, inputsSha256, run);
  } finally {
    trainer.destroy();
  }
}

/** Trains the encoder through its BN exchange (encoder-trajectory.ts), `workers` workers in this tab. */
export async function runEncoderSetting(name: string, tabs: number, workers: number): Promise<TabResult> {
  if (!mesh) throw new Error('join() first');
  const setting = ENCODER_SETTINGS.find((s) => s.name === name);
  if (!setting) throw new Error(`no encoder trajectory setting ${name}`);
  const group = stepsAfterEarlierSettings(await mesh.waitForSize(tabs, ROOM_WAIT_MS));
  const gpuBackend = await backend();
  const world = await processGroupWorld(group, workers);
  const source = trajectoryBatches();
  const inputsSha256 = await encoderInputsFingerprint(gpuBackend, source, TRAJECTORY_WORKERS);
  const run = await runEncoderTrajectory(gpuBackend, world, group, setting, source);
  await group.barrier();
  return tabResult(group.rank, world.firstWorker, gpuBackend, inputsSha256, run);
}

/** What a tab reports of one setting: where it ran, on what, with which inputs, and the trajectory. */
function tabResult(rank: number, firstWorker: number, gpuBackend: Awaited<ReturnType<typeof backend>>, inputsSha256: string, run: TabResult['run']): TabResult {
  return {
    rank,
    firstWorker,
    backend: `${gpuBackend.kind}: ${gpuBackend.label}`,
    fallbackAdapter: gpuBackend.isFallbackAdapter,
    inputsSha256,
    run,
    gpuErrors: [...gpuErrors],
  };
}

/** Leaves the room and frees the GPU device. */
export function leave(): void {
  mesh?.destroy();
  gpu?.destroy();
  mesh = null;
  gpu = null;
}
