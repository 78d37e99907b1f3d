/**
 * Injectable clock and timers, the one type every service that waits or measures time receives: the
 * mesh (collective timeouts, heartbeats, signaling backoff), the signaling server (grace periods,
 * rate windows), the UI's render batcher and the trainer's communication timing. Tests pass a fake
 * and step it in milliseconds of real time. Node-free: browser and Node alike.
 */
export interface Timers {
  /** Milliseconds, monotonic where the platform allows. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** The one-shot part of `Timers`, for services that never repeat (the render batcher). */
export type TimeoutTimers = Pick<Timers, 'now' | 'setTimeout' | 'clearTimeout'>;

/** The platform's timers (browser or Node). */
export const realTimers: Timers = {
  now: () => (typeof performance !== 'undefined' ? performance.now() : Date.now()),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (h) => globalThis.clearInterval(h as ReturnType<typeof setInterval>),
};
