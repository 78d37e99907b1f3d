/** Timestamp-free GPU timing for benchmarks: wall clock around submit + onSubmittedWorkDone, many repetitions. */

/** Keep repeating until this much time has been measured (after warm-up). */
export const MIN_MEASURE_MS = 400;
export const MIN_REPS = 5;
export const WARMUP_REPS = 3;

/**
 * Runs `record` (which issues one repetition of GPU work) repeatedly, calling `sync` once per batch to
 * wait for completion. Returns the best per-repetition time over a few batches, in ms.
 */
export async function timeGpu(
  record: () => void,
  sync: () => Promise<void>,
  opts: { batch?: number; minReps?: number; minMs?: number; warmup?: number } = {},
): Promise<number> {
  for (let i = 0; i < (opts.warmup ?? WARMUP_REPS); i++) record();
  await sync();
  let batch = opts.batch ?? 4;
  let best = Infinity;
  let spent = 0;
  let reps = 0;
  while (spent < (opts.minMs ?? MIN_MEASURE_MS) || reps < (opts.minReps ?? MIN_REPS)) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) record();
    await sync();
    const dt = performance.now() - t0;
    best = Math.min(best, dt / batch);
    spent += dt;
    reps += batch;
    if (dt < 50) batch *= 2;
  }
  return best;
}

/** Shortest batch of host repetitions timed as one (a page that is not cross-origin isolated reads the clock in 0.1 ms steps). */
const MIN_HOST_BATCH_MS = 5;

/**
 * Same for synchronous host work (the JavaScript reference loop, wasm kernels): repetitions are
 * timed in batches of at least MIN_HOST_BATCH_MS; returns the best per-repetition time, in ms.
 */
export function timeHost(fn: () => void): number {
  for (let i = 0; i < 2; i++) fn();
  let batch = 1;
  let best = Infinity;
  let spent = 0;
  let reps = 0;
  while (spent < MIN_MEASURE_MS || reps < MIN_REPS) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) fn();
    const dt = performance.now() - t0;
    spent += dt;
    reps += batch;
    if (dt >= MIN_HOST_BATCH_MS) best = Math.min(best, dt / batch);
    else batch *= 2;
  }
  return best === Infinity ? spent / reps : best;
}
