/**
 * Injectable clock and timers: the mesh's timeouts (collectives, heartbeats, signaling backoff) read
 * time only through this, so tests can drive them with a fake clock in milliseconds of real time.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  /** Milliseconds, monotonic where the platform allows. */
  now(): number;
}

/** The platform's timers (browser or Node). */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (h) => globalThis.clearInterval(h as ReturnType<typeof setInterval>),
  now: () => (typeof performance !== 'undefined' ? performance.now() : Date.now()),
};
