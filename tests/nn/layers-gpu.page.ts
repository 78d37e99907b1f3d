/**
 * Page module for tests/nn/layers-gpu.browser.test.ts: the same model code on the WebGPU backend and
 * on the CPU backend (the reference), for every BatchNorm mode, over a world of 4 virtual workers.
 * Returns plain JSON: worst relative differences, GPU errors, leaked GPU tensors, step timings.
 */
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { WebGpuBackend } from '../../src/gpu/webgpu-backend.ts';
import { buildEncoder } from '../../src/nn/encoder.ts';
import type { ForwardContext } from '../../src/nn/layers/types.ts';
import { SGD } from '../../src/nn/optim.ts';
import { stepPermutation } from '../../src/nn/permutation.ts';
import { syncRunningStats } from '../../src/nn/batchnorm/running-stats.ts';
import { flattenTensors } from '../../src/nn/serialize.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createRng } from '../../src/util/rng.ts';
import { checkBnTraces } from '../../src/nn/batchnorm/check-trace.ts';
import type { BnLayerTrace } from '../../src/nn/batchnorm/types.ts';

type Mode = 'local' | 'shuffle' | 'sync';

interface Spec {
  inputDim: number;
  hiddenDims: number[];
  outputDim: number;
  workers: number;
  perWorker: number;
}

interface StepRecord {
  y: Float32Array;
  dx: Float32Array;
  params: Float32Array;
  running: Float32Array;
  trace: BnLayerTrace[];
}

let gpu: WebGpuBackend | null = null;
const gpuErrors: string[] = [];

async function gpuBackend(): Promise<WebGpuBackend> {
  if (!gpu) {
    gpu = await WebGpuBackend.create();
    gpu.onError((err) => gpuErrors.push(`${err.code}: ${err.message}`));
  }
  return gpu;
}

/** Runs `steps` SGD steps of the encoder in `mode`; records the last step's tensors. */
async function train(backend: Backend, mode: Mode, spec: Spec, steps: number): Promise<{ record: StepRecord }> {
  const world = localWorld(spec.workers);
  const model = buildEncoder(backend, { ...spec, bnMode: mode }, createRng(5));
  const sgd = new SGD(backend, model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const rows = spec.workers * spec.perWorker;
  let record: StepRecord | null = null;
  for (let step = 0; step < steps; step++) {
    const rng = createRng(9, step);
    const trace: BnLayerTrace[] = [];
    const ctx: ForwardContext = { backend, training: true, world, sourceOf: mode === 'shuffle' ? stepPermutation(2, step, spec.workers, 'random') : null, trace };
    const x = backend.fromArray(Float32Array.from({ length: rows * spec.inputDim }, () => rng.normal()), [rows, spec.inputDim]);
    const r = backend.fromArray(Float32Array.from({ length: rows * spec.outputDim }, () => rng.normal()), [rows, spec.outputDim]);
    const y = await model.forward(x, ctx);
    const dx = await model.backward(r, ctx);
    if (step === steps - 1) record = { y: await backend.read(y), dx: await backend.read(dx), params: new Float32Array(), running: new Float32Array(), trace };
    sgd.step();
    sgd.zeroGrad();
    await syncRunningStats(model, ctx);
    for (const t of [x, r, y, dx]) backend.dispose(t);
  }
  await backend.flush();
  const values = (ts: Tensor[]) => flattenTensors(backend, ts);
  record!.params = await values(model.parameters().map((p) => p.value));
  record!.running = await values(model.buffers().map((p) => p.value));
  model.dispose();
  sgd.destroy();
  return { record: record! };
}

/** max |a − b| / max |b|: float32 GPU sums against float64-accumulating CPU sums. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
    if (!Number.isFinite(a[i]!)) return Infinity;
  }
  return worst / (scale || 1);
}

export interface ModeComparison {
  mode: Mode;
  y: number;
  dx: number;
  params: number;
  running: number;
  /**
   * The last step's GPU trace (statistics read back from the buffers bound to the apply kernel, output
   * means from its output): checkBnTraces' findings (empty = the relation and the routing hold).
   */
  traceProblems: string[];
  traceLayers: number;
  /** GPU trace vs the CPU backend's trace (independent kernels), worst relative difference. */
  traceVsCpu: number;
  gpuErrors: string[];
  leakedGpuTensors: number;
}

/** The small model trained 3 steps on both backends in `mode`. */
export async function compareMode(mode: Mode): Promise<ModeComparison> {
  const backend = await gpuBackend();
  const spec: Spec = { inputDim: 12, hiddenDims: [16], outputDim: 8, workers: 4, perWorker: 4 };
  const baseline = backend.runtime.liveTensorCount;
  const errorsBefore = gpuErrors.length;
  const onGpu = (await train(backend, mode, spec, 3)).record;
  const onCpu = (await train(createCpuBackend(), mode, spec, 3)).record;
  const traceValues = (trace: BnLayerTrace[]) => trace.flatMap((t) => [t.meanBefore, t.varBefore, t.meanAfter, t.varAfter, t.meanOut].flat(2));
  return {
    mode,
    y: relDiff(onGpu.y, onCpu.y),
    dx: relDiff(onGpu.dx, onCpu.dx),
    params: relDiff(onGpu.params, onCpu.params),
    running: relDiff(onGpu.running, onCpu.running),
    traceProblems: checkBnTraces(onGpu.trace).problems,
    traceLayers: onGpu.trace.length,
    traceVsCpu: relDiff(traceValues(onGpu.trace), traceValues(onCpu.trace)),
    gpuErrors: gpuErrors.slice(errorsBefore),
    leakedGpuTensors: backend.runtime.liveTensorCount - baseline,
  };
}

export function destroy(): void {
  gpu?.destroy();
  gpu = null;
}
