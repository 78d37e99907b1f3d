/**
 * `WebGpuBackend`: the `Backend` interface on WebGPU. Every op validates its arguments like the CPU
 * backend, then records WGSL passes into the shared command encoder (see recorder.ts); nothing waits
 * for the GPU except `read` and `flush`. Tensors live in pooled storage buffers (buffer-pool.ts).
 */
import {
  BackendError,
  type Backend, type BnBackwardResult, type BnBorrowedBackwardResult, type BnLayout, type BnPartial, type BnStats,
  type InfoNceResult, type LinearBackwardResult, type SgdOptions, type Shape, type Tensor,
} from '../backend/backend.ts';
import { assertSameShape, checkClone, checkConcatRows, checkEnqueue, checkFill, checkShape, checkSliceRows, checkWrite } from '../backend/checks.ts';
import { requestGpuDevice, watchDevice, type GpuDevice, type GpuErrorListener, type RequestGpuOptions } from './device.ts';
import * as bn from './ops-bn.ts';
import * as dense from './ops-dense.ts';
import { AddPass, AddScaledPass, EmaPass, ReluBackwardPass, ReluPass, ScalePass, SgdPass } from './passes/elementwise.ts';
import { GpuRuntime, type RuntimeOptions } from './runtime.ts';
import { asGpu, type GpuTensor } from './tensor.ts';

export type WebGpuBackendOptions = RuntimeOptions & RequestGpuOptions;

export class WebGpuBackend implements Backend {
  readonly kind = 'webgpu' as const;
  readonly label: string;
  readonly isFallbackAdapter: boolean;
  readonly device: GPUDevice;
  /** Internals for tests and benchmarks (pool statistics, submit counts). */
  readonly runtime: GpuRuntime;
  /** The most recent device loss or uncaptured GPU error, if any. */
  lastError: BackendError | null = null;
  private readonly listeners = new Set<GpuErrorListener>();
  private readonly unwatch: () => void;

  /** Acquires an adapter and device; rejects with ERR_NO_WEBGPU when WebGPU is unusable. */
  static async create(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    return new WebGpuBackend(await requestGpuDevice(opts), opts);
  }

  constructor(gpu: GpuDevice, opts: RuntimeOptions = {}) {
    this.device = gpu.device;
    this.label = gpu.label;
    this.isFallbackAdapter = gpu.isFallbackAdapter;
    this.runtime = new GpuRuntime(gpu.device, gpu.isFallbackAdapter, opts);
    this.unwatch = watchDevice(gpu.device, (err) => this.report(err), () => this.runtime.destroyed);
  }

