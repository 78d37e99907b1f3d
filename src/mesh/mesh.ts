/**
 * The browser mesh of one tab: joins a room through the signaling server, keeps one WebRTC link per
 * pair of peers (the peer with the smaller id initiates, so offers never cross), and exposes the peers
 * that are connected, in room rank order, as a ProcessGroup. Whenever that set changes a new epoch
 * starts: in-flight collectives of the old one fail fast (ERR_PEER_LEFT / ERR_MEMBERSHIP_CHANGED) and a
 * 'membership' event carries the new group.
 *
 * While this tab trains a run (confirmRun), its group holds only the members that confirm the same run
 * in their meta, as the server lists them: a member whose backend failed, that joined and has not
 * started yet, or that trains another run is linked but not in the group, so nobody waits for it.
 * Every member of the run sees the same list at the same server epoch, hence the same group.
 *
 *   const mesh = await Mesh.join({ room: roomFromLink(location.href) });
 *   mesh.on('membership', ({ group, complete }) => { if (complete) restartStepWith(group); });
 *   mesh.on('peer-left', ({ peerId, reason }) => showWhy(peerId, reason));
 */
import type { Member, PeerMeta, RoomConfig } from '../signaling/protocol.ts';
import { MeshError, type ProcessGroup } from './types.ts';
import { SignalingClient, signalingUrl, type Welcome } from './signaling-client.ts';
import { MeshEndpoint } from './endpoint.ts';
import type { SendWindowOption } from './send-window.ts';
// The transport: swapping WebRTC for another link type means changing this import (and nothing else).
import { createSimplePeerLink } from './simple-peer-link.ts';
import { realTimers, type Timers } from '../util/timers.ts';
import { countedLink, TrafficCounter } from './traffic.ts';
import type { ConnectingLink } from './transport.ts';
import { isLinkRefusal, signalsOf, type LinkRefusal, type LinkSignals, type SignalingLinkFactory } from './link-signals.ts';
import { EXCLUDING_CODES, groupEpoch, type MeshEvents, type MeshMember, type MeshOptions } from './mesh-types.ts';

export { roomFromLink, type MeshEvents, type MeshMember, type MeshOptions } from './mesh-types.ts';

/** A link that has not opened after this long is torn down and retried. */
export const LINK_CONNECT_TIMEOUT_MS = 20_000;
/** Pause before the initiator retries a link to a peer that is still in the room. */
export const LINK_RETRY_DELAY_MS = 1_000;

type Listener<K extends keyof MeshEvents> = (payload: MeshEvents[K]) => void;

interface PendingLink {
  link: ConnectingLink;
  /** The connections (link-signals.ts) whose offer this link has taken: another for one is a restart. */
  offered: Set<string>;
  timer: unknown;
}

export class Mesh {
  readonly selfId: string;
  readonly roomId: string;
  members: MeshMember[] = [];
  group: ProcessGroup;
  /** What this tab has sent to its peers, counted where frames leave (benchmarks read it per step). */
  readonly traffic = new TrafficCounter();
  private roomMembers: Member[] = [];
  private latestConfig: MeshEvents['config'] | null = null;
  /** The server's membership epoch of the latest `members` (part of every group epoch). */
  private serverEpoch = 0;
  /** Peers (still in the room) whose link dropped and that this side, as initiator, reconnects. */
  private recovering = new Set<string>();
  /** Peers dropped for misbehaviour or a link type of their own, with the reason: never linked again by this mesh. */
  private excluded = new Map<string, MeshError>();
  /** This peer's description without `run` (that part follows confirmRun). */
  private meta: PeerMeta;
  /** The run this tab trains and confirms to the room, or null (then the group is every member). */
  private run: string | null = null;
  private endpoint: MeshEndpoint;
  private pendingLinks = new Map<string, PendingLink>();
  private retryTimers = new Map<string, unknown>();
  private listeners = new Map<keyof MeshEvents, Set<Listener<never>>>();
  private readonly timers: Timers;
  private readonly linkFactory: SignalingLinkFactory;
  private readonly linkSignals: LinkSignals;
  private readonly iceServers: RTCIceServer[];
  private destroyed = false;

