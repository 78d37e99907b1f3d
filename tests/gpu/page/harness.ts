/**
 * Runs kernel cases in the page: each case feeds the same inputs to the WebGPU backend (outputs
 * sentinel-filled) and to the CPU backend (the reference), inside GPU error scopes, and reports
 * comparisons, GPU errors, exceptions and leaked tensors.
 */
import type { Backend, Shape, Tensor } from '../../../src/backend/backend.ts';
import { createCpuBackend } from '../../../src/backend/cpu/index.ts';
import { WebGpuBackend } from '../../../src/gpu/webgpu-backend.ts';
import { compare, SENTINEL_BITS, type Comparison, type Tolerance } from './compare.ts';

export interface CaseResult {
  name: string;
  ok: boolean;
  comparisons: Comparison[];
  /** Messages of validation / internal / out-of-memory errors captured during the case. */
  gpuErrors: string[];
  thrown: string | null;
  /** GPU tensors still alive after the case disposed everything it made. */
  leaked: number;
}

export type CaseFn = (h: KernelHarness) => Promise<void>;

export const DEFAULT_TOL: Tolerance = { rtol: 1e-4, atolFrac: 1e-5 };

export class KernelHarness {
  readonly cpu: Backend = createCpuBackend();
  private owned: { backend: Backend; t: Tensor }[] = [];
  private comparisons: Comparison[] = [];

  private constructor(readonly gpu: WebGpuBackend) {}

  /** A WebGPU backend whose op outputs start as 0xbaadf00d; `maxWorkgroupsPerDim` forces split dispatches, `bnStatsThreads` long statistics chunks. */
  static async create(opts: { maxWorkgroupsPerDim?: number; cpuAdapter?: boolean; bnStatsThreads?: number } = {}): Promise<KernelHarness> {
    return new KernelHarness(await WebGpuBackend.create({ sentinelBits: SENTINEL_BITS, ...opts }));
  }

  /** The same data as a GPU tensor and a CPU tensor, disposed at the end of the case. */
  pair(data: Float32Array, shape: Shape): { g: Tensor; c: Tensor } {
    return { g: this.own(this.gpu, this.gpu.fromArray(data, shape)), c: this.own(this.cpu, this.cpu.fromArray(data, shape)) };
  }

  /** Registers an op output for disposal at the end of the case. */
  own<T extends Tensor | null>(backend: Backend, t: T): T {
    if (t) this.owned.push({ backend, t });
    return t;
  }

  /** Reads both tensors and records the comparison. */
  async check(what: string, g: Tensor | null, c: Tensor | null, tol: Tolerance = DEFAULT_TOL): Promise<Comparison> {
    if (!g || !c) {
      const r: Comparison = { what: `${what}: ${g ? 'cpu' : 'gpu'} result missing`, ok: g === c, worstRatio: 0, worstIndex: -1, got: NaN, want: NaN, unwritten: 0, lengthMismatch: false };
      this.comparisons.push(r);
      return r;
    }
    this.own(this.gpu, g);
    this.own(this.cpu, c);
    const r = compare(what, await this.gpu.read(g), await this.cpu.read(c), tol);
    this.comparisons.push(r);
    return r;
  }

  /** Records a plain assertion (e.g. an expected error code). */
  expect(what: string, ok: boolean, detail = ''): void {
    this.comparisons.push({ what: detail ? `${what}: ${detail}` : what, ok, worstRatio: ok ? 0 : Infinity, worstIndex: -1, got: NaN, want: NaN, unwritten: 0, lengthMismatch: false });
  }

  async run(name: string, fn: CaseFn): Promise<CaseResult> {
    const device = this.gpu.device;
    const baseline = this.gpu.runtime.liveTensorCount;
    this.comparisons = [];
    device.pushErrorScope('validation');
    device.pushErrorScope('internal');
    device.pushErrorScope('out-of-memory');
    let thrown: string | null = null;
    try {
      await fn(this);
      await this.gpu.flush();
    } catch (err) {
      thrown = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
    }
    const gpuErrors: string[] = [];
    for (let i = 0; i < 3; i++) {
      const e = await device.popErrorScope();
      if (e) gpuErrors.push(e.message);
    }
    for (const { backend, t } of this.owned) backend.dispose(t);
    this.owned = [];
    const leaked = this.gpu.runtime.liveTensorCount - baseline;
    const comparisons = this.comparisons;
    const ok = thrown === null && gpuErrors.length === 0 && leaked === 0 && comparisons.length > 0 && comparisons.every((c) => c.ok);
    return { name, ok, comparisons, gpuErrors, thrown, leaked };
  }

  destroy(): void {
    this.gpu.destroy();
    this.cpu.destroy();
  }
}

/** Runs cases in order and returns their results. */
export async function runAll(h: KernelHarness, cases: readonly (readonly [string, CaseFn])[]): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const [name, fn] of cases) out.push(await h.run(name, fn));
  return out;
}
