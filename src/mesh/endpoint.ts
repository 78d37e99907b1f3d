/**
 * The frame router of one peer: owns its links, validates every incoming frame, reassembles messages,
 * keeps links alive with heartbeats on the stats channel, and hands complete messages to the current
 * epoch's GroupCore. Frames of a retired epoch or an older step are discarded; frames of an epoch not
 * formed here yet are held briefly (a faster peer may start the new epoch first). A malformed frame or
 * a silent or closed link drops that peer, and the current epoch fails fast with ERR_PEER_LEFT.
 */
import { MeshError } from './types.ts';
import { decodeFrame, encodeFrame, FrameKind, type Frame } from './wire.ts';
import { CHUNK_PAYLOAD_BYTES, Reassembler, sendChunked, type ReassemblyLimits } from './chunker.ts';
import { GroupCore, type MatchLimits } from './group-core.ts';
import { HeldFrames, type HoldLimits } from './held-frames.ts';
import { decodeHeartbeat, encodeHeartbeat, PaceBoard, withDeadline, type PeerPace } from './pace.ts';
import { CollectiveGroup, type CollectiveConfig } from './collectives.ts';
import { FlowControl } from './flow-control.ts';
import { createWindow, DEFAULT_SEND_WINDOW_OPTION, type SendWindowOption } from './send-window.ts';
import { realTimers, type Timers } from '../util/timers.ts';
import type { Channel, Link } from './transport.ts';

/** Heartbeat period on the stats channel. */
export const HEARTBEAT_INTERVAL_MS = 1_000;
/** A peer silent for this long is dropped (well within the 5 s the UI promises). */
export const PEER_TIMEOUT_MS = 4_000;
/** How often held frames and half-received messages are checked for expiry. */
export const SWEEP_INTERVAL_MS = 1_000;
/** Retired epochs remembered, so their late frames are recognised as stale rather than held. */
const RETIRED_EPOCHS_KEPT = 64;

export interface EndpointOptions {
  selfId: string;
  timers?: Timers;
  /** 0 disables heartbeats (memory groups in tests). */
  heartbeatIntervalMs?: number;
  peerTimeoutMs?: number;
  chunkBytes?: number;
  /** Bulk bytes in flight per link (sent, not yet processed by the receiver): adaptive (default) or fixed marks. */
  sendWindow?: SendWindowOption;
  collective?: Partial<CollectiveConfig>;
  /** Per-peer memory caps (defaults in chunker.ts, held-frames.ts, group-core.ts); a peer over one is dropped. */
  limits?: PeerLimits;
  /**
   * A link was dropped: closed, silent, or sent a malformed frame (`reason.code` says which).
   * `orderly`: the peer said goodbye (it is leaving the room; the server will announce it).
   */
  onPeerLeft?: (peerId: string, reason: MeshError, orderly: boolean) => void;
}

/** Every per-peer memory cap of the endpoint, by the module that enforces it. */
export interface PeerLimits {
  reassembly?: Partial<ReassemblyLimits>;
  hold?: Partial<HoldLimits>;
  match?: Partial<MatchLimits>;
}

interface PeerState {
  link: Link;
  /** All sends go through this: it counts bulk bytes the peer has not processed yet. */
  flow: FlowControl;
  /** Padding bytes received (throughput probes). */
  paddingBytes: number;
  /** Outstanding pings by their send time. */
  pings: Map<number, (rttMs: number) => void>;
  reassembler: Reassembler;
  lastHeardMs: number;
  /** Last measured heartbeat round-trip, ms (NaN until measured). */
  rttMs: number;
}

export class MeshEndpoint {
  readonly selfId: string;
  readonly timers: Timers;
  private peers = new Map<string, PeerState>();
  private core: GroupCore | null = null;
  private retired: number[] = [];
  private readonly held: HeldFrames;
  /** Step times the peers report in their heartbeats; deadlines are extended by them. */
  readonly pace: PaceBoard;
  private heartbeat: unknown = null;
  private sweeper: unknown;
  private destroyed = false;
  private sendWindow: SendWindowOption;

