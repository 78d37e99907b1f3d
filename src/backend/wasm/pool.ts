/**
 * A pool of threads running the wasm kernels over one shared memory. The thread that owns the pool
 * (the compute worker, or Node's main thread) lays operands out as usual, splits a kernel call by rows
 * (each thread gets a contiguous block of output rows, so every output element is summed by one thread
 * in the same order as on one thread: the results are bit for bit those of one thread), runs the
 * first block itself and blocks in Atomics.wait until the helpers finish theirs. Only the owner grows
 * the memory, and only between jobs.
 *
 * Threads need a shared WebAssembly.Memory, which browsers give only to cross-origin isolated pages
 * (COOP/COEP headers, https or localhost), and an owner that may block: a worker, not a page.
 */
import { BackendError } from '../backend.ts';
import { DONE, JOB, SEQ, SLOT_DOUBLES, STOP, controlBytes, runJob, slotOf, type ThreadStart } from './jobs.ts';
import type { KernelExports, SharedKernels } from './memory.ts';

/** Most threads a pool runs, owner included: the anchor's products (64 rows of a batch) split 16 rows apiece. */
export const MAX_THREADS = 4;
/**
 * Products below this many multiply-adds run on the owner alone: waking a helper and waiting for it
 * costs tens of microseconds (more on a loaded machine), about what 2²⁰ multiply-adds take here.
 */
export const MIN_SPLIT_MULADDS = 1 << 20;
/** Softmax over fewer logits than this runs on the owner alone (same reasoning, ~10 ops per logit). */
export const MIN_SPLIT_LOGITS = 1 << 16;
/** How long a helper may take to start (load its module, compile) before the pool gives up, ms. */
export const THREAD_START_TIMEOUT_MS = 30_000;
/** How long the owner waits for a job's helpers before it reports them lost, ms (a loaded machine stalls seconds). */
export const JOB_TIMEOUT_MS = 120_000;
/** Output rows per GEMM block: its 4-row tiles stay whole. */
const GEMM_ROW_ALIGN = 4;

/** A helper thread as the pool sees it: a browser Worker or Node's worker_threads, adapted. */
export interface ThreadHandle {
  post(msg: ThreadStart): void;
  onMessage(cb: (msg: unknown) => void): void;
  onError(cb: (err: unknown) => void): void;
  terminate(): void;
}
export type SpawnThread = () => ThreadHandle;

export interface PoolOptions {
  /** Threads including the owner (2..MAX_THREADS). */
  threads: number;
  spawn: SpawnThread;
  /** Split thresholds (tests set 0 so that every call splits). */
  minSplitMuladds?: number;
  minSplitLogits?: number;
}

export class KernelPool {
  private readonly ctl: Int32Array;
  private readonly slots: Float64Array[];
  private readonly ownSlot = new Float64Array(SLOT_DOUBLES);
  private closed = false;

  private constructor(
    private readonly k: KernelExports,
    control: SharedArrayBuffer,
    private readonly helpers: ThreadHandle[],
    private readonly minSplitMuladds: number,
    private readonly minSplitLogits: number,
  ) {
    this.ctl = new Int32Array(control, 0, 3);
    this.slots = helpers.map((_, i) => slotOf(control, i + 1));
  }

  /** Starts `threads − 1` helpers over `shared`; rejects (helpers stopped) when one fails or stays silent. */
  static async start(shared: SharedKernels, opts: PoolOptions): Promise<KernelPool> {
    const threads = Math.min(Math.max(2, Math.floor(opts.threads)), MAX_THREADS);
    const control = new SharedArrayBuffer(controlBytes(threads));
    const helpers: ThreadHandle[] = [];
    try {
      await Promise.all(
        Array.from({ length: threads - 1 }, (_, i) => {
          const helper = opts.spawn();
          helpers.push(helper);
          return new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`a helper thread did not start within ${THREAD_START_TIMEOUT_MS / 1000} s`)), THREAD_START_TIMEOUT_MS);
            helper.onMessage((msg) => {
              if (msg === 'ready') {
                clearTimeout(timer);
                resolve();
              }
            });
            helper.onError((err) => {
              clearTimeout(timer);
              reject(new Error(`a helper thread failed: ${err instanceof Error ? err.message : (err as ErrorEvent)?.message ?? String(err)}`));
            });
            helper.post({ module: shared.module, memory: shared.memory, control, thread: i + 1 });
          });
        }),
      );
    } catch (err) {
      for (const h of helpers) h.terminate();
      throw err;
    }
    return new KernelPool(shared.exports, control, helpers, opts.minSplitMuladds ?? MIN_SPLIT_MULADDS, opts.minSplitLogits ?? MIN_SPLIT_LOGITS);
  }

  /** Threads, owner included. */
  get threads(): number {
    return this.helpers.length + 1;
  }

  /** The single-thread kernel table with the row-splittable kernels run across the pool. */
  kernels(): KernelExports {
    const k = this.k;
    return {
      ...k,
      gemm: (m, n, depth, a, strideI, strideK, b, ldb, c, ldc, bias) => {
        if (m * n * depth < this.minSplitMuladds || m < 2) return k.gemm(m, n, depth, a, strideI, strideK, b, ldb, c, ldc, bias);
        // Rows [i0, i0 + rows) of C from the same rows of A: only the pointers move.
        this.split(m, GEMM_ROW_ALIGN, (i0, rows) => [JOB.GEMM, rows, n, depth, a + i0 * strideI * 4, strideI, strideK, b, ldb, c + i0 * ldc * 4, ldc, bias]);
      },
      softmaxRowStats: (logits, rows, width, out) => {
        if (rows * width < this.minSplitLogits || rows < 2) return k.softmaxRowStats(logits, rows, width, out);
        this.split(rows, 1, (r0, n) => [JOB.SOFTMAX_ROW_STATS, logits + r0 * width * 4, n, width, out + r0 * 24]);
      },
      softmaxGrads: (logits, rows, width, scale, g, gPos) => {
        if (rows * width < this.minSplitLogits || rows < 2) return k.softmaxGrads(logits, rows, width, scale, g, gPos);
        this.split(rows, 1, (r0, n) => [JOB.SOFTMAX_GRADS, logits + r0 * width * 4, n, width, scale, g + r0 * (width - 1) * 4, gPos + r0 * 8]);
      },
    };
  }

  /**
   * Splits `total` rows into one block per thread (multiples of `align` rows, the last one shorter),
   * posts the helpers' blocks, runs the first, and waits for the rest.
   */
  private split(total: number, align: number, job: (first: number, rows: number) => number[]): void {
    if (this.closed) throw new BackendError('ERR_DISPOSED', 'the wasm backend’s thread pool was closed');
    const block = Math.ceil(total / this.threads / align) * align;
    this.slots.forEach((slot, h) => {
      const first = (h + 1) * block;
      const rows = Math.min(block, total - first);
      slot[0] = JOB.NONE;
      if (rows > 0) slot.set(job(first, rows));
    });
    Atomics.store(this.ctl, DONE, 0);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    this.ownSlot.set(job(0, Math.min(block, total)));
    runJob(this.k, this.ownSlot);
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    for (let done = Atomics.load(this.ctl, DONE); done < this.helpers.length; done = Atomics.load(this.ctl, DONE)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.close();
        throw new BackendError('ERR_WASM_THREADS', `wasm helper threads did not finish a kernel within ${JOB_TIMEOUT_MS / 1000} s; the pool was closed`);
      }
      Atomics.wait(this.ctl, DONE, done, left);
    }
  }

  /** Stops the helpers (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, STOP, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    for (const h of this.helpers) h.terminate();
  }
}
