/**
 * The bulk worker: one per page, owning every link's bulk RTCDataChannel (protocol.ts). Bulk frames
 * are decoded and validated here, off the page's main thread, and reach the page in batches; the
 * page still reassembles them and grants flow-control credit for what it has processed, so its
 * queue stays bounded by the sender's window.
 */
/// <reference lib="webworker" />
import { decodeFrame } from '../wire.ts';
import { BATCH_BYTES, type PageToWorker, type WorkerToPage } from './protocol.ts';

interface Adopted {
  channel: RTCDataChannel;
  /** Frames received and not yet posted. */
  queue: ArrayBuffer[];
  /** A batch is in the page's queue (posted, not yet acknowledged). */
  pageBusy: boolean;
  /** The malformed frame to pass on once the frames before it are delivered. */
  refusedFrame: ArrayBuffer | string | null;
  /** Bytes given to channel.send so far. */
  sentBytes: number;
  /** The page waits for bufferedAmount ≤ this (NaN: nobody waits). */
  watchLow: number;
  /** A malformed frame was passed on: the page drops the peer, nothing more is delivered. */
  refused: boolean;
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
const links = new Map<number, Adopted>();
/** Links with a batch waiting for the flush task. */
const pendingFlush = new Set<number>();
/** One task after the frames already queued here: posts what they left in the batches. */
const flushChannel = new MessageChannel();
let flushScheduled = false;

function post(message: WorkerToPage, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

/** Posts the next batch of link `id`, unless the page still has one (`force`: the link is closing). */
function flush(id: number, force = false): void {
  const link = links.get(id);
  if (!link || (link.pageBusy && !force)) return;
  if (link.queue.length > 0) {
    let count = 0;
    let bytes = 0;
    while (count < link.queue.length && (bytes < BATCH_BYTES || force)) bytes += link.queue[count++]!.byteLength;
    const frames = link.queue.splice(0, count);
    link.pageBusy = true;
    post({ type: 'frames', id, frames, checked: true }, frames);
  } else if (link.refusedFrame !== null) {
    // The page decodes it again and drops the peer with ERR_BAD_FRAME naming it.
    const frame = link.refusedFrame;
    link.refusedFrame = null;
    link.pageBusy = true;
    post({ type: 'frames', id, frames: [frame], checked: false });
  }
}

flushChannel.port1.onmessage = () => {
  flushScheduled = false;
  for (const id of pendingFlush) flush(id);
  pendingFlush.clear();
};

function onFrame(id: number, link: Adopted, data: ArrayBuffer | string): void {
  if (link.refused) return;
  try {
    if (typeof data === 'string') throw new Error('not binary');
    decodeFrame(data);
  } catch {
    // Passed on after the frames before it; nothing after it is.
    link.refused = true;
    link.refusedFrame = data;
  }
  if (!link.refused) link.queue.push(data as ArrayBuffer);
  if (link.pageBusy) return; // its ack posts what arrived meanwhile
  pendingFlush.add(id);
  if (!flushScheduled) {
    flushScheduled = true;
    flushChannel.port2.postMessage(0);
  }
}

function reportSent(id: number, link: Adopted): void {
  link.watchLow = NaN;
  post({ type: 'sent', id, handedBytes: link.sentBytes - link.channel.bufferedAmount });
}

function adopt(id: number, channel: RTCDataChannel): void {
  const link: Adopted = { channel, queue: [], pageBusy: false, refusedFrame: null, sentBytes: 0, watchLow: NaN, refused: false };
  links.set(id, link);
  channel.binaryType = 'arraybuffer';
  channel.onopen = () => post({ type: 'open', id });
  channel.onmessage = (ev: MessageEvent) => onFrame(id, link, ev.data as ArrayBuffer | string);
  channel.onbufferedamountlow = () => {
    if (channel.bufferedAmount <= link.watchLow) reportSent(id, link);
  };
  const closed = (reason: string) => {
    if (links.get(id) !== link) return;
    flush(id, true);
    forget(id);
    post({ type: 'closed', id, reason });
  };
  channel.onclose = () => closed('bulk data channel closed');
  channel.onerror = (ev) => closed(`bulk data channel error: ${(ev as RTCErrorEvent).error?.message ?? 'unknown'}`);
  if (channel.readyState === 'open') post({ type: 'open', id });
}

function forget(id: number): void {
  const link = links.get(id);
  if (!link) return;
  links.delete(id);
  pendingFlush.delete(id);
  const channel = link.channel;
  channel.onopen = channel.onclose = channel.onerror = channel.onmessage = channel.onbufferedamountlow = null;
  try {
    channel.close();
  } catch {
    // already closed
  }
}

scope.onmessage = (ev: MessageEvent<PageToWorker>) => {
  const message = ev.data;
  if (message.type === 'adopt') return adopt(message.id, message.channel);
  const link = links.get(message.id);
  if (!link) return;
  switch (message.type) {
    case 'send':
      try {
        for (const frame of message.frames) {
          link.channel.send(frame);
          link.sentBytes += frame.byteLength;
        }
      } catch (err) {
        forget(message.id);
        post({ type: 'closed', id: message.id, reason: `bulk data channel refused a frame: ${(err as Error).message}` });
        return;
      }
      if (link.channel.bufferedAmount <= link.watchLow) reportSent(message.id, link);
      return;
    case 'watch':
      if (link.channel.bufferedAmount <= message.lowBytes) return reportSent(message.id, link);
      link.watchLow = message.lowBytes;
      link.channel.bufferedAmountLowThreshold = message.lowBytes;
      return;
    case 'close':
      return forget(message.id);
    case 'ack':
      link.pageBusy = false;
      return flush(message.id);
  }
};