  constructor(private readonly opts: EndpointOptions) {
    this.selfId = opts.selfId;
    this.sendWindow = opts.sendWindow ?? DEFAULT_SEND_WINDOW_OPTION;
    createWindow(this.sendWindow); // a bad window is refused here (RangeError), not at the first link
    this.timers = opts.timers ?? realTimers;
    const interval = opts.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    if (interval > 0) this.heartbeat = this.timers.setInterval(() => this.tick(), interval);
    this.held = new HeldFrames(opts.limits?.hold);
    this.pace = new PaceBoard(this.selfId, this.timers);
    this.sweeper = this.timers.setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    // In Node (tests, benchmarks) housekeeping alone must not keep the process alive.
    (this.sweeper as { unref?: () => void } | null)?.unref?.();
  }

  /** Bytes held for peers (frames of unformed epochs and half-received messages, headers included). */
  get heldBytes(): number {
    let bytes = this.held.bytes;
    for (const state of this.peers.values()) bytes += state.reassembler.heldBytes;
    return bytes;
  }

  /** Peer ids with an open link. */
  get connectedPeers(): string[] {
    return [...this.peers.keys()];
  }

  hasLink(peerId: string): boolean {
    return this.peers.has(peerId);
  }

  /** Last heartbeat round-trip to `peerId` in ms (NaN before the first). */
  rttMs(peerId: string): number {
    return this.peers.get(peerId)?.rttMs ?? NaN;
  }

  /**
   * Who the current epoch waits for: the slowest live peer by reported step time, and the peer of
   * the longest-posted receive with how long it has waited (ms).
   */
  waitInfo(): { slowest: PeerPace | null; waitingFor: { peerId: string; waitedMs: number } | null } {
    const oldest = this.core && !this.core.aborted ? this.core.oldestWait() : null;
    return { slowest: this.pace.slowest(), waitingFor: oldest ? { peerId: oldest.peerId, waitedMs: this.timers.now() - oldest.since } : null };
  }

