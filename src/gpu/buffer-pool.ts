/**
 * Recycles storage buffers by rounded byte size, so the per-step tensors of a training loop reuse the
 * same few buffers instead of allocating (and later garbage-collecting) GPU memory every step.
 * Reuse is safe without fences because every use of a buffer is recorded in queue order: work issued
 * after `release` runs after the work that used the buffer before.
 */

/**
 * Sizes are rounded up to this many bytes (also a valid storage-binding size). Every tensor buffer is
 * thus a multiple of 16 bytes, which the vec4 elementwise kernels rely on.
 */
export const POOL_GRANULE_BYTES = 256;
/** Buffers above this size are rounded to a power of two, so similar big sizes share buffers. */
export const POOL_POW2_ABOVE_BYTES = 4 * 1024 * 1024;
/** Idle pooled memory beyond this is destroyed rather than kept. */
export const POOL_MAX_IDLE_BYTES = 256 * 1024 * 1024;

/** Usage of every tensor buffer (a function: `GPUBufferUsage` does not exist outside browsers). */
export function storageUsage(): GPUBufferUsageFlags {
  return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
}

export function pooledSize(bytes: number): number {
  const b = Math.max(bytes, 4);
  if (b > POOL_POW2_ABOVE_BYTES) return 2 ** Math.ceil(Math.log2(b));
  return Math.ceil(b / POOL_GRANULE_BYTES) * POOL_GRANULE_BYTES;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private idleBytes = 0;
  /** Buffers created over the pool's life (a steady-state training step should create none). */
  created = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: GPUBufferUsageFlags,
    private readonly label: string,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = pooledSize(bytes);
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused) {
      this.idleBytes -= size;
      return reused;
    }
    this.created++;
    return this.device.createBuffer({ label: `${this.label}[${size}]`, size, usage: this.usage });
  }

  release(buffer: GPUBuffer): void {
    if (this.idleBytes + buffer.size > POOL_MAX_IDLE_BYTES) {
      buffer.destroy();
      return;
    }
    let list = this.free.get(buffer.size);
    if (!list) this.free.set(buffer.size, (list = []));
    list.push(buffer);
    this.idleBytes += buffer.size;
  }

  destroy(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.idleBytes = 0;
  }
}
