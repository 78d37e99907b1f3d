/**
 * Page module for the WebRTC browser tests and the mesh benchmark: runs inside a tab (loaded into
 * tests/pages/harness.html) and drives one Mesh. Every function returns plain JSON for page.evaluate.
 */
import { Mesh } from '../../src/mesh/mesh.ts';
import { createSplitLink } from '../../src/mesh/split-link.ts';
import { encodeFrame, fnv1a, FrameKind } from '../../src/mesh/wire.ts';
import { bulkWorkerStatus, setBulkWorker, type BulkWorkerStatus } from '../../src/mesh/bulk-worker/host.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import type { SendWindowOption } from '../../src/mesh/send-window.ts';

let mesh: Mesh | null = null;
const events: string[] = [];

function current(): Mesh {
  if (!mesh) throw new Error('join first');
  return mesh;
}

/** Deterministic input of one rank: every tab can rebuild every other tab's tensor for the reference. */
export function inputOf(rank: number, length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let a = (seed * 7919 + rank * 104_729 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5) * 4;
  }
  return out;
}

/**
 * Creates (no roomId) or joins a room; ICE: host candidates only. `bulkWorker`: links move their bulk
 * channel to the bulk worker (true) or keep it on the page (false); absent: the mesh's default.
 * `noTransfer`: this page behaves as a browser that cannot move a data channel to a worker.
 */
export async function join(roomId?: string, chunkBytes?: number, sendWindow?: SendWindowOption, split = false, bulkWorker?: boolean, noTransfer = false): Promise<{ peerId: string; roomId: string }> {
  if (bulkWorker !== undefined && bulkWorker !== null) setBulkWorker(bulkWorker);
  if (noTransfer) {
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: unknown) {
      if (Array.isArray(transfer) && transfer.some((t) => t instanceof RTCDataChannel)) throw new DOMException('RTCDataChannel is not transferable here', 'DataCloneError');
      return (post as (m: unknown, t?: unknown) => void).call(this, message, transfer);
    } as typeof Worker.prototype.postMessage;
  }
  mesh = await Mesh.join({
    room: roomId ? { roomId } : { create: true },
    iceServers: [],
    meta: { name: 'test tab' },
    ...(chunkBytes ? { chunkBytes } : {}),
    ...(sendWindow ? { sendWindow } : {}),
    ...(split ? { linkFactory: createSplitLink } : {}),
  });
  mesh.on('peer-left', ({ peerId, reason }) => events.push(`peer-left ${peerId} ${reason.code}`));
  mesh.on('error', (err) => events.push(`error ${err.code} ${err.message}`));
  mesh.on('membership', ({ epoch, group }) => events.push(`membership ${epoch} size ${group.size}`));
  return { peerId: mesh.selfId, roomId: mesh.roomId };
}

