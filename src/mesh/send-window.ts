/**
 * How many bulk bytes a sender keeps in flight on one link (sent and not yet credited by the receiver,
 * flow-control.ts). Two policies:
 *   - FixedWindow: pause above `highBytes`, resume at `lowBytes`. Caps a link at window/RTT: 32 KiB is
 *     ~6 MB/s at a 5 ms Wi-Fi round trip, and every delay of the receiving page stalls the sender.
 *   - AdaptiveWindow (the default): delay-based, after LEDBAT (RFC 6817). Every credit times the round
 *     trip of the newest byte range it acknowledges; the minimum over a sliding period is the base
 *     (the link and the receiver with nothing queued), and the excess of the current round trip over
 *     it is queueing: bulk waiting in flight or in the receiving page's task queue, which is exactly
 *     what a statistics frame would wait behind. Below the target the window grows additively (after a
 *     slow start), above it it shrinks multiplicatively, within a floor and a cap.
 */
import { CREDIT_BATCH_BYTES } from './flow-control.ts';

/** Where a sender pauses (more than `highBytes` in flight) and resumes (drained to `lowBytes`). */
export interface SendWindow {
  readonly highBytes: number;
  readonly lowBytes: number;
}

/** One credit's measurement, as flow control hands it to the window. */
export interface CreditSample {
  /** Credit arrival minus the send time of the newest frame it acknowledges, ms. */
  rttMs: number;
  /** Bytes this credit acknowledged. */
  ackedBytes: number;
  /** Send time of that newest frame (ms, on the injected clock). */
  sentAtMs: number;
  /** Arrival of the credit, ms. */
  nowMs: number;
  /** Most bytes in flight since the previous credit: whether the window, not the application, limited the sender. */
  peakInFlightBytes: number;
}

/** A window policy: its marks may change with every credit. */
export interface WindowPolicy extends SendWindow {
  onCredit(sample: CreditSample): void;
}

/**
 * The fixed marks of the earlier flow control, kept as an option and as bench:mesh's comparison. A
 * stats frame waits for about a window of bulk: 256 KiB measured 9-13 ms beside a 16 MiB allReduce,
 * 32 KiB 2-4 ms, with the allReduce no slower on loopback (but window/RTT caps a slower link).
 */
export const FIXED_HIGH_BYTES = 32 * 1024;
export const FIXED_LOW_BYTES = 16 * 1024;

export class FixedWindow implements WindowPolicy {
  readonly highBytes: number;
  readonly lowBytes: number;
  constructor(window: Partial<SendWindow> = {}) {
    this.highBytes = window.highBytes ?? FIXED_HIGH_BYTES;
    this.lowBytes = window.lowBytes ?? FIXED_LOW_BYTES;
    // A sender waiting to drain below lowBytes needs a credit that a receiver sends only per CREDIT_BATCH_BYTES.
    if (!(this.lowBytes >= CREDIT_BATCH_BYTES && this.highBytes >= this.lowBytes)) {
      throw new RangeError(`send window ${this.highBytes}/${this.lowBytes} bytes: needs high ≥ low ≥ ${CREDIT_BATCH_BYTES} (the credit batch)`);
    }
  }
  onCredit(): void {}
}

export interface AdaptiveWindowConfig {
  /**
   * Queueing delay (ms) the window steers to: a statistics frame overtakes bulk still in the sending
   * tab's SCTP buffer, not bulk in flight or in the receiver's task queue, so it waits about this plus
   * the receiving page's own jitter. 1 ms: a statistics exchange takes 1-1.5 ms idle here, the target
   * under load is 3 ms, and jitter takes the rest (on 2 loaded cores, the exchange under a 16 MiB
   * allReduce took 1.7× as long as with the fixed window at 2 ms; 1.0-1.45× at 1 ms, in two runs).
   */
  targetDelayMs: number;
  /** Floor (bytes): two credit batches, so the resume mark (a batch below) never falls under one batch. */
  minBytes: number;
  /** Cap (bytes): 1 MiB fills 100 MB/s at a 10 ms round trip; more only deepens queues. */
  maxBytes: number;
  /** Window of a new link (bytes). */
  initialBytes: number;
  /** The base round trip is the minimum over this sliding period (ms), so a route change can raise it. */
  basePeriodMs: number;
  /** The period is kept as this many buckets (each basePeriodMs / baseBuckets long). */
  baseBuckets: number;
  /** The current round trip is the least of this many latest samples (a lone late credit is noise). */
  currentFilter: number;
  /** Additive growth per window's worth of credit at zero queueing, bytes (one frame, like TCP's one MSS per RTT). */
  growthBytes: number;
  /** Deepest single cut (multiplier ≥ this): at twice the target the window halves. */
  minDecrease: number;
}

export const DEFAULT_ADAPTIVE_WINDOW: Readonly<AdaptiveWindowConfig> = Object.freeze({
  targetDelayMs: 1,
  minBytes: 2 * CREDIT_BATCH_BYTES,
  maxBytes: 1024 * 1024,
  initialBytes: 64 * 1024,
  basePeriodMs: 30_000,
  baseBuckets: 6,
  currentFilter: 4,
  growthBytes: CREDIT_BATCH_BYTES,
  minDecrease: 0.5,
});

