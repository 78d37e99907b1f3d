/**
 * Memory half of the CPU backend: allocation, host transfer, copies, row slicing and lifetime.
 * Live tensors are tracked so `destroy()` can release them all and tests can check for leaks.
 */
import { BackendError, shapeSize, type Shape, type Tensor } from '../backend.ts';
import { checkClone, checkConcatRows, checkFill, checkShape, checkSliceRows, checkWrite, shapeError } from '../checks.ts';
import { CpuTensor, dataOf } from './tensor.ts';

export class MemoryOps {
  private readonly live = new Set<CpuTensor>();
  private destroyed = false;

  /** Tensors allocated and not yet disposed (for leak checks in tests). */
  get liveTensorCount(): number {
    return this.live.size;
  }

  fromArray(data: Float32Array | readonly number[], shape: Shape): Tensor {
    const s = checkShape('fromArray', shape);
    checkFill('fromArray', data.length, s);
    return this.track(new CpuTensor(s, Float32Array.from(data)));
  }

  zeros(shape: Shape): Tensor {
    return this.alloc('zeros', shape);
  }

  async read(t: Tensor): Promise<Float32Array> {
    return this.d('read', t).slice();
  }

  write(t: Tensor, data: Float32Array): void {
    const dst = this.d('write', t);
    checkWrite(t, data.length);
    dst.set(data);
  }

  clone(t: Tensor, shape?: Shape): Tensor {
    const src = this.d('clone', t);
    const s = checkClone(t, shape);
    return this.track(new CpuTensor(s, src.slice()));
  }

  sliceRows(t: Tensor, start: number, count: number): Tensor {
    const src = this.d('sliceRows', t);
    const rowSize = checkSliceRows(t, start, count);
    const out = this.alloc('sliceRows', [count, ...t.shape.slice(1)]);
    out.data.set(src.subarray(start * rowSize, (start + count) * rowSize));
    return out;
  }

  concatRows(ts: readonly Tensor[]): Tensor {
    const shape = checkConcatRows(ts);
    const out = this.alloc('concatRows', shape);
    let offset = 0;
    for (const t of ts) {
      const src = this.d('concatRows', t);
      out.data.set(src, offset);
      offset += src.length;
    }
    return out;
  }

  /** Releases the tensor; later use throws ERR_DISPOSED. Disposing twice is a no-op. */
  dispose(t: Tensor): void {
    if (!(t instanceof CpuTensor)) throw shapeError('dispose', `expected a cpu tensor, got ${t?.backend}`);
    t.release();
    this.live.delete(t);
  }

  /** CPU ops finish before they return, so there is never queued work (also fine after destroy). */
  async flush(): Promise<void> {}

  /** Releases every live tensor; idempotent. Later ops throw ERR_DISPOSED. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const t of this.live) t.release();
    this.live.clear();
  }

  /** New zero-filled tensor owned by this backend. */
  protected alloc(op: string, shape: Shape): CpuTensor {
    this.assertAlive(op);
    const s = checkShape(op, shape);
    return this.track(new CpuTensor(s, new Float32Array(shapeSize(s))));
  }

  /** Backing array of an input tensor. */
  protected d(op: string, t: Tensor): Float32Array {
    this.assertAlive(op);
    return dataOf(op, t);
  }

  /** Checks that every input is a live cpu tensor before anything is allocated (so a failing op leaks nothing). */
  protected inputs(op: string, ...ts: (Tensor | null)[]): void {
    for (const t of ts) if (t) this.d(op, t);
  }

  /** Backing array of an optional input tensor. */
  protected opt(op: string, t: Tensor | null): Float32Array | null {
    return t ? this.d(op, t) : null;
  }

  private track(t: CpuTensor): CpuTensor {
    this.assertAlive('alloc');
    this.live.add(t);
    return t;
  }

  private assertAlive(op: string): void {
    if (this.destroyed) throw new BackendError('ERR_DISPOSED', `${op}: the cpu backend was destroyed`);
  }
}
