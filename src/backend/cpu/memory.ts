/**
 * Memory half of the CPU backend: allocation, host transfer, copies, row slicing and lifetime.
 * Live tensors are tracked so `destroy()` can release them all and tests can check for leaks.
 */
import { BackendError, shapeSize, type Shape, type Tensor } from '../backend.ts';
import { dataOf } from './checks.ts';
import { CpuTensor, checkShape, fmt, shapeError } from './tensor.ts';

export class MemoryOps {
  private readonly live = new Set<CpuTensor>();
  private destroyed = false;

  /** Tensors allocated and not yet disposed (for leak checks in tests). */
  get liveTensorCount(): number {
    return this.live.size;
  }

  fromArray(data: Float32Array | readonly number[], shape: Shape): Tensor {
    const s = checkShape('fromArray', shape);
    if (data.length !== shapeSize(s)) {
      throw shapeError('fromArray', `${data.length} values do not fill shape ${fmt(s)} (${shapeSize(s)} elements)`);
    }
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
    if (data.length !== dst.length) throw shapeError('write', `${data.length} values for tensor ${fmt(t.shape)}`);
    dst.set(data);
  }

  clone(t: Tensor, shape?: Shape): Tensor {
    const src = this.d('clone', t);
    const s = checkShape('clone', shape ?? t.shape);
    if (shapeSize(s) !== src.length) throw shapeError('clone', `cannot view ${fmt(t.shape)} as ${fmt(s)}`);
    return this.track(new CpuTensor(s, src.slice()));
  }

  sliceRows(t: Tensor, start: number, count: number): Tensor {
    const src = this.d('sliceRows', t);
    const rows = t.shape[0];
    if (rows === undefined) throw shapeError('sliceRows', `tensor ${fmt(t.shape)} has no rows`);
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw shapeError('sliceRows', `rows [${start}, ${start + count}) out of range for ${fmt(t.shape)}`);
    }
    const rowSize = rows === 0 ? 0 : src.length / rows;
    const out = this.alloc('sliceRows', [count, ...t.shape.slice(1)]);
    out.data.set(src.subarray(start * rowSize, (start + count) * rowSize));
    return out;
  }

  concatRows(ts: readonly Tensor[]): Tensor {
    const first = ts[0];
    if (!first) throw shapeError('concatRows', 'needs at least one tensor');
    if (first.shape.length === 0) throw shapeError('concatRows', 'cannot concatenate scalars');
    const rest = first.shape.slice(1);
    let rows = 0;
    for (const t of ts) {
      if (t.shape.length !== first.shape.length || t.shape.some((d, i) => i > 0 && d !== first.shape[i])) {
        throw shapeError('concatRows', `${fmt(t.shape)} does not match ${fmt(first.shape)} beyond the first axis`);
      }
      rows += t.shape[0]!;
    }
    const out = this.alloc('concatRows', [rows, ...rest]);
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