  /** Subscribes to GPU failures (ERR_DEVICE_LOST, ERR_GPU_VALIDATION); returns an unsubscribe function. */
  onError(listener: GpuErrorListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- memory ----
  fromArray(data: Float32Array | readonly number[], shape: Shape): Tensor {
    const s = checkShape('fromArray', shape);
    checkFill('fromArray', data.length, s);
    const t = this.runtime.allocRaw('fromArray', s);
    this.upload(t, data instanceof Float32Array ? data : Float32Array.from(data));
    return t;
  }

  zeros(shape: Shape): Tensor {
    const t = this.runtime.allocRaw('zeros', shape);
    if (t.size > 0) this.runtime.recorder.copyEncoder().clearBuffer(t.buffer, 0, t.byteLength);
    return t;
  }

  async read(t: Tensor): Promise<Float32Array> {
    const src = this.runtime.buf('read', t);
    const bytes = asGpu(t).byteLength;
    if (bytes === 0) return new Float32Array(0);
    const rt = this.runtime;
    const staging = rt.readPool.acquire(bytes);
    rt.recorder.copyEncoder().copyBufferToBuffer(src, 0, staging, 0, bytes);
    rt.recorder.submit();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, bytes);
    } catch (err) {
      throw this.lostError() ?? new BackendError('ERR_DEVICE_LOST', `read failed: ${String(err)}`);
    }
    const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    if (!rt.destroyed) rt.readPool.release(staging);
    else staging.destroy();
    return out;
  }

  write(t: Tensor, data: Float32Array): void {
    this.runtime.buf('write', t);
    checkWrite(t, data.length);
    this.upload(asGpu(t), data);
  }

  clone(t: Tensor, shape?: Shape): Tensor {
    const src = this.runtime.buf('clone', t);
    const s = checkClone(t, shape);
    const out = this.runtime.allocRaw('clone', s);
    if (out.size > 0) this.runtime.recorder.copyEncoder().copyBufferToBuffer(src, 0, out.buffer, 0, out.byteLength);
    return out;
  }

  sliceRows(t: Tensor, start: number, count: number): Tensor {
    const src = this.runtime.buf('sliceRows', t);
    const rowSize = checkSliceRows(t, start, count);
    const out = this.runtime.allocRaw('sliceRows', [count, ...t.shape.slice(1)]);
    if (out.size > 0) this.runtime.recorder.copyEncoder().copyBufferToBuffer(src, start * rowSize * 4, out.buffer, 0, out.byteLength);
    return out;
  }

  concatRows(ts: readonly Tensor[]): Tensor {
    for (const t of ts) this.runtime.buf('concatRows', t);
    const out = this.runtime.allocRaw('concatRows', checkConcatRows(ts));
    let offset = 0;
    for (const t of ts) {
      const g = asGpu(t);
      if (g.size > 0) this.runtime.recorder.copyEncoder().copyBufferToBuffer(g.buffer, 0, out.buffer, offset, g.byteLength);
      offset += g.byteLength;
    }
    return out;
  }

  dispose(t: Tensor): void {
    this.runtime.dispose(t);
  }

  async flush(): Promise<void> {
    this.runtime.assertAlive('flush');
    this.runtime.recorder.submit();
    await this.device.queue.onSubmittedWorkDone();
    const lost = this.lostError();
    if (lost) throw lost;
  }

  destroy(): void {
    if (this.runtime.destroyed) return;
    this.unwatch();
    this.listeners.clear();
    this.runtime.destroy();
    this.device.destroy();
  }

  // ---- elementwise ----
  add(a: Tensor, b: Tensor): Tensor {
    const [ab, bb] = [this.runtime.buf('add', a), this.runtime.buf('add', b)];
    assertSameShape('add', a, b);
    const out = this.runtime.alloc('add', a.shape);
    this.runtime.pass(AddPass).run(ab, bb, out.buffer, out.size);
    return out;
  }

  addScaledInPlace(a: Tensor, b: Tensor, alpha: number): void {
    const [ab, bb] = [this.runtime.buf('addScaledInPlace', a), this.runtime.buf('addScaledInPlace', b)];
    assertSameShape('addScaledInPlace', a, b);
    if (ab === bb) {
      // One buffer cannot be bound writable and read-only in one dispatch: read b from a copy.
      const copy = this.clone(b);
      this.runtime.pass(AddScaledPass).run(ab, asGpu(copy).buffer, a.size, alpha);
      this.runtime.dispose(copy);
      return;
    }
    this.runtime.pass(AddScaledPass).run(ab, bb, a.size, alpha);
  }

  scale(a: Tensor, s: number): Tensor {
    const ab = this.runtime.buf('scale', a);
    const out = this.runtime.alloc('scale', a.shape);
    this.runtime.pass(ScalePass).run(ab, out.buffer, out.size, s);
    return out;
  }

  relu(x: Tensor): Tensor {
    const xb = this.runtime.buf('relu', x);
    const out = this.runtime.alloc('relu', x.shape);
    this.runtime.pass(ReluPass).run(xb, out.buffer, out.size);
    return out;
  }

  reluBackward(dy: Tensor, y: Tensor): Tensor {
    const [dyb, yb] = [this.runtime.buf('reluBackward', dy), this.runtime.buf('reluBackward', y)];
    assertSameShape('reluBackward', dy, y, ['dy', 'y']);
    const out = this.runtime.alloc('reluBackward', dy.shape);
    this.runtime.pass(ReluBackwardPass).run(dyb, yb, out.buffer, out.size);
    return out;
  }

  // ---- BatchNorm ----
  bnPartial(x: Tensor, layout: BnLayout): BnPartial {
    return bn.bnPartial(this.runtime, x, layout);
  }
  bnStats(x: Tensor, layout: BnLayout): BnStats {
    return bn.bnStats(this.runtime, x, layout);
  }
  bnApply(x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, beta: Tensor | null, eps: number): Tensor {
    return bn.bnApply(this.runtime, x, layout, mean, variance, gamma, beta, eps);
  }
  bnBackward(dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, eps: number): BnBackwardResult {
    return bn.bnBackward(this.runtime, dy, x, layout, mean, variance, gamma, eps);
  }
  bnBackwardBorrowed(dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, eps: number): BnBorrowedBackwardResult {
    return bn.bnBackwardBorrowed(this.runtime, dy, x, layout, mean, variance, gamma, eps);
  }
  bnStatsBackward(x: Tensor, layout: BnLayout, mean: Tensor, dmean: Tensor, dvar: Tensor): Tensor {
    return bn.bnStatsBackward(this.runtime, x, layout, mean, dmean, dvar);
  }
  bnRunningUpdate(runningMean: Tensor, runningVar: Tensor, mean: Tensor, variance: Tensor, count: number, momentum: number): void {
    bn.bnRunningUpdate(this.runtime, runningMean, runningVar, mean, variance, count, momentum);
  }

  // ---- dense, normalisation, loss ----
  linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
    return dense.linear(this.runtime, x, w, b);
  }
  linearBackward(dy: Tensor, x: Tensor, w: Tensor, opts: { needDx: boolean; hasBias: boolean }): LinearBackwardResult {
    return dense.linearBackward(this.runtime, dy, x, w, opts);
  }
  matmulNT(a: Tensor, b: Tensor): Tensor {
    return dense.matmulNT(this.runtime, a, b);
  }
  l2Normalize(x: Tensor): Tensor {
    return dense.l2Normalize(this.runtime, x);
  }
  l2NormalizeBackward(dy: Tensor, x: Tensor): Tensor {
    return dense.l2NormalizeBackward(this.runtime, dy, x);
  }
  infoNce(q: Tensor, kPos: Tensor, queue: Tensor, temperature: number): InfoNceResult {
    return dense.infoNce(this.runtime, q, kPos, queue, temperature);
  }
  infoNceBackward(logits: Tensor, kPos: Tensor, queue: Tensor, temperature: number): Tensor {
    return dense.infoNceBackward(this.runtime, logits, kPos, queue, temperature);
  }

  // ---- optimisation ----
  sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, opts: SgdOptions): void {
    const op = 'sgdStep';
    const [pb, gb, vb] = [this.runtime.buf(op, param), this.runtime.buf(op, grad), this.runtime.buf(op, velocity)];
    assertSameShape(op, param, grad, ['param', 'grad']);
    assertSameShape(op, param, velocity, ['param', 'velocity']);
    this.runtime.pass(SgdPass).run(pb, gb, vb, param.size, opts.lr, opts.momentum, opts.weightDecay);
  }

  ema(target: Tensor, source: Tensor, m: number): void {
    const [tb, sb] = [this.runtime.buf('ema', target), this.runtime.buf('ema', source)];
    assertSameShape('ema', target, source, ['target', 'source']);
    if (tb === sb) return; // m·t + (1 − m)·t = t
    this.runtime.pass(EmaPass).run(tb, sb, target.size, m);
  }

  /** Ring-buffer write as one or two row-range copies (no kernel). */
  enqueue(queue: Tensor, keys: Tensor, ptr: number): void {
    const [qb, kb] = [this.runtime.buf('enqueue', queue), this.runtime.buf('enqueue', keys)];
    const [queueRows, dim, batch] = checkEnqueue(queue, keys, ptr);
    if (batch === 0 || dim === 0) return;
    const start = ((ptr % queueRows) + queueRows) % queueRows;
    const first = Math.min(batch, queueRows - start);
    const enc = this.runtime.recorder.copyEncoder();
    const rowBytes = dim * 4;
    enc.copyBufferToBuffer(kb, 0, qb, start * rowBytes, first * rowBytes);
    if (first < batch) enc.copyBufferToBuffer(kb, first * rowBytes, qb, 0, (batch - first) * rowBytes);
  }

  /** Host → buffer in queue order: pending recorded work (which may still use a recycled buffer) goes first. */
  private upload(t: GpuTensor, data: Float32Array): void {
    if (t.size === 0) return;
    this.runtime.recorder.submit();
    this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, t.byteLength);
  }

  private report(err: BackendError): void {
    this.lastError = err;
    if (err.code === 'ERR_DEVICE_LOST') this.runtime.lostError = err;
    for (const l of this.listeners) l(err);
  }

  private lostError(): BackendError | null {
    return this.runtime.lostError;
  }
}
