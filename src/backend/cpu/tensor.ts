/**
 * Tensor storage for the CPU backend: a Float32Array plus its shape, and the shape checks every op
 * shares. Kernels (the other files in this folder) work on plain typed arrays so that tests can run
 * the very same code in float64 (see `Real`).
 */
import { BackendError, shapeSize, type Shape, type Tensor } from '../backend.ts';

/** Array type the kernels accept: float32 storage in the backend, float64 in finite-difference tests. */
export type Real = Float32Array | Float64Array;

/** Largest tensor the CPU backend allocates, in elements (1 GiB of float32). */
export const MAX_TENSOR_ELEMENTS = 256 * 1024 * 1024;

/** A float32 tensor in host memory. `data` is detached (length 0) once disposed. */
export class CpuTensor implements Tensor {
  readonly backend = 'cpu' as const;
  readonly size: number;
  private storage: Float32Array | null;

  constructor(readonly shape: Shape, data: Float32Array) {
    this.size = shapeSize(shape);
    if (data.length !== this.size) {
      throw shapeError('tensor', `data length ${data.length} does not match shape ${fmt(shape)}`);
    }
    this.storage = data;
  }

  /** The backing array; throws ERR_DISPOSED after dispose(). */
  get data(): Float32Array {
    if (this.storage === null) {
      throw new BackendError('ERR_DISPOSED', `tensor ${fmt(this.shape)} was used after dispose()`);
    }
    return this.storage;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  release(): void {
    this.storage = null;
  }
}

/** Validates a shape (non-negative integer dims, bounded size) and returns a frozen copy. */
export function checkShape(op: string, shape: Shape): Shape {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw shapeError(op, `invalid dimension ${d} in shape ${fmt(shape)}`);
  }
  const size = shapeSize(shape);
  if (size > MAX_TENSOR_ELEMENTS) {
    throw shapeError(op, `shape ${fmt(shape)} has ${size} elements, above the limit of ${MAX_TENSOR_ELEMENTS}`);
  }
  return Object.freeze([...shape]);
}

/** Formats a shape as `[2, 3]` for messages. */
export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function shapeError(op: string, message: string): BackendError {
  return new BackendError('ERR_SHAPE', `${op}: ${message}`);
}

/** Throws ERR_SHAPE unless `a` and `b` have identical shapes. */
export function assertSameShape(op: string, a: Tensor, b: Tensor, names = ['a', 'b']): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw shapeError(op, `${names[0]} ${fmt(a.shape)} and ${names[1]} ${fmt(b.shape)} must have the same shape`);
  }
}

/** Throws ERR_SHAPE unless `t` is a 2-D tensor; returns [rows, cols]. */
export function assert2d(op: string, t: Tensor, name: string): [number, number] {
  if (t.shape.length !== 2) throw shapeError(op, `${name} must be 2-D, got ${fmt(t.shape)}`);
  return [t.shape[0]!, t.shape[1]!];
}

/** Throws ERR_SHAPE unless `t` has exactly `size` elements. */
export function assertSize(op: string, t: Tensor, size: number, name: string, expected: string): void {
  if (t.size !== size) {
    throw shapeError(op, `${name} ${fmt(t.shape)} must have ${size} elements (${expected})`);
  }
}