  /** Joins (or creates) the room; resolves once admitted, with a group of this tab alone. */
  static async join(opts: MeshOptions): Promise<Mesh> {
    const signaling = new SignalingClient({
      url: opts.signalingUrl ?? signalingUrl(),
      room: opts.room,
      ...(opts.meta ? { meta: opts.meta } : {}),
      ...(opts.WebSocket ? { WebSocket: opts.WebSocket } : {}),
      ...(opts.timers ? { timers: opts.timers } : {}),
    });
    // Listen before start(): members and signals can follow the welcome in the same task.
    const early: Array<() => void> = [];
    let mesh: Mesh | null = null;
    const buffer = <T>(fn: (m: Mesh, p: T) => void) => (p: T) => (mesh ? fn(mesh, p) : early.push(() => fn(mesh!, p)));
    signaling.on('members', buffer((m, p) => m.onMembers(p.members, p.epoch)));
    signaling.on('signal', buffer((m, p) => m.onSignal(p.from, p.data)));
    signaling.on('config', buffer((m, p) => {
      m.latestConfig = p;
      m.emit('config', p);
    }));
    signaling.on('error', buffer((m, p) => m.emit('error', p)));
    if (opts.onRetry) signaling.on('retry', opts.onRetry);
    const welcome = await signaling.start();
    mesh = new Mesh(signaling, welcome, opts);
    for (const run of early) run();
    return mesh;
  }

  private constructor(
    readonly signaling: SignalingClient,
    welcome: Welcome,
    opts: MeshOptions,
  ) {
    this.selfId = welcome.peerId;
    this.roomId = welcome.roomId;
    this.timers = opts.timers ?? realTimers;
    this.linkFactory = opts.linkFactory ?? createSimplePeerLink;
    this.linkSignals = signalsOf(this.linkFactory);
    this.iceServers = opts.iceServers ?? (welcome.iceServers as RTCIceServer[]);
    this.endpoint = new MeshEndpoint({
      selfId: this.selfId,
      timers: this.timers,
      ...(opts.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: opts.heartbeatIntervalMs } : {}),
      ...(opts.peerTimeoutMs !== undefined ? { peerTimeoutMs: opts.peerTimeoutMs } : {}),
      ...(opts.chunkBytes !== undefined ? { chunkBytes: opts.chunkBytes } : {}),
      ...(opts.sendWindow ? { sendWindow: opts.sendWindow } : {}),
      ...(opts.collective ? { collective: opts.collective } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
      onPeerLeft: (peerId, reason, orderly) => this.onPeerLeft(peerId, reason, orderly),
    });
    this.group = this.endpoint.formGroup([this.selfId], groupEpoch(0, [this.selfId]));
    this.meta = opts.meta ?? {};
    this.members = [{ id: this.selfId, rank: 0, meta: this.meta }];
  }

  /** The room's member list as the server last sent it (rank order), connected or not. */
  get roomMemberList(): readonly Member[] {
    return this.roomMembers;
  }

  /** The room's latest shared config (also the one stored when this peer joined), or null. */
  get roomConfig(): MeshEvents['config'] | null {
    return this.latestConfig;
  }

  get epoch(): number {
    return this.group.epoch;
  }

  /** The room link of this mesh for a page at `base` (default: this page). */
  roomLink(base: string = globalThis.location.href): string {
    const url = new URL(base);
    url.search = '';
    url.hash = '';
    url.searchParams.set('room', this.roomId);
    return url.toString();
  }