/** Minimum of samples over a sliding period, kept as per-bucket minima (RFC 6817 §4.3's base history). */
export class BaseDelay {
  private buckets: Array<{ startMs: number; minMs: number }> = [];
  constructor(
    private readonly periodMs: number,
    private readonly bucketCount: number,
  ) {}

  add(sampleMs: number, nowMs: number): void {
    const bucketMs = this.periodMs / this.bucketCount;
    const last = this.buckets.at(-1);
    if (!last || nowMs - last.startMs >= bucketMs) this.buckets.push({ startMs: nowMs, minMs: sampleMs });
    else last.minMs = Math.min(last.minMs, sampleMs);
    while (this.buckets.length > 0 && nowMs - this.buckets[0]!.startMs >= this.periodMs) this.buckets.shift();
  }

  /** The base round trip, ms (Infinity before any sample). */
  get valueMs(): number {
    let min = Infinity;
    for (const bucket of this.buckets) min = Math.min(min, bucket.minMs);
    return min;
  }
}

export class AdaptiveWindow implements WindowPolicy {
  readonly config: AdaptiveWindowConfig;
  private windowBytes: number;
  private readonly base: BaseDelay;
  private recent: number[] = [];
  private slowStart = true;
  /** A cut applies once per round trip: credits for bytes sent before the last cut do not cut again. */
  private lastCutMs = -Infinity;
  /** Last queueing delay seen (ms), for benchmarks and tests. */
  queueDelayMs = 0;

  constructor(config: Partial<AdaptiveWindowConfig> = {}) {
    this.config = { ...DEFAULT_ADAPTIVE_WINDOW, ...config };
    const { minBytes, maxBytes, initialBytes, targetDelayMs, baseBuckets, currentFilter } = this.config;
    if (!(minBytes >= 2 * CREDIT_BATCH_BYTES && maxBytes >= minBytes && targetDelayMs > 0 && baseBuckets >= 1 && currentFilter >= 1)) {
      throw new RangeError(`adaptive send window: needs cap ≥ floor ≥ ${2 * CREDIT_BATCH_BYTES} bytes (two credit batches), a positive target delay and at least one base bucket and sample (got floor ${minBytes}, cap ${maxBytes}, target ${targetDelayMs} ms)`);
    }
    this.windowBytes = Math.min(maxBytes, Math.max(minBytes, initialBytes));
    this.base = new BaseDelay(this.config.basePeriodMs, baseBuckets);
  }

  get highBytes(): number {
    return this.windowBytes;
  }
  /** One credit batch below the high mark: each credit lets a frame go (the credits clock the sender). */
  get lowBytes(): number {
    return this.windowBytes - CREDIT_BATCH_BYTES;
  }
  /** The base credit round trip, ms. */
  get baseMs(): number {
    return this.base.valueMs;
  }

  onCredit({ rttMs, ackedBytes, sentAtMs, nowMs, peakInFlightBytes }: CreditSample): void {
    const { targetDelayMs, minBytes, maxBytes, currentFilter, growthBytes, minDecrease } = this.config;
    this.recent.push(rttMs);
    if (this.recent.length > currentFilter) this.recent.shift();
    this.base.add(rttMs, nowMs);
    const queueDelayMs = Math.max(0, Math.min(...this.recent) - this.base.valueMs);
    this.queueDelayMs = queueDelayMs;
    if (queueDelayMs > targetDelayMs) {
      this.slowStart = false;
      if (sentAtMs < this.lastCutMs) return;
      this.windowBytes = Math.max(minBytes, this.windowBytes * Math.max(minDecrease, 1 - (queueDelayMs / targetDelayMs - 1) / 2));
      this.lastCutMs = nowMs;
      return;
    }
    // An application that did not fill the window says nothing about a larger one (RFC 6817 §2.4.1).
    if (peakInFlightBytes < this.windowBytes) return;
    if (this.slowStart && queueDelayMs < targetDelayMs / 2) this.windowBytes += ackedBytes;
    else {
      this.slowStart = false;
      this.windowBytes += (growthBytes * ackedBytes * (1 - queueDelayMs / targetDelayMs)) / this.windowBytes;
    }
    this.windowBytes = Math.min(maxBytes, this.windowBytes);
  }
}

/** What an endpoint is configured with: a fixed pair of marks, or the adaptive window's parameters. */
export type SendWindowOption = ({ mode: 'fixed' } & Partial<SendWindow>) | ({ mode: 'adaptive' } & Partial<AdaptiveWindowConfig>);

export const DEFAULT_SEND_WINDOW_OPTION: Readonly<SendWindowOption> = Object.freeze({ mode: 'adaptive' });

/** A new policy for one link (each link learns its own round trip); throws RangeError on bad marks. */
export function createWindow(option: SendWindowOption = DEFAULT_SEND_WINDOW_OPTION): WindowPolicy {
  if (option.mode === 'fixed') {
    const { mode: _mode, ...marks } = option;
    return new FixedWindow(marks);
  }
  const { mode: _mode, ...config } = option;
  return new AdaptiveWindow(config);
}
