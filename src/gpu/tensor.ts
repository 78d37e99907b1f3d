import { BackendError, shapeSize, type Shape, type Tensor } from '../backend/backend.ts';

/** A float32 tensor in a (pooled) GPU storage buffer. The buffer may be larger than `size · 4` bytes. */
export class GpuTensor implements Tensor {
  readonly backend = 'webgpu' as const;
  readonly size: number;
  private _buffer: GPUBuffer | null;

  constructor(readonly shape: Shape, buffer: GPUBuffer) {
    this.size = shapeSize(shape);
    this._buffer = buffer;
  }

  get byteLength(): number {
    return this.size * 4;
  }

  get disposed(): boolean {
    return this._buffer === null;
  }

  /** The storage buffer; throws ERR_DISPOSED after `dispose`. */
  get buffer(): GPUBuffer {
    if (!this._buffer) throw new BackendError('ERR_DISPOSED', `tensor [${this.shape.join(', ')}] was used after dispose()`);
    return this._buffer;
  }

  /** Detaches the buffer (for the pool to take back); null when already released. */
  release(): GPUBuffer | null {
    const b = this._buffer;
    this._buffer = null;
    return b;
  }
}

/** Narrows a `Tensor` to a live `GpuTensor`, or throws ERR_SHAPE for a tensor of another backend. */
export function asGpu(t: Tensor): GpuTensor {
  if (!(t instanceof GpuTensor)) {
    throw new BackendError('ERR_SHAPE', `expected a webgpu tensor, got one from the ${t.backend} backend`);
  }
  return t;
}
