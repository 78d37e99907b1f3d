/**
 * The anchor workload's 1-tab step, phase by phase (src/train/step-profile.ts), on any backend: in a
 * page for bench:train (WebGPU, wasm). Returns the median of each phase
 * over the timed steps. Inputs are synthetic (as the PyTorch anchor's torch.randn): values do not
 * change the work.
 */
import type { Backend } from '../../src/backend/backend.ts';
import { localWorld } from '../../src/nn/world.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import { STEP_PHASES, StepProfiler, type StepPhase, type StepProfile } from '../../src/train/step-profile.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/train/types.ts';

export const ANCHOR_BATCH = 64;
export const ANCHOR_INPUT = 256;

/** PyTorch anchor's workload at one worker: 256 → 512 → 512 → 128, batch 64, queue 4096, local BN. */
export function anchorConfig(steps: number): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    mode: 'local',
    steps,
    batchPerWorker: ANCHOR_BATCH,
    workersPerTab: 1,
    queueSize: 4096,
    temperature: 0.2,
    lr: 0.03,
    inputDim: ANCHOR_INPUT,
    hiddenDims: [512, 512],
    outputDim: 128,
    knnEvery: 0,
  };
}

/** Gaussian-ish inputs from a fixed LCG. */
export function syntheticBatches(): (step: number, worker: number, n: number) => { query: Float32Array; key: Float32Array } {
  let s = 12345;
  const next = (): number => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 3.4;
  return (_step, _worker, n) => ({ query: Float32Array.from({ length: n * ANCHOR_INPUT }, next), key: Float32Array.from({ length: n * ANCHOR_INPUT }, next) });
}

export interface PhaseSummary {
  /** Median milliseconds per phase over the timed steps. */
  phasesMs: Record<StepPhase, number>;
  /** Median profiled step, ms (includes the per-phase waits for the device on WebGPU). */
  profiledStepMs: number;
  /** Median unprofiled step, ms (the same trainer, no marks). */
  plainStepMs: number;
  readbacks: number;
  readbackWaits: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Runs `warmup + steps` profiled steps, then `steps` plain ones of a second trainer, on `backend`.
 * `syncGpu` for WebGPU (see StepProfiler).
 */
export async function measurePhases(backend: Backend, opts: { steps: number; warmup: number; syncGpu: boolean }): Promise<PhaseSummary> {
  const total = opts.steps + opts.warmup;
  const profiler = new StepProfiler(backend, { syncGpu: opts.syncGpu });
  const common = { config: anchorConfig(total), world: localWorld(1), train: { images: new Float32Array(0), labels: new Int32Array(0), count: 0 } };
  const profiles: StepProfile[] = [];
  const profiled = new MocoTrainer({ ...common, backend: profiler.backend, profiler, drawBatch: syntheticBatches() });
  try {
    for (let i = 0; i < total; i++) {
      await profiled.runStep();
      if (i >= opts.warmup) profiles.push(profiler.end());
    }
  } finally {
    profiled.destroy();
  }
  const plain: number[] = [];
  const trainer = new MocoTrainer({ ...common, backend, drawBatch: syntheticBatches() });
  try {
    for (let i = 0; i < total; i++) {
      const t0 = performance.now();
      await trainer.runStep();
      await backend.flush();
      if (i >= opts.warmup) plain.push(performance.now() - t0);
    }
  } finally {
    trainer.destroy();
  }
  const phasesMs = Object.fromEntries(STEP_PHASES.map((p) => [p, median(profiles.map((x) => x.phasesMs[p]))])) as Record<StepPhase, number>;
  return {
    phasesMs,
    profiledStepMs: median(profiles.map((x) => x.totalMs)),
    plainStepMs: median(plain),
    readbacks: median(profiles.map((x) => x.readbacks)),
    readbackWaits: median(profiles.map((x) => x.readbackWaits)),
  };
}

/** Markdown table: one column per measured backend. */
export function phaseTable(columns: { name: string; summary: PhaseSummary }[]): string {
  const head = `| phase | ${columns.map((c) => `${c.name} ms (share)`).join(' | ')} |`;
  const rule = `|---|${columns.map(() => '---|').join('')}`;
  const cell = (c: PhaseSummary, ms: number): string => `${ms.toFixed(2)} (${((100 * ms) / c.profiledStepMs).toFixed(0)}%)`;
  const rows = STEP_PHASES.map((p) => `| ${p} | ${columns.map((c) => cell(c.summary, c.summary.phasesMs[p])).join(' | ')} |`);
  const extra = [
    `| profiled step (sum of medians: ${columns.map((c) => Object.values(c.summary.phasesMs).reduce((a, b) => a + b, 0).toFixed(1)).join(', ')}) | ${columns.map((c) => c.summary.profiledStepMs.toFixed(1)).join(' | ')} |`,
    `| step without profiling | ${columns.map((c) => c.summary.plainStepMs.toFixed(1)).join(' | ')} |`,
    `| GPU→CPU readbacks per step (waits) | ${columns.map((c) => `${c.summary.readbacks} (${c.summary.readbackWaits})`).join(' | ')} |`,
  ];
  return [head, rule, ...rows, ...extra].join('\n');
}