  on<K extends keyof MeshEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** Resolves with the group once `size` peers are connected (e.g. wait for the whole room). */
  waitForSize(size: number, timeoutMs = 60_000): Promise<ProcessGroup> {
    if (this.group.size >= size) return Promise.resolve(this.group);
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        off();
        reject(new MeshError('ERR_TIMEOUT', `only ${this.group.size} of ${size} peers connected after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on('membership', ({ group }) => {
        if (group.size < size) return;
        this.timers.clearTimeout(timer);
        off();
        resolve(group);
      });
    });
  }

  /**
   * Drops `peerId` for misbehaviour (`reason.code` ERR_BAD_PEER_DATA, …) and never links to it again;
   * the others re-form without it. Every peer that saw the same evidence does the same.
   */
  excludePeer(peerId: string, reason: MeshError): void {
    if (this.destroyed || peerId === this.selfId) return;
    this.excluded.set(peerId, reason);
    if (this.endpoint.hasLink(peerId) || this.pendingLinks.has(peerId)) this.dropPeer(peerId, reason);
    else this.reform();
  }

  /** Peers excluded for misbehaviour, with the reason. */
  get excludedPeers(): ReadonlyMap<string, MeshError> {
    return this.excluded;
  }

  /**
   * After a timeout or a failed collective: fails the current epoch here and makes every peer move to
   * a new one (the server bumps the room's epoch), so no operation number of the failed epoch is
   * ever matched again.
   */
  restartGroup(reason: MeshError): void {
    if (this.destroyed) return;
    this.endpoint.abortGroup(reason);
    this.bumpRoomEpoch();
  }

  /** Tells the room this peer's step time (ms, −1 when not training): sent in every heartbeat. */
  setLocalPace(paceMs: () => number): void {
    this.endpoint.pace.localPaceMs = paceMs;
  }

  /** The slowest live peer by reported step time, and the peer the current epoch waits for. */
  waitInfo(): ReturnType<MeshEndpoint['waitInfo']> {
    return this.endpoint.waitInfo();
  }

  /** Last heartbeat round-trip to a peer (ms). */
  rttMs(peerId: string): number {
    return this.endpoint.rttMs(peerId);
  }

  /** Round trip of one small frame to `peerId` on `channel` (ms); see MeshEndpoint.ping. */
  ping(peerId: string, channel: 'stats' | 'bulk' = 'stats'): Promise<number> {
    return this.endpoint.ping(peerId, channel);
  }

  /** Sends one raw frame to `peerId` as is: fault tests play a hostile peer with it. */
  sendRawFrame(peerId: string, channel: 'stats' | 'bulk', frame: ArrayBuffer): void {
    this.endpoint.sendRaw(peerId, channel, frame);
  }

  /** Sends `bytes` of padding frames to `peerId` (raw throughput measurement). */
  sendPadding(peerId: string, bytes: number): Promise<void> {
    return this.endpoint.sendPadding(peerId, bytes);
  }

  /** Changes the bulk flow-control window of every link (benchmarks compare policies on live links). */
  setSendWindow(option: SendWindowOption): void {
    this.endpoint.setSendWindow(option);
  }

  /** The bulk window to `peerId` now, bytes (NaN without a link). */
  sendWindowBytes(peerId: string): number {
    return this.endpoint.sendWindowBytes(peerId);
  }

  /** Updates this peer's description. The room's epoch changes: every peer re-forms its group. */
  setMeta(meta: PeerMeta): void {
    const { run: _ignored, ...rest } = meta;
    this.meta = rest;
    this.signaling.setMeta(this.fullMeta());
  }

  /**
   * Trains `runId` (null: stops training): tells the room (this peer's meta carries the run) and from
   * then on forms groups only of the members that confirm the same run. Until the server lists this
   * peer's confirmation, its group is itself alone and not `complete`.
   */
  confirmRun(runId: string | null): void {
    if (this.destroyed || runId === this.run) return;
    this.run = runId;
    this.signaling.setMeta(this.fullMeta());
    this.reform();
  }

  /** Whether a data-channel link to `peerId` is up (in the group or not). */
  linked(peerId: string): boolean {
    return this.endpoint.hasLink(peerId);
  }

  setConfig(config: RoomConfig): void {
    this.signaling.setConfig(config);
  }

  /** Leaves the room, closes every link; idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const pending of this.pendingLinks.values()) {
      this.timers.clearTimeout(pending.timer);
      pending.link.destroy('mesh destroyed');
    }
    this.pendingLinks.clear();
    for (const timer of this.retryTimers.values()) this.timers.clearTimeout(timer);
    this.endpoint.destroy();
    this.signaling.destroy();
    this.listeners.clear();
  }

  private emit<K extends keyof MeshEvents>(event: K, payload: MeshEvents[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) (listener as Listener<K>)(payload);
  }

  private onMembers(members: Member[], epoch: number): void {
    if (this.destroyed) return;
    this.roomMembers = [...members].sort((a, b) => a.rank - b.rank);
    this.serverEpoch = epoch;
    const ids = new Set(this.roomMembers.map((m) => m.id));
    for (const peerId of [...this.endpoint.connectedPeers, ...this.pendingLinks.keys()]) {
      if (!ids.has(peerId)) this.dropPeer(peerId, new MeshError('ERR_PEER_LEFT', `peer ${peerId} left the room`, peerId));
    }
    for (const member of this.roomMembers) {
      if (member.id !== this.selfId && this.selfId < member.id && !this.excluded.has(member.id)) this.ensureLink(member.id);
    }
    this.reform();
  }

  private onSignal(from: string, data: unknown): void {
    if (this.destroyed || this.excluded.has(from)) return;
    if (isLinkRefusal(data)) return this.onLinkRefused(from, data);
    if (!this.linkSignals.accepts(data)) return this.refuseLink(from);
    // Which connection of the link this payload begins, if any (a split link has two, one offer each).
    const started = this.linkSignals.connectionStartedBy(data);
    let pending = this.pendingLinks.get(from);
    if (from < this.selfId) {
      // We answer this peer. A fresh offer for a connection we already took means it restarted the link.
      if (started !== null && (pending?.offered.has(started) || this.endpoint.hasLink(from))) {
        // Drop the old link first, so the epoch goes through "without this peer" and back: both sides
        // then start the re-formed group from operation 0.
        this.dropPeer(from, new MeshError('ERR_PEER_LEFT', `peer ${from} restarted its link`, from));
        pending = undefined;
      }
      pending ??= this.startLink(from, false);
      if (started !== null) pending.offered.add(started);
    }
    pending?.link.signal(data);
  }

  /**
   * `peerId` signals as another link type (e.g. split links on one side only): no link of this pair
   * could ever open, so tell it once, report it once and never link it (the room re-forms without it).
   */
  private refuseLink(peerId: string): void {
    const refusal: LinkRefusal = { type: 'link-refused', code: 'ERR_LINK_MISMATCH', kind: this.linkSignals.kind };
    this.signaling.sendSignal(peerId, refusal);
    this.giveUpLink(peerId, `peer ${peerId} uses another link type than this tab (${this.linkSignals.kind})`);
  }

  /** `peerId` refused this side's link type (its refuseLink). */
  private onLinkRefused(peerId: string, refusal: LinkRefusal): void {
    this.giveUpLink(peerId, `peer ${peerId} uses ${refusal.kind}, this tab ${this.linkSignals.kind}`);
  }

  private giveUpLink(peerId: string, what: string): void {
    const reason = new MeshError('ERR_LINK_MISMATCH', `${what}: both tabs of a pair must use the same link type, so they cannot train together; open them with the same settings`, peerId);
    this.excluded.set(peerId, reason);
    this.timers.clearTimeout(this.retryTimers.get(peerId));
    this.retryTimers.delete(peerId);
    this.recovering.delete(peerId);
    this.emit('error', reason);
    // No link of this pair can be open, unless the refusal came from a peer that lied: drop that too.
    if (this.endpoint.hasLink(peerId)) return this.dropPeer(peerId, reason);
    this.dropPending(peerId);
    this.reform();
  }

  private ensureLink(peerId: string): void {
    if (this.excluded.has(peerId) || this.endpoint.hasLink(peerId) || this.pendingLinks.has(peerId) || this.retryTimers.has(peerId)) return;
    this.startLink(peerId, true);
  }

  private startLink(peerId: string, initiator: boolean): PendingLink {
    const link = this.linkFactory({
      selfId: this.selfId,
      remoteId: peerId,
      initiator,
      iceServers: this.iceServers,
      sendSignal: (data) => this.signaling.sendSignal(peerId, data),
    });
    const timer = this.timers.setTimeout(() => {
      if (this.pendingLinks.get(peerId)?.link !== link) return;
      this.dropPending(peerId);
      this.emit('error', new MeshError('ERR_TIMEOUT', `no connection to peer ${peerId} after ${LINK_CONNECT_TIMEOUT_MS} ms (firewall? try a TURN server)`, peerId));
      if (initiator) this.scheduleRetry(peerId);
    }, LINK_CONNECT_TIMEOUT_MS);
    const pending: PendingLink = { link, offered: new Set(), timer };
    this.pendingLinks.set(peerId, pending);
    link.opened.then(
      () => {
        if (this.destroyed || this.pendingLinks.get(peerId) !== pending) return;
        this.timers.clearTimeout(timer);
        this.pendingLinks.delete(peerId);
        if (!this.roomMembers.some((m) => m.id === peerId)) return link.destroy('peer left the room while connecting');
        this.endpoint.addLink(countedLink(link, this.traffic));
        this.reform();
        if (this.recovering.delete(peerId)) this.bumpRoomEpoch();
      },
      () => {
        if (this.destroyed || this.pendingLinks.get(peerId) !== pending) return;
        this.dropPending(peerId);
        if (initiator) this.scheduleRetry(peerId);
      },
    );
    return pending;
  }

  private scheduleRetry(peerId: string): void {
    if (this.destroyed || this.retryTimers.has(peerId)) return;
    this.retryTimers.set(
      peerId,
      this.timers.setTimeout(() => {
        this.retryTimers.delete(peerId);
        if (!this.destroyed && this.roomMembers.some((m) => m.id === peerId)) this.ensureLink(peerId);
      }, LINK_RETRY_DELAY_MS),
    );
  }

  private dropPending(peerId: string): void {
    const pending = this.pendingLinks.get(peerId);
    if (!pending) return;
    this.pendingLinks.delete(peerId);
    this.timers.clearTimeout(pending.timer);
    pending.link.destroy('replaced or abandoned');
  }

  private dropPeer(peerId: string, reason: MeshError): void {
    this.dropPending(peerId);
    this.endpoint.removeLink(peerId, reason);
  }

  private onPeerLeft(peerId: string, reason: MeshError, orderly = false): void {
    if (this.destroyed) return;
    const misbehaved = EXCLUDING_CODES.has(reason.code) || this.excluded.has(peerId);
    if (misbehaved) this.excluded.set(peerId, reason);
    this.emit('peer-left', { peerId, reason });
    // (The app reports 'peer-left' reasons itself, except bad frames, which go out as 'error'.)
    if (reason.code === 'ERR_BAD_FRAME') this.emit('error', reason);
    // The link dropped but the room still lists the peer: reconnect (it may only have been the network).
    this.reform();
    if (!orderly && this.selfId < peerId && this.roomMembers.some((m) => m.id === peerId)) {
      // Only this pair saw the failure: bump the room's epoch so every peer re-forms (and again once
      // the link is back), instead of third parties carrying on in an epoch that has split.
      this.bumpRoomEpoch();
      if (!misbehaved) {
        this.recovering.add(peerId);
        this.scheduleRetry(peerId);
      }
    }
  }

  /**
   * Makes the server bump the room's epoch (re-sending our meta does that): all peers get a new
   * `members` and start a new group epoch from operation 0 together.
   */
  private bumpRoomEpoch(): void {
    this.signaling.setMeta(this.fullMeta());
  }

  private fullMeta(): PeerMeta {
    return this.run === null ? this.meta : { ...this.meta, run: this.run };
  }

  /** Starts a new epoch if the connected set or the room's epoch changed. */
  private reform(): void {
    if (this.destroyed) return;
    const inRun = (m: Member): boolean => this.run === null || m.meta.run === this.run;
    const self = this.roomMembers.find((m) => m.id === this.selfId);
    if (!self) return; // our own members entry has not arrived yet
    const eligible = this.roomMembers.filter((m) => !this.excluded.has(m.id) && inRun(m));
    // Not confirmed by the server yet: the others do not count this peer in, so it counts nobody in.
    const connected = inRun(self) ? eligible.filter((m) => m.id === this.selfId || this.endpoint.hasLink(m.id)) : [self];
    const ids = connected.map((m) => m.id);
    const epoch = groupEpoch(this.serverEpoch, ids);
    if (epoch === this.group.epoch && !this.endpoint.groupAborted) return;
    if (ids.length > 1 && this.endpoint.hasFormed(epoch)) {
      // That epoch's operation numbers were used (it failed, or this set was formed before): never
      // match them again; the server's next room epoch gives every peer a fresh one. (A group of this
      // peer alone exchanges nothing, so it may be formed again.)
      this.bumpRoomEpoch();
      return;
    }
    this.group = this.endpoint.formGroup(ids, epoch);
    this.members = connected.map((m, rank) => ({ id: m.id, rank, meta: m.meta }));
    this.emit('membership', {
      epoch,
      members: this.members,
      group: this.group,
      complete: inRun(self) && connected.length === eligible.length,
    });
  }
}