/** Waits until exactly `size` peers are connected (a leave shrinks the group, a join grows it). */
export async function waitForSize(size: number, timeoutMs = 60_000): Promise<{ rank: number; size: number; epoch: number; members: string[] }> {
  const m = current();
  if (m.group.size !== size) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`group has ${m.group.size} peers, not ${size}, after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = m.on('membership', ({ group }) => {
        if (group.size !== size) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }
  const g = m.group;
  return { rank: g.rank, size: g.size, epoch: g.epoch, members: m.members.map((x) => x.id) };
}

/** Switches every link's bulk window (bench:mesh compares fixed and adaptive in turns on the same links). */
export function setSendWindow(option: SendWindowOption): void {
  current().setSendWindow(option);
}

/** The bulk window to each peer now, bytes. */
export function sendWindows(): number[] {
  const m = current();
  return m.members.filter((x) => x.id !== m.selfId).map((x) => m.sendWindowBytes(x.id));
}

/** Where this page's bulk channels run (bulk-worker/host.ts). */
export function bulkStatus(): BulkWorkerStatus {
  return bulkWorkerStatus();
}

/** Sends one F32 bulk frame with a wrong checksum to the peer of `rank` (a hostile peer's frame). */
export function sendCorruptBulkFrame(rank: number): void {
  const m = current();
  const frame = encodeFrame({ kind: FrameKind.F32, round: 0, epoch: m.group.epoch, step: 0, opId: 1_000, chunkIndex: 0, chunkCount: 1, totalBytes: 16 }, new Uint8Array(16));
  new DataView(frame).setUint32(36, 0xbaadf00d, true);
  m.sendRawFrame(m.group.peerIdOf(rank), 'bulk', frame);
}

export function group(): ProcessGroup {
  return current().group;
}

/**
 * allReduce(sum) of `length` floats; checks the result against a float64 reference of all ranks' inputs.
 * Returns the largest deviation and a hash of the result's bits (equal hashes = identical on every tab).
 */
export async function allReduceCheck(length: number, seed: number): Promise<{ rank: number; maxAbsError: number; resultHash: number; ms: number }> {
  const g = current().group;
  const mine = inputOf(g.rank, length, seed);
  const t0 = performance.now();
  const result = await g.allReduce(mine, 'sum');
  const ms = performance.now() - t0;
  const reference = new Float64Array(length);
  for (let r = 0; r < g.size; r++) {
    const input = r === g.rank ? mine : inputOf(r, length, seed);
    for (let i = 0; i < length; i++) reference[i]! += input[i]!;
  }
  let maxAbsError = result.length === length ? 0 : Infinity;
  for (let i = 0; i < length; i++) maxAbsError = Math.max(maxAbsError, Math.abs(result[i]! - reference[i]!));
  return { rank: g.rank, maxAbsError, resultHash: fnv1a(new Uint8Array(result.buffer)), ms };
}

/**
 * allReduce(sum) on 2 tabs against the exact float32 reference: one float32 addition of the two seeded
 * inputs per element (the only rounding a 2-rank sum has). Returns the elements that differ in any bit.
 */
export async function allReduceExactPair(length: number, seed: number): Promise<{ length: number; mismatches: number }> {
  const g = current().group;
  if (g.size !== 2) throw new Error(`allReduceExactPair needs 2 ranks, the group has ${g.size}`);
  const result = await g.allReduce(inputOf(g.rank, length, seed), 'sum');
  const reference = new Float32Array(length);
  const [x, y] = [inputOf(0, length, seed), inputOf(1, length, seed)];
  for (let i = 0; i < length; i++) reference[i] = x[i]! + y[i]!;
  const got = new Uint32Array(result.buffer, result.byteOffset, result.length);
  const want = new Uint32Array(reference.buffer);
  let mismatches = 0;
  for (let i = 0; i < Math.min(length, result.length); i++) if (got[i] !== want[i]) mismatches++;
  return { length: result.length, mismatches };
}

/** The statistics exchange of Shuffle BN: 2 × 512 floats to rank+1, from rank−1. Returns ms. */
export async function statsExchange(): Promise<number> {
  const g = current().group;
  const data = inputOf(g.rank, 1024, 3);
  const t0 = performance.now();
  const got = await g.exchange((g.rank + 1) % g.size, data, (g.rank + g.size - 1) % g.size);
  const ms = performance.now() - t0;
  const expected = inputOf((g.rank + g.size - 1) % g.size, 1024, 3);
  if (got.some((v, i) => v !== expected[i])) throw new Error('stats exchange delivered wrong data');
  return ms;
}

export async function barrier(): Promise<void> {
  await current().group.barrier();
}

export function rtt(): Record<string, number> {
  const m = current();
  return Object.fromEntries(m.members.filter((x) => x.id !== m.selfId).map((x) => [x.id, m.rttMs(x.id)]));
}

export function log(): string[] {
  return [...events];
}

export function leave(): void {
  mesh?.destroy();
  mesh = null;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)]! : NaN;
}

/** One ping's round trip (ms) to `peerId` on `channel` (on bulk it goes through the bulk worker, if on). */
export function pingPeer(peerId: string, channel: 'stats' | 'bulk'): Promise<number> {
  return current().ping(peerId, channel);
}

/** Median round trip (ms) of `count` single-frame pings on the stats channel to the next rank. */
export async function pingMedian(count: number): Promise<number> {
  const m = current();
  const peer = m.group.size > 1 ? m.members[(m.group.rank + 1) % m.group.size]!.id : null;
  if (!peer) throw new Error('no peer');
  const times: number[] = [];
  for (let i = 0; i < count; i++) times.push(await m.ping(peer, 'stats'));
  return median(times);
}

/**
 * One-way throughput (MB/s = 1e6 bytes/s) of `bytes` of padding frames (the mesh's frame size) on the bulk channel to
 * the next rank: time until a ping sent behind them on the same ordered channel returns, minus one RTT.
 */
export async function rawThroughput(bytes: number): Promise<number> {
  const m = current();
  const peer = m.members[(m.group.rank + 1) % m.group.size]!.id;
  const rtt = await m.ping(peer, 'bulk');
  const t0 = performance.now();
  await m.sendPadding(peer, bytes);
  await m.ping(peer, 'bulk');
  const seconds = (performance.now() - t0 - rtt) / 1000;
  return bytes / seconds / 1e6;
}

/** Median ms of `reps` allReduce(sum) calls of `bytes` (after one warm-up call unless `warmUp` is false); `maxAbs`: validated, like gradients. */
export async function allReduceMs(bytes: number, reps: number, maxAbs?: number, warmUp = true): Promise<number> {
  const g = current().group;
  const data = inputOf(g.rank, bytes / 4, 1);
  // JSON carries an absent bound as null.
  const opts = maxAbs === undefined || maxAbs === null ? {} : { validate: { maxAbs } };
  if (warmUp) await g.allReduce(data, 'sum', opts);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    await g.barrier();
    const t0 = performance.now();
    await g.allReduce(data, 'sum', opts);
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** Median ms of `count` statistics exchanges (2 × 512 floats along the cyclic permutation), idle. */
export async function statsIdleMs(count: number): Promise<number> {
  const times: number[] = [];
  await barrier();
  for (let i = 0; i < count; i++) times.push(await statsExchange());
  return median(times);
}

/**
 * Statistics exchanges while an allReduce of `bytes` runs: every tab issues the allReduce first and then
 * `count` exchanges (same order everywhere). Returns the median ms of the exchanges that finished while
 * the allReduce was still running, and how many did.
 */
export async function statsUnderLoadMs(bytes: number, count: number): Promise<{ medianMs: number; during: number }> {
  const g = current().group;
  const data = inputOf(g.rank, bytes / 4, 2);
  await g.barrier();
  let running = true;
  const reduce = g.allReduce(data).then(() => (running = false));
  const during: number[] = [];
  for (let i = 0; i < count; i++) {
    const ms = await statsExchange();
    if (running) during.push(ms);
  }
  await reduce;
  return { medianMs: median(during), during: during.length };
}

/** Median stats-channel ping (ms) while `bytes` of padding stream to the same peer on the bulk channel. */
export async function pingDuringPaddingMs(bytes: number): Promise<{ medianMs: number; samples: number }> {
  const m = current();
  const peer = m.members[(m.group.rank + 1) % m.group.size]!.id;
  let running = true;
  const bulk = m.sendPadding(peer, bytes).then(() => (running = false));
  const times: number[] = [];
  while (running) {
    const ms = await m.ping(peer, 'stats');
    if (running) times.push(ms);
  }
  await bulk;
  return { medianMs: median(times), samples: times.length };
}

/**
 * Gaps (ms) between consecutive turns of this page's event loop while an allReduce of `bytes` runs: a
 * MessageChannel ping-pong takes one task per turn, so a gap is the longest the main thread was busy
 * with something else (a frame waiting in the task queue waits at least that long).
 */
export async function mainThreadGapsDuringAllReduce(bytes: number): Promise<{ medianMs: number; p95Ms: number; maxMs: number; turns: number }> {
  const g = current().group;
  const data = inputOf(g.rank, bytes / 4, 4);
  await g.barrier();
  let running = true;
  const reduce = g.allReduce(data).then(() => (running = false));
  const gaps: number[] = [];
  const channel = new MessageChannel();
  await new Promise<void>((resolve) => {
    let last = performance.now();
    channel.port1.onmessage = () => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
      if (running) channel.port2.postMessage(0);
      else resolve();
    };
    channel.port2.postMessage(0);
  });
  channel.port1.close();
  await reduce;
  gaps.sort((a, b) => a - b);
  const at = (q: number) => gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))] ?? NaN;
  return { medianMs: at(0.5), p95Ms: at(0.95), maxMs: gaps.at(-1) ?? NaN, turns: gaps.length };
}
