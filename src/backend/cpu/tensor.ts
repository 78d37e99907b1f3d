/**
 * Tensor storage for the CPU backend: a Float32Array plus its shape. Kernels (the other files in this
 * folder) work on plain typed arrays so that tests can run the very same code in float64 (see `Real`).
 * Argument checks shared with the WebGPU backend live in ../checks.ts.
 */
import { BackendError, shapeSize, type Shape, type Tensor } from '../backend.ts';
import { fmt, shapeError } from '../checks.ts';

/** Array type the kernels accept: float32 storage in the backend, float64 in finite-difference tests. */
export type Real = Float32Array | Float64Array;

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

/** Returns the backing array of a live CPU tensor (ERR_DISPOSED if disposed, ERR_SHAPE if foreign). */
export function dataOf(op: string, t: Tensor): Float32Array {
  if (!(t instanceof CpuTensor)) {
    throw shapeError(op, `expected a cpu tensor, got a ${t?.backend ?? typeof t} tensor ${t?.shape ? fmt(t.shape) : ''}`);
  }
  return t.data;
}
