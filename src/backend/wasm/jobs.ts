/**
 * What the threads of a kernel pool share besides the wasm memory: a small control block (its own
 * SharedArrayBuffer) and the loop each helper thread runs. Both sides of ./pool.ts use this file; it
 * imports nothing that needs a page, so the browser's and Node's thread entries load it alike.
 *
 * Control block layout (bytes):
 *
 *   | offset          | type       | what                                                         |
 *   |-----------------|------------|--------------------------------------------------------------|
 *   | 0               | i32        | SEQ: job number; helpers wait on it, the owner bumps it       |
 *   | 4               | i32        | DONE: helpers finished with the current job                   |
 *   | 8               | i32        | STOP: 1 = helpers return (the pool is closing)                |
 *   | 64 + t·SLOT     | f64[16]    | thread t's job: [kernel id, arguments…] (pointers are bytes)  |
 *
 * A job is one kernel call over a slice of rows, so a helper only reads its slot and calls the kernel.
 * Atomics on SEQ and DONE order the slots' and the wasm memory's plain reads and writes between threads.
 */
import type { KernelExports } from './memory.ts';

export const SEQ = 0;
export const DONE = 1;
export const STOP = 2;
const SLOTS_OFFSET = 64;
/** Doubles per thread's slot: a kernel id and up to 15 arguments (gemm takes 11). */
export const SLOT_DOUBLES = 16;

/** Kernels a helper runs; NONE: this thread has no rows in the current job. */
export const JOB = Object.freeze({ NONE: 0, GEMM: 1, SOFTMAX_ROW_STATS: 2, SOFTMAX_GRADS: 3 });

/** Bytes of a control block for `threads` threads. */
export function controlBytes(threads: number): number {
  return SLOTS_OFFSET + threads * SLOT_DOUBLES * 8;
}

/** Thread t's slot in the control block. */
export function slotOf(control: SharedArrayBuffer, t: number): Float64Array {
  return new Float64Array(control, SLOTS_OFFSET + t * SLOT_DOUBLES * 8, SLOT_DOUBLES);
}

/** Runs the job in `slot` on this thread's instance of the kernels. */
export function runJob(k: KernelExports, s: Float64Array): void {
  switch (s[0]) {
    case JOB.GEMM:
      k.gemm(s[1]!, s[2]!, s[3]!, s[4]!, s[5]!, s[6]!, s[7]!, s[8]!, s[9]!, s[10]!, s[11]!);
      return;
    case JOB.SOFTMAX_ROW_STATS:
      k.softmaxRowStats(s[1]!, s[2]!, s[3]!, s[4]!);
      return;
    case JOB.SOFTMAX_GRADS:
      k.softmaxGrads(s[1]!, s[2]!, s[3]!, s[4]!, s[5]!, s[6]!);
      return;
    default:
  }
}

/**
 * A helper thread's life: wait for the next job, run this thread's slice, count it done, until STOP.
 * Blocks in Atomics.wait between jobs, which a worker may do (a page may not).
 */
export function serveJobs(k: KernelExports, control: SharedArrayBuffer, thread: number): void {
  const ctl = new Int32Array(control, 0, 3);
  const slot = slotOf(control, thread);
  // SEQ starts at 0 and no job is posted before every helper is ready; reading SEQ here instead could
  // already see the first job (posted right after `ready`) and wait past it.
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, SEQ, seen);
    if (Atomics.load(ctl, STOP)) return;
    const seq = Atomics.load(ctl, SEQ);
    if (seq === seen) continue;
    seen = seq;
    runJob(k, slot);
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
}

/** The message that starts a helper: the pool's module and memory, its control block and its index. */
export interface ThreadStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  thread: number;
}

/** Instantiates the kernels over the shared memory and serves jobs; `ready` is called before the first wait. */
export function startThread({ module, memory, control, thread }: ThreadStart, ready: () => void): void {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  ready();
  serveJobs(instance.exports as unknown as KernelExports, control, thread);
}
