/**
 * The page's side of the bulk worker (bulk.worker.ts): one worker per page, started with the first
 * link that uses it, and a BulkChannel per link standing in for the transferred RTCDataChannel.
 * Whether bulk runs there is decided per link when its channel is created (`adoptBulkChannel`):
 * where Worker is missing, the transfer throws (a browser that cannot transfer data channels) or the
 * worker failed to start, bulk stays on the main thread, and `bulkWorkerStatus()` says why.
 */
import type { PageToWorker, WorkerToPage } from './protocol.ts';

/** What a SimplePeerLink needs of its bulk channel when a worker owns it. */
export interface BulkChannelEvents {
  onOpen(): void;
  /** `checked`: the worker validated the frame (wire.ts decodeFrame), checksum and all. */
  onFrames(frames: Array<ArrayBuffer | string>, checked: boolean): void;
  onClose(reason: string): void;
}

export interface BulkWorkerStatus {
  /** Whether links created now move their bulk channel to the worker. */
  enabled: boolean;
  /** Links whose bulk channel the worker owns, and links that kept it on the main thread. */
  inWorker: number;
  onMainThread: number;
  /** Why the last link that asked for the worker kept bulk on the main thread ('' if none did). */
  fallbackReason: string;
}

const status: BulkWorkerStatus = { enabled: false, inWorker: 0, onMainThread: 0, fallbackReason: '' };
let worker: Worker | null = null;
/** Set when the worker failed to start: every later link stays on the main thread. */
let workerBroken = '';
let nextId = 1;
const channels = new Map<number, BulkChannel>();

/** Turns the bulk worker on or off for links created from now on (opt-in; see README "Transport"). */
export function setBulkWorker(enabled: boolean): void {
  status.enabled = enabled;
}

/** Where bulk runs, for diagnostics and benchmarks (a copy). */
export function bulkWorkerStatus(): BulkWorkerStatus {
  return { ...status };
}

function startWorker(): Worker {
  if (worker) return worker;
  const started = new Worker(new URL('./bulk.worker.ts', import.meta.url), { type: 'module', name: 'shufflebn-bulk' });
  started.onmessage = (ev: MessageEvent<WorkerToPage>) => channels.get(ev.data.id)?.receive(ev.data);
  started.onerror = (ev) => {
    ev.preventDefault();
    workerBroken = `bulk worker failed: ${ev.message || 'script error'}`;
    status.fallbackReason = workerBroken;
    worker = null;
    for (const channel of [...channels.values()]) channel.receive({ type: 'closed', id: channel.id, reason: workerBroken });
  };
  worker = started;
  return started;
}

/**
 * Moves `dc` (just created, same task) to the bulk worker when it is enabled and possible; returns its
 * stand-in, or null when bulk stays on the main thread (the reason is in bulkWorkerStatus()).
 */
export function adoptBulkChannel(dc: RTCDataChannel, events: BulkChannelEvents): BulkChannel | null {
  if (!status.enabled) return null;
  let reason = '';
  if (workerBroken) reason = workerBroken;
  else if (typeof Worker === 'undefined') reason = 'no Worker in this environment';
  else {
    const id = nextId++;
    try {
      startWorker().postMessage({ type: 'adopt', id, channel: dc } satisfies PageToWorker, [dc as unknown as Transferable]);
      const channel = new BulkChannel(id, events);
      channels.set(id, channel);
      status.inWorker++;
      return channel;
    } catch (err) {
      reason = `this browser cannot move a data channel to a worker (${(err as Error).name}: ${(err as Error).message})`;
    }
  }
  status.fallbackReason = reason;
  status.onMainThread++;
  return null;
}

/**
 * A bulk channel the worker owns. Sends are copied to the worker once per microtask turn (a chunked
 * send queues its frames synchronously); bufferedAmount counts what was posted and not yet reported
 * handed to the network, so it never under-states what is queued.
 */
export class BulkChannel {
  private postedBytes = 0;
  private handedBytes = 0;
  private outbox: ArrayBuffer[] = [];
  private waiters: Array<{ lowBytes: number; resolve(): void }> = [];
  private closed = false;

  constructor(
    readonly id: number,
    private readonly events: BulkChannelEvents,
  ) {}

  get bufferedAmount(): number {
    return this.postedBytes - this.handedBytes;
  }

  send(data: ArrayBuffer): void {
    if (this.closed) throw new Error('bulk channel closed');
    if (this.outbox.length === 0) queueMicrotask(() => this.flushOutbox());
    this.outbox.push(data);
    this.postedBytes += data.byteLength;
  }

  whenDrained(lowBytes: number): Promise<void> {
    if (this.bufferedAmount <= lowBytes || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ lowBytes, resolve });
      this.flushOutbox();
      // Answered after the frames posted before it, so the answer covers everything counted here.
      worker?.postMessage({ type: 'watch', id: this.id, lowBytes } satisfies PageToWorker);
    });
  }

  /** Closes the channel in the worker and releases every waiter; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    channels.delete(this.id);
    this.outbox = [];
    worker?.postMessage({ type: 'close', id: this.id } satisfies PageToWorker);
    this.release();
  }

  receive(message: WorkerToPage): void {
    if (this.closed) return;
    switch (message.type) {
      case 'open':
        return this.events.onOpen();
      case 'frames':
        this.events.onFrames(message.frames, message.checked);
        // Processed (reassembled, credited): the worker may post the next batch.
        if (!this.closed) worker?.postMessage({ type: 'ack', id: this.id } satisfies PageToWorker);
        return;
      case 'sent':
        this.handedBytes = message.handedBytes;
        return this.wake();
      case 'closed':
        this.close();
        return this.events.onClose(message.reason);
    }
  }

  private flushOutbox(): void {
    if (this.outbox.length === 0 || this.closed) return;
    const frames = this.outbox;
    this.outbox = [];
    worker?.postMessage({ type: 'send', id: this.id, frames } satisfies PageToWorker);
  }

  private wake(): void {
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (this.bufferedAmount <= waiter.lowBytes) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
    // Frames posted after the watch the worker answered: ask again, now behind them.
    if (still.length > 0) worker?.postMessage({ type: 'watch', id: this.id, lowBytes: Math.min(...still.map((w) => w.lowBytes)) } satisfies PageToWorker);
  }

  private release(): void {
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters = [];
  }
}
