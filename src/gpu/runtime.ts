/**
 * What every GPU op needs: the device, the shared recorder, the buffer pool, lazily built passes and
 * tensor allocation. `WebGpuBackend` (the public facade) and the op modules (ops-*.ts) share it.
 */
import { BackendError, shapeSize, type Shape, type Tensor } from '../backend/backend.ts';
import { checkShape } from '../backend/checks.ts';
import { BufferPool, storageUsage } from './buffer-pool.ts';
import type { PassContext } from './compute-pass.ts';
import { FillPass } from './passes/elementwise.ts';
import { MatmulDirectKnPass, MatmulDirectNtPass, MatmulPass, type MatmulArgs, type MatmulKernel } from './passes/dense.ts';
import { BN_STATS_THREADS } from './passes/batchnorm.ts';
import { Recorder } from './recorder.ts';
import { GpuTensor, asGpu } from './tensor.ts';

/** Largest tensor, in elements (1 GiB of float32; also bounded by the device's maxBufferSize). */
export { MAX_TENSOR_ELEMENTS } from '../backend/checks.ts';

export interface RuntimeOptions {
  /** Fill every op output with this bit pattern before the op runs (tests: 0xbaadf00d catches unwritten elements). */
  sentinelBits?: number;
  /** Override maxComputeWorkgroupsPerDimension (tests lower it to exercise split dispatches). */
  maxWorkgroupsPerDim?: number;
  /** Matmul kernel; default: `direct` on fallback (CPU) adapters, `tiled` on GPUs. */
  matmulKernel?: MatmulKernel;
  /** Treat the adapter as CPU-backed (default: its isFallbackAdapter); tests flip it to cover GPU shapes. */
  cpuAdapter?: boolean;
  /**
   * Stage-1 threads the BN column statistics aim for (default BN_STATS_THREADS); tests lower it so
   * small tensors take the long row chunks that only tall tensors take otherwise.
   */
  bnStatsThreads?: number;
}

type PassClass<P> = new (ctx: PassContext) => P;

export class GpuRuntime implements PassContext {
  readonly recorder: Recorder;
  readonly pool: BufferPool;
  readonly readPool: BufferPool;
  readonly maxWorkgroupsPerDim: number;
  private readonly passes = new Map<unknown, unknown>();
  private readonly dummies: GPUBuffer[] = [];
  private readonly live = new Set<GpuTensor>();
  destroyed = false;
  /** Set once the device is lost: later reads reject with it. */
  lostError: BackendError | null = null;

  readonly matmulKernel: MatmulKernel;
  readonly cpuAdapter: boolean;
  readonly bnStatsThreads: number;

  constructor(readonly device: GPUDevice, isFallbackAdapter: boolean, private readonly opts: RuntimeOptions = {}) {
    this.cpuAdapter = opts.cpuAdapter ?? isFallbackAdapter;
    this.matmulKernel = opts.matmulKernel ?? (this.cpuAdapter ? 'direct' : 'tiled');
    this.recorder = new Recorder(device);
    this.pool = new BufferPool(device, storageUsage(), 'Tensor');
    this.readPool = new BufferPool(device, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'ReadStaging');
    this.maxWorkgroupsPerDim = opts.maxWorkgroupsPerDim ?? device.limits.maxComputeWorkgroupsPerDimension;
    this.bnStatsThreads = opts.bnStatsThreads ?? BN_STATS_THREADS;
  }

  /** Tensors allocated and not yet disposed (for leak checks). */
  get liveTensorCount(): number {
    return this.live.size;
  }

  /** The pass of this class, built on first use. */
  pass<P>(cls: PassClass<P>): P {
    let p = this.passes.get(cls) as P | undefined;
    if (!p) this.passes.set(cls, (p = new cls(this)));
    return p;
  }

  /** Records C = alpha · op(A) · op(B) (+ bias) with the best kernel for this adapter and these shapes. */
  runMatmul(transA: boolean, transB: boolean, args: MatmulArgs): void {
    if (this.matmulKernel === 'direct' && MatmulDirectNtPass.fits(args, transA, transB)) {
      let p = this.passes.get(MatmulDirectNtPass) as MatmulDirectNtPass | undefined;
      if (!p) this.passes.set(MatmulDirectNtPass, (p = new MatmulDirectNtPass(this, this.dummy(0))));
      p.run(args);
      return;
    }
    if (this.matmulKernel === 'direct' && MatmulDirectKnPass.fits(args, transB)) {
      const wide = MatmulDirectKnPass.fitsWide(args);
      const key = `matmulKn${transA}${wide}`;
      let p = this.passes.get(key) as MatmulDirectKnPass | undefined;
      if (!p) this.passes.set(key, (p = new MatmulDirectKnPass(this, transA, wide, this.dummy(0))));
      p.run(args);
      return;
    }
    this.matmul(transA, transB).run(args);
  }

  matmul(transA: boolean, transB: boolean): MatmulPass {
    const key = `matmul${this.matmulKernel}${transA}${transB}`;
    let p = this.passes.get(key) as MatmulPass | undefined;
    if (!p) this.passes.set(key, (p = new MatmulPass(this, this.matmulKernel, transA, transB, this.dummy(0))));
    return p;
  }

  /** A small distinct buffer per binding slot for optional inputs/outputs that a kernel ignores. */
  dummy(slot: number): GPUBuffer {
    while (this.dummies.length <= slot) {
      this.dummies.push(this.device.createBuffer({ label: `Dummy[${this.dummies.length}]`, size: 16, usage: storageUsage() }));
    }
    return this.dummies[slot]!;
  }

  assertAlive(op: string): void {
    if (this.destroyed) throw new BackendError('ERR_DISPOSED', `${op}: the webgpu backend was destroyed`);
    if (this.lostError) throw this.lostError;
  }

  /** Input check: a live tensor of this backend. */
  buf(op: string, t: Tensor): GPUBuffer {
    this.assertAlive(op);
    return asGpu(t).buffer;
  }

  /** New tensor whose contents the caller will fully write (sentinel-filled in tests). */
  alloc(op: string, shape: Shape): GpuTensor {
    const t = this.allocRaw(op, shape);
    if (this.opts.sentinelBits !== undefined && t.size > 0) this.pass(FillPass).run(t.buffer, t.size, this.opts.sentinelBits);
    return t;
  }

  /** New tensor without any initialisation (contents are whatever the pooled buffer held). */
  allocRaw(op: string, shape: Shape): GpuTensor {
    this.assertAlive(op);
    const s = checkShape(op, shape);
    const t = new GpuTensor(s, this.pool.acquire(shapeSize(s) * 4));
    this.live.add(t);
    return t;
  }

  /** Scratch buffer for intermediate results; hand it back with `releaseTemp` once its uses are recorded. */
  temp(floats: number): GPUBuffer {
    return this.pool.acquire(Math.max(4, floats * 4));
  }

  releaseTemp(b: GPUBuffer): void {
    this.pool.release(b);
  }

  dispose(t: Tensor): void {
    const g = asGpu(t);
    const b = g.release();
    if (!b) return;
    this.live.delete(g);
    if (!this.destroyed) this.pool.release(b);
    else b.destroy();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const t of this.live) t.release()?.destroy();
    this.live.clear();
    this.recorder.destroy();
    this.pool.destroy();
    this.readPool.destroy();
    for (const d of this.dummies) d.destroy();
  }
}