  /**
   * Round trip of one heartbeat frame on `channel` (ms): on `bulk` it queues behind whatever was sent
   * before it, so "send padding, then ping on bulk" times a transfer.
   */
  ping(peerId: string, channel: Channel = 'stats', timeoutMs = PEER_TIMEOUT_MS): Promise<number> {
    const state = this.peers.get(peerId);
    if (!state) return Promise.reject(new MeshError('ERR_PEER_LEFT', `no link to peer ${peerId}`, peerId));
    let sentAt = this.timers.now();
    while (state.pings.has(sentAt)) sentAt += 1e-6;
    const probe = encodeHeartbeat(sentAt, this.pace.localPaceMs());
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        state.pings.delete(sentAt);
        reject(new MeshError('ERR_TIMEOUT', `no ping reply from ${peerId} in ${timeoutMs} ms`, peerId));
      }, timeoutMs);
      state.pings.set(sentAt, (rtt) => {
        this.timers.clearTimeout(timer);
        resolve(rtt);
      });
      this.trySend(state, channel, encodeFrame({ kind: FrameKind.Heartbeat, round: 0, epoch: 0, step: 0, opId: 0, chunkIndex: 0, chunkCount: 1, totalBytes: probe.byteLength }, probe));
    });
  }

  /** Changes every link's window policy (each link starts it afresh); RangeError on bad marks. */
  setSendWindow(option: SendWindowOption): void {
    createWindow(option);
    this.sendWindow = option;
    for (const state of this.peers.values()) state.flow.setWindow(createWindow(option));
  }

  /** The bulk window to `peerId` now (bytes in flight where a sender pauses), NaN without a link. */
  sendWindowBytes(peerId: string): number {
    return this.peers.get(peerId)?.flow.highBytes ?? NaN;
  }

  /** Sends `bytes` of padding frames to `peerId` with the normal chunking and backpressure. */
  async sendPadding(peerId: string, bytes: number, channel: Channel = 'bulk'): Promise<void> {
    const state = this.peers.get(peerId);
    if (!state) throw new MeshError('ERR_PEER_LEFT', `no link to peer ${peerId}`, peerId);
    const payload = new Uint8Array(Math.min(bytes, this.opts.chunkBytes ?? CHUNK_PAYLOAD_BYTES));
    for (let sent = 0; sent < bytes; sent += payload.byteLength) {
      await sendChunked(state.flow, channel, { kind: FrameKind.Padding, round: 0, epoch: 0, step: 0, opId: 0 }, payload.subarray(0, Math.min(payload.byteLength, bytes - sent)), undefined, undefined, state.flow);
    }
  }

  /** Sends one raw frame to `peerId` as is (fault injection in tests: a hostile peer's frames). */
  sendRaw(peerId: string, channel: Channel, frame: ArrayBuffer): void {
    const state = this.peers.get(peerId);
    if (state) this.trySend(state, channel, frame);
  }

  /** Padding bytes received from `peerId`. */
  paddingReceived(peerId: string): number {
    return this.peers.get(peerId)?.paddingBytes ?? 0;
  }

  /** Takes ownership of an open link. */
  addLink(link: Link): void {
    if (this.destroyed) return link.destroy('endpoint destroyed');
    const peerId = link.remoteId;
    this.peers.get(peerId)?.link.destroy('replaced by a new link');
    const state: PeerState = { link, flow: new FlowControl(link, createWindow(this.sendWindow), this.timers), paddingBytes: 0, pings: new Map(), reassembler: new Reassembler(peerId, this.opts.limits?.reassembly, () => this.timers.now()), lastHeardMs: this.timers.now(), rttMs: NaN };
    this.peers.set(peerId, state);
    link.onMessage((channel, data, payloadChecked) => this.onData(state, channel, data, payloadChecked));
    link.onClose((reason) => {
      if (this.peers.get(peerId) === state) this.dropPeer(peerId, new MeshError('ERR_PEER_LEFT', `peer ${peerId} left: ${reason}`, peerId));
    });
  }

  /** Closes the link to `peerId` (e.g. the signaling server says it left). */
  removeLink(peerId: string, reason: MeshError): void {
    this.dropPeer(peerId, reason);
  }

  /**
   * Starts a new epoch over `members` (peer ids in rank order, self included); the previous epoch's
   * in-flight collectives fail with ERR_MEMBERSHIP_CHANGED.
   */
  formGroup(members: readonly string[], epoch: number): CollectiveGroup {
    if (this.destroyed) throw new MeshError('ERR_DESTROYED', 'mesh endpoint destroyed');
    this.retireCurrent(new MeshError('ERR_MEMBERSHIP_CHANGED', `membership changed (epoch ${epoch})`));
    // The same set can come back (a link dropped and reconnected): its epoch is live again.
    this.retired = this.retired.filter((e) => e !== epoch);
    const core = new GroupCore(
      this.selfId,
      members,
      epoch,
      this.timers,
      (peerId, header, data, channel, deadline) => this.sendTo(peerId, header, data, channel, deadline),
      this.opts.limits?.match,
      (startedAt, baseMs) => this.pace.extension(startedAt, baseMs),
    );
    this.core = core;
    for (const peerId of members) {
      if (peerId !== this.selfId && !this.peers.has(peerId)) core.abort(new MeshError('ERR_PEER_LEFT', `no link to peer ${peerId}`, peerId));
    }
    for (const state of this.peers.values()) state.reassembler.retainEpoch(epoch);
    for (const { peerId, frame } of this.held.take(epoch, (e) => this.retired.includes(e))) this.route(peerId, frame);
    return new CollectiveGroup(core, this.opts.collective);
  }

  /** Whether `epoch` was formed here before (its operation numbers are used up). */
  hasFormed(epoch: number): boolean {
    return this.core?.epoch === epoch || this.retired.includes(epoch);
  }

  /** True when the current epoch has failed (a peer left) and a new one must be formed. */
  get groupAborted(): boolean {
    return this.core?.aborted != null;
  }

  /** Fails the current epoch (if any) with `error`. */
  abortGroup(error: MeshError): void {
    this.core?.abort(error);
  }

  /** Closes every link and stops the heartbeat; idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.heartbeat !== null) this.timers.clearInterval(this.heartbeat);
    this.timers.clearInterval(this.sweeper);
    this.retireCurrent(new MeshError('ERR_DESTROYED', 'mesh destroyed'));
    for (const state of [...this.peers.values()]) {
      this.trySend(state, 'stats', encodeFrame({ kind: FrameKind.Bye, round: 0, epoch: 0, step: 0, opId: 0, chunkIndex: 0, chunkCount: 1, totalBytes: 0 }, new Uint8Array(0)));
      state.link.destroy('mesh destroyed');
    }
    this.peers.clear();
  }

  private retireCurrent(error: MeshError): void {
    if (!this.core) return;
    this.core.abort(error);
    this.retired.push(this.core.epoch);
    if (this.retired.length > RETIRED_EPOCHS_KEPT) this.retired.shift();
    this.core = null;
  }

  private async sendTo(peerId: string, { unchecked, ...header }: { epoch: number; step: number; opId: number; round: number; unchecked?: boolean }, data: Float32Array, channel: Channel, deadline: number): Promise<void> {
    const state = this.peers.get(peerId);
    if (!state) throw new MeshError('ERR_PEER_LEFT', `no link to peer ${peerId}`, peerId);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const startedAt = this.timers.now();
    const baseMs = Math.max(0, deadline - startedAt);
    // A receiver that never grants credit (or a channel that never drains) fails the send by its deadline.
    const guard = (drained: Promise<void>) =>
      withDeadline(drained, deadline, this.timers, () => this.pace.extension(startedAt, baseMs), peerId, `send of op ${header.opId} (${bytes.byteLength} bytes)`);
    await sendChunked(state.flow, channel, { kind: unchecked ? FrameKind.F32Unchecked : FrameKind.F32, ...header }, bytes, this.opts.chunkBytes ?? CHUNK_PAYLOAD_BYTES, guard, state.flow);
  }

  private onData(state: PeerState, channel: Channel, data: ArrayBuffer, payloadChecked = false): void {
    if (this.destroyed) return;
    const peerId = state.link.remoteId;
    state.lastHeardMs = this.timers.now();
    let frame: Frame;
    try {
      frame = decodeFrame(data, peerId, payloadChecked);
    } catch (err) {
      this.dropPeer(peerId, err instanceof MeshError ? err : new MeshError('ERR_BAD_FRAME', String(err), peerId));
      return;
    }
    this.handle(state, channel, frame);
    if (channel === 'bulk' && this.peers.get(peerId) === state) state.flow.onBulkProcessed(data.byteLength, frame.chunkIndex === frame.chunkCount - 1);
  }

  private handle(state: PeerState, channel: Channel, frame: Frame): void {
    const peerId = state.link.remoteId;
    switch (frame.kind) {
      case FrameKind.Credit:
        state.flow.onCredit(new DataView(frame.payload.buffer, frame.payload.byteOffset, 4).getUint32(0, true));
        return;
      case FrameKind.Heartbeat: {
        const { clock, paceMs } = decodeHeartbeat(frame.payload);
        this.pace.report(peerId, paceMs);
        this.trySend(state, channel, encodeFrame({ ...frame, kind: FrameKind.HeartbeatAck }, encodeHeartbeat(clock, this.pace.localPaceMs())));
        return;
      }
      case FrameKind.HeartbeatAck: {
        const { clock: sentAt, paceMs } = decodeHeartbeat(frame.payload);
        this.pace.report(peerId, paceMs);
        const rtt = this.timers.now() - sentAt;
        const waiter = state.pings.get(sentAt);
        state.pings.delete(sentAt);
        if (waiter) waiter(rtt);
        else state.rttMs = rtt;
        return;
      }
      case FrameKind.Padding:
        state.paddingBytes += frame.payload.byteLength;
        return;
      case FrameKind.Bye:
        this.dropPeer(peerId, new MeshError('ERR_PEER_LEFT', `peer ${peerId} left the mesh`, peerId), true);
        return;
      default:
        if (this.core && frame.epoch === this.core.epoch) this.route(peerId, frame);
        else if (!this.retired.includes(frame.epoch)) this.hold(peerId, frame);
    }
  }

  /**
   * Reassembles a frame of the current epoch and delivers a complete message. Late frames of a finished
   * step are still reassembled (so their message does not linger half-received), then discarded.
   */
  private route(peerId: string, frame: Frame): void {
    const core = this.core!;
    const state = this.peers.get(peerId);
    if (!state) return;
    try {
      const position = core.classifyOp(frame.opId);
      if (position === 'stale') return;
      if (position === 'ahead') {
        throw new MeshError('ERR_PEER_OVER_LIMIT', `peer ${peerId} sent operation ${frame.opId}, too far ahead of this peer's operations`, peerId);
      }
      const message = state.reassembler.accept(frame);
      if (message) core.deliver(peerId, frame.opId, frame.round, frame.step, new Float32Array(message.buffer, message.byteOffset, message.byteLength / 4), frame.kind === FrameKind.F32Unchecked);
    } catch (err) {
      this.dropPeer(peerId, err instanceof MeshError ? err : new MeshError('ERR_BAD_FRAME', String(err), peerId));
    }
  }

  private hold(peerId: string, frame: Frame): void {
    try {
      this.held.hold(peerId, frame, this.timers.now());
    } catch (err) {
      this.dropPeer(peerId, err as MeshError);
    }
  }

  /** Expires frames held for epochs that never formed and messages whose sender gave up on them. */
  private sweep(): void {
    this.held.expire(this.timers.now());
    for (const state of this.peers.values()) state.reassembler.expire();
  }

  private dropPeer(peerId: string, reason: MeshError, orderly = false): void {
    const state = this.peers.get(peerId);
    if (!state) return;
    this.peers.delete(peerId);
    this.held.dropPeer(peerId);
    this.pace.forget(peerId);
    state.link.destroy(reason.message);
    state.flow.close();
    if (this.core && this.core.rankOf(peerId) !== undefined) {
      const left = new MeshError('ERR_PEER_LEFT', `peer ${peerId} left: ${reason.message}`, peerId);
      (left as { cause?: unknown }).cause = reason;
      this.core.abort(left);
    }
    this.opts.onPeerLeft?.(peerId, reason, orderly);
  }

  private tick(): void {
    const now = this.timers.now();
    const timeout = this.opts.peerTimeoutMs ?? PEER_TIMEOUT_MS;
    const probe = encodeHeartbeat(now, this.pace.localPaceMs());
    for (const [peerId, state] of [...this.peers]) {
      if (now - state.lastHeardMs > timeout) {
        this.dropPeer(peerId, new MeshError('ERR_PEER_LEFT', `peer ${peerId} silent for ${Math.round(now - state.lastHeardMs)} ms (heartbeat timeout ${timeout} ms)`, peerId));
        continue;
      }
      this.trySend(state, 'stats', encodeFrame({ kind: FrameKind.Heartbeat, round: 0, epoch: 0, step: 0, opId: 0, chunkIndex: 0, chunkCount: 1, totalBytes: probe.byteLength }, probe));
    }
  }

  private trySend(state: PeerState, channel: Channel, frame: ArrayBuffer): void {
    try {
      if (state.link.open) state.flow.send(channel, frame);
    } catch {
      // The link is closing; its close handler reports the departure.
    }
  }
}
