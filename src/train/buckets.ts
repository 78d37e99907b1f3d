/**
 * DDP-style gradient buckets (PyTorch's Reducer, torch/csrc/distributed/c10d/reducer.cpp): the query
 * encoder's parameters are grouped, in reverse order, into buckets of about BUCKET_CAP_BYTES, and a
 * bucket's all-reduce starts as soon as backward has produced every gradient in it, so it travels
 * while backward computes the earlier layers (and, in compare mode, while the other model computes).
 *
 * A layer's parameters are final when its backward returns (each is used once in forward), so the
 * Sequential's per-layer hook is the readiness signal; DDP needs autograd hooks per parameter for
 * the same thing. Each element is summed exactly as one unbucketed all-reduce would sum it (same
 * value, same rank order), so the result is bit-identical whatever the bucket cap.
 */
import type { Backend } from '../backend/backend.ts';
import type { Layer, Parameter } from '../nn/layers/types.ts';

/**
 * Bucket size cap. DDP's 25 MiB default is for models of hundreds of MB; the demo's query encoder is
 * 1.8 MB (256→512→512→128), and the cap must be below a layer's gradient for any bucket to leave
 * before backward ends. At 256 KiB every Linear layer closes its own bucket (the output layer's 256 KiB
 * goes first, while two matmul backwards remain), and a bucket is still ≥ 8 chunks of 32 KiB, so the
 * per-collective latency (one message round, ~1 ms) stays small next to its transfer.
 */
export const BUCKET_CAP_BYTES = 256 * 1024;

/**
 * A bucket cap that came from outside the trainer (the compute worker's protocol, a benchmark's
 * option): an integer number of bytes ≥ 1, or Infinity for one all-reduce after backward. Anything
 * else is refused with ERR_BAD_BUCKET_CAP rather than read as the default (0 or NaN would otherwise
 * fall back to BUCKET_CAP_BYTES without a word, and a negative cap would make every tensor a bucket).
 */
export function checkBucketCap(value: unknown): number {
  if (value === Infinity || (typeof value === 'number' && Number.isInteger(value) && value >= 1)) return value;
  const shown = typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value);
  throw Object.assign(new Error(`the gradient bucket cap must be a whole number of bytes ≥ 1, or Infinity for one all-reduce after backward; got ${shown}`), {
    code: 'ERR_BAD_BUCKET_CAP',
  });
}

/** Parameter indices (into the given order) of each bucket, in launch order: reverse parameter order. */
export function planBuckets(sizes: readonly number[], capBytes: number = BUCKET_CAP_BYTES): number[][] {
  const buckets: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  for (let i = sizes.length - 1; i >= 0; i--) {
    current.push(i);
    bytes += sizes[i]! * 4;
    // Like DDP: a bucket closes once it reaches the cap, so a tensor is never split.
    if (bytes >= capBytes) {
      buckets.push(current);
      current = [];
      bytes = 0;
    }
  }
  if (current.length) buckets.push(current);
  return buckets;
}

/** Sums one bucket's contribution over all tabs (an all-reduce; identity for one tab). */
export type BucketReduce = (contribution: Float32Array) => Promise<Float32Array>;

/**
 * One step's buckets. `layerDone(layer)` after each layer's backward launches every bucket it
 * completes; `launchRest()` launches what is left (parameters backward never reached get zero
 * gradients), and `finish()` resolves with every parameter's summed gradient, in parameter order.
 */
export class GradientBuckets {
  private readonly buckets: number[][];
  private readonly bucketOf: number[];
  private readonly missing: number[];
  private readonly launched: Array<Promise<Float32Array> | null>;
  private readonly ready = new Set<Parameter>();

  constructor(
    private readonly backend: Backend,
    private readonly params: readonly Parameter[],
    /** Each tab's gradient is that of its mean loss; × scale gives the sum over its workers. */
    private readonly scale: number,
    private readonly reduce: BucketReduce,
    capBytes: number = BUCKET_CAP_BYTES,
  ) {
    this.buckets = planBuckets(params.map((p) => p.value.size), capBytes);
    this.bucketOf = new Array(params.length);
    this.buckets.forEach((bucket, b) => bucket.forEach((i) => (this.bucketOf[i] = b)));
    this.missing = this.buckets.map((bucket) => bucket.length);
    this.launched = this.buckets.map(() => null);
  }

  /** Number of buckets (each one all-reduce per step). */
  get count(): number {
    return this.buckets.length;
  }

  /** Marks `layer`'s parameters as final; launches each bucket this completes. True if any was launched. */
  async layerDone(layer: Layer): Promise<boolean> {
    let any = false;
    for (const param of layer.parameters()) {
      const i = this.params.indexOf(param);
      if (i < 0 || this.ready.has(param)) continue;
      this.ready.add(param);
      const b = this.bucketOf[i]!;
      if (--this.missing[b]! === 0) {
        await this.launch(b);
        any = true;
      }
    }
    return any;
  }

  /**
   * Launches the buckets backward did not complete (in order, so every tab calls its collectives in
   * the same order); resolves once all are launched.
   */
  async launchRest(): Promise<void> {
    for (let b = 0; b < this.buckets.length; b++) if (!this.launched[b]) await this.launch(b);
  }

  /** After launchRest(): each parameter's summed gradient (parameter order), once every bucket is. */
  async finish(): Promise<Float32Array[]> {
    if (this.launched.some((p) => !p)) throw new Error('GradientBuckets.finish() before launchRest()');
    const sums = await Promise.all(this.launched as Promise<Float32Array>[]);
    const out: Float32Array[] = new Array(this.params.length);
    this.buckets.forEach((bucket, b) => {
      let offset = 0;
      for (const i of bucket) {
        const size = this.params[i]!.value.size;
        out[i] = sums[b]!.subarray(offset, offset + size);
        offset += size;
      }
    });
    return out;
  }

  /** Settles every launched bucket without reporting (a step abandoned before finish()). */
  abandon(): void {
    for (const p of this.launched) p?.catch(() => {});
  }

  private async launch(b: number): Promise<void> {
    // Reads happen now (the gradients may be freed before the all-reduce completes).
    const parts = await Promise.all(this.buckets[b]!.map((i) => this.gradOf(this.params[i]!)));
    const contribution = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      for (let k = 0; k < part.length; k++) contribution[offset + k] = part[k]! * this.scale;
      offset += part.length;
    }
    const sum = this.reduce(contribution);
    // A failure surfaces through finish(); until then it must not count as unhandled.
    sum.catch(() => {});
    this.launched[b] = sum;
  }

  private async gradOf(param: Parameter): Promise<Float32Array> {
    if (!param.grad) return new Float32Array(param.value.size);
    return this.backend.read(param.grad);
  }
}
