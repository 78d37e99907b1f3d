/**
 * Messages between a page and its bulk worker (bulk.worker.ts). The page transfers each link's bulk
 * RTCDataChannel to the worker when it creates the link; from then on the worker owns the channel:
 * it receives, decodes and validates every bulk frame and posts them to the page in batches (one
 * page task per batch instead of one per frame), and it hands the page's bulk frames to the channel
 * (a channel's send costs the thread that calls it ~80 µs per message here). `id` names the link.
 *
 * Page → worker:
 *   adopt  {id, channel}       the transferred RTCDataChannel of link `id`
 *   send   {id, frames}        frames to send in order (copied: the page's callers keep their buffers)
 *   watch  {id, lowBytes}      report `sent` once the channel's bufferedAmount is ≤ lowBytes
 *   close  {id}                close the channel and forget the link
 *   ack    {id}                the page has processed the link's last batch (frames)
 * Worker → page:
 *   open   {id}
 *   frames {id, frames, checked}  received frames in arrival order, transferred. checked: every frame
 *                                 passed decodeFrame (checksum, finiteness); false: one frame that did
 *                                 not (or was not binary), passed on for the page to refuse by name
 *   sent   {id, handedBytes}   bytes of this link handed to the network so far (sent − bufferedAmount)
 *   closed {id, reason}
 */

/**
 * Most bytes of one batch. A link has at most one batch in the page's task queue: the next one is
 * posted when the page acknowledges the last, holding whatever arrived meanwhile (up to this), so a
 * statistics message on the page waits behind at most one batch per link (16 frames of 16 KiB, well
 * under a millisecond of the page's per-frame work), and a busy page gets fewer, fuller batches
 * (one task and one credit each) instead of a queue of single frames.
 */
export const BATCH_BYTES = 256 * 1024;

export type PageToWorker =
  | { type: 'adopt'; id: number; channel: RTCDataChannel }
  | { type: 'send'; id: number; frames: ArrayBuffer[] }
  | { type: 'watch'; id: number; lowBytes: number }
  | { type: 'close'; id: number }
  | { type: 'ack'; id: number };

export type WorkerToPage =
  | { type: 'open'; id: number }
  | { type: 'frames'; id: number; frames: Array<ArrayBuffer | string>; checked: boolean }
  | { type: 'sent'; id: number; handedBytes: number }
  | { type: 'closed'; id: number; reason: string };
