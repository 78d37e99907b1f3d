/**
 * Room membership: create, join, resume, leave, and the grace period of a peer whose socket dropped.
 * Every change of a room's member list bumps its epoch and is broadcast to the room's live sockets;
 * `meta` changes are coalesced into at most one epoch per interval (see META_SETTLE_MS).
 *
 * Seats belong to whoever holds their resume token (resume-tokens.ts), which only the seat's own
 * `welcome` carries. The room link admits anyone to a room, but always to a new seat: a fresh id at the
 * last rank. Only the token takes an id and a rank back.
 */
import type { SignalingOptions } from './config.ts';
import { CLOSE_REPLACED } from './config.ts';
import { AddressCounter } from './addresses.ts';
import type { Connection } from './connection.ts';
import { newPeerId, newRoomId } from './ids.ts';
import { ResumeTokens } from './resume-tokens.ts';
import type { PeerMeta, RoomConfig, ServerMessage } from '../signaling/protocol.ts';
import { PROTOCOL_VERSION } from '../signaling/protocol.ts';
import { RoomRegistry, type Room, type Seat } from './rooms.ts';
import type { LoadedRooms, SavedRoom } from './room-store.ts';

export type MembershipOptions = Pick<
  SignalingOptions,
  'maxPeersPerRoom' | 'maxRooms' | 'maxRoomsPerAddress' | 'resumeGraceMs' | 'roomRestoreMs' | 'metaSettleMs' | 'metaEpochIntervalMs' | 'resumeKey' | 'iceServers' | 'timers' | 'log'
>;

/** What a `join` asks for. */
export interface JoinRequest {
  roomId: string;
  meta?: PeerMeta | undefined;
  resumePeerId?: string | undefined;
  resumeToken?: string | undefined;
}

function sameMeta(a: PeerMeta, b: PeerMeta): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Where membership reports a change worth saving (room-store.ts); absent: nothing is saved. */
export interface ChangeSink {
  changed(): void;
}

export class Membership {
  readonly rooms = new RoomRegistry<Connection>();
  /** Live rooms per creating address (MAX_ROOMS_PER_ADDRESS). */
  readonly roomsByAddress = new AddressCounter();
  /** Grace and meta timers currently pending, for stats() and for clearing on close. */
  private readonly graceTimers = new Set<unknown>();
  private readonly metaRooms = new Set<Room<Connection>>();
  private readonly tokens: ResumeTokens;
  /**
   * Until this time (server clock, ms) an unknown room is answered with ERR_ROOM_RESTORING (retry)
   * instead of ERR_ROOM_NOT_FOUND: set when the server found saved state at start, i.e. it restarted,
   * and a room it lost (saved too late, or a damaged file) may still be recreated by its members.
   */
  private restartWindowUntil = -Infinity;

  constructor(
    private readonly opts: MembershipOptions,
    private readonly store: ChangeSink | null = null,
  ) {
    this.tokens = new ResumeTokens(opts.resumeKey);
  }

  /**
   * Puts back the rooms saved before a restart: each with its config, epoch and next join number, its
   * seats waiting for their members as after a dropped socket, for `roomRestoreMs` (then they go and an
   * empty room is freed, as any room in memory). Members return with their resume tokens.
   */
  restore(loaded: LoadedRooms): void {
    const now = this.opts.timers.now();
    if (loaded.existed) this.restartWindowUntil = now + this.opts.roomRestoreMs;
    for (const saved of loaded.rooms) {
      if (this.rooms.size >= this.opts.maxRooms || this.rooms.get(saved.id)) continue;
      const room = this.rooms.create(saved.id, saved.createdBy);
      if (saved.createdBy !== null) this.roomsByAddress.add(saved.createdBy);
      room.config = saved.config ? { from: saved.config.from, config: { ...saved.config.config } } : null;
      room.nextSeq = saved.nextSeq;
      room.restoreUntil = now + this.opts.roomRestoreMs;
      for (const s of saved.seats) {
        room.seats.push({ id: s.id, seq: s.seq, meta: s.meta, pendingMeta: undefined, holder: null, graceTimer: undefined });
      }
      room.seats.sort((a, b) => a.seq - b.seq);
      for (const seat of room.seats) this.startGrace(room, seat, this.opts.roomRestoreMs);
      room.epoch = saved.epoch;
    }
    if (loaded.rooms.length > 0) this.opts.log(`${this.rooms.size} room(s) restored; their members have ${this.opts.roomRestoreMs} ms to return`);
  }

  /** What room-store.ts saves: every room that has a seat, with its settled state. */
  snapshot(): SavedRoom[] {
    const saved: SavedRoom[] = [];
    for (const room of this.rooms.all()) {
      if (room.seats.length === 0) continue;
      saved.push({
        id: room.id,
        createdBy: room.createdBy,
        epoch: room.epoch,
        nextSeq: room.nextSeq,
        config: room.config ? { from: room.config.from, config: room.config.config } : null,
        seats: room.seats.map((s) => ({ id: s.id, seq: s.seq, meta: s.meta })),
      });
    }
    return saved;
  }

  /** `config`: stores the room's config (latest wins) and sends it to every member, the sender included. */
  setConfig(conn: Connection, config: RoomConfig): void {
    const room = conn.room;
    if (!room || conn.peerId === null) return;
    room.config = { from: conn.peerId, config };
    this.broadcast(room, { type: 'config', from: conn.peerId, config });
    this.store?.changed();
  }

  get pendingTimers(): number {
    return this.graceTimers.size + this.metaRooms.size;
  }

  /** `create`: a new room with an unguessable id, joined by the sender as rank 0. */
  create(conn: Connection, meta: PeerMeta | undefined): void {
    if (conn.room) return conn.sendError('ERR_ALREADY_IN_ROOM', 'this connection is already in a room: leave it first');
    if (!this.mayCreateRoom(conn)) return;
    const room = this.openRoom(newRoomId(), conn);
    this.opts.log(`room ${room.id.slice(0, 6)}… created`);
    this.seatNew(conn, room, newPeerId(), meta ?? {});
  }

  /**
   * An empty room made by the server itself, for the room link `npm start` prints. It waits for its
   * first member and is freed like any other room once its last member leaves.
   */
  reserve(): string {
    if (this.rooms.size >= this.opts.maxRooms) throw new Error('the server has too many rooms open');
    const room = this.rooms.create(newRoomId());
    this.opts.log(`room ${room.id.slice(0, 6)}… opened by the server`);
    return room.id;
  }

  /**
   * `join`: enter the room of a link. With a valid resume token (`resumePeerId` + `resumeToken`):
   * - the seat is still held (socket dropped, or a phone changed networks before the server noticed):
   *   the new socket takes it over, same id and rank; a still-open old socket is closed with 4000;
   * - the room is unknown (the server restarted without it: no data directory, or not saved in time):
   *   the room is recreated under its id, and for ROOM_RESTORE_MS returning members take their old
   *   places in their old order (a saved room comes back whole at start: see restore());
   * - the seat has expired in a live room: the id comes back, at the last rank (the others went on
   *   without it, so it must not become rank 0 again).
   * Without a valid token a resume is an ordinary join (fresh id, last rank), and an unknown room is
   * refused (ERR_ROOM_RESTORING, try again, within ROOM_RESTORE_MS of a restart; else not found): a
   * stranger never picks an id, a rank or a room id.
   */
  join(conn: Connection, request: JoinRequest): void {
    if (conn.room) return conn.sendError('ERR_ALREADY_IN_ROOM', 'this connection is already in a room: leave it first');
    const { roomId, meta, resumePeerId, resumeToken } = request;
    const seq = resumePeerId !== undefined && resumeToken !== undefined ? this.tokens.verify(roomId, resumePeerId, resumeToken) : null;
    let room = this.rooms.get(roomId);
    if (!room) {
      if (seq === null && this.opts.timers.now() < this.restartWindowUntil) {
        return conn.sendError('ERR_ROOM_RESTORING', 'the server has just restarted and does not know this room yet: its members may still be coming back, try again in a few seconds');
      }
      if (seq === null) return conn.sendError('ERR_ROOM_NOT_FOUND', 'this room link is not known to the server: ask for a new link');
      if (!this.mayCreateRoom(conn)) return;
      room = this.openRoom(roomId, conn);
      room.restoreUntil = this.opts.timers.now() + this.opts.roomRestoreMs;
      this.opts.log(`room ${room.id.slice(0, 6)}… recreated by a returning member`);
    }
    if (seq !== null) {
      const held = room.seat(resumePeerId!);
      if (held && held.seq === seq) return this.resumeSeat(conn, room, held, meta);
      if (!held) {
        if (!this.hasRoomFor(conn, room)) return;
        const restoring = this.opts.timers.now() < room.restoreUntil;
        return this.seatNew(conn, room, resumePeerId!, meta ?? {}, restoring ? seq : undefined);
      }
    } else if (resumePeerId !== undefined) {
      this.opts.log(`socket ${conn.connId}: resume without a valid token joins as a new peer`);
    }
    if (!this.hasRoomFor(conn, room)) return;
    this.seatNew(conn, room, this.freshPeerId(room), meta ?? {});
  }

  /** `leave`, or a socket closed on purpose: the seat goes at once. */
  leave(conn: Connection): void {
    const { room, peerId } = conn;
    if (!room || peerId === null) return;
    this.detach(conn);
    const seat = room.seat(peerId);
    if (seat && seat.holder === conn) this.removeSeat(room, peerId);
  }

  /** A socket lost without a goodbye: its seat waits `resumeGraceMs` for a resume, then goes. */
  dropped(conn: Connection): void {
    const { room, peerId } = conn;
    if (!room || peerId === null) return;
    this.detach(conn);
    const seat = room.seat(peerId);
    if (!seat || seat.holder !== conn) return;
    seat.holder = null;
    this.startGrace(room, seat, this.opts.resumeGraceMs);
  }

  /** A seat without a socket waits `ms` for its member to resume it, then goes. */
  private startGrace(room: Room<Connection>, seat: Seat<Connection>, ms: number): void {
    const timer = this.opts.timers.setTimeout(() => {
      this.graceTimers.delete(timer);
      if (seat.holder === null && seat.graceTimer === timer) this.removeSeat(room, seat.id);
    }, ms);
    seat.graceTimer = timer;
    this.graceTimers.add(timer);
  }

  /** `meta`: a peer updates what it shows about itself; the others see it at the room's next epoch. */
  setMeta(conn: Connection, meta: PeerMeta): void {
    const seat = this.seatOf(conn);
    if (!seat || !conn.room) return;
    this.queueMeta(conn.room, seat, meta);
  }

  /** Sends one serialized message to every live socket of the room (each with its own backpressure check). */
  broadcast(room: Room<Connection>, message: ServerMessage): void {
    const text = JSON.stringify(message);
    for (const holder of room.holders()) holder.sendText(text);
  }

  /** Frees every room and timer (server shutdown). */
  close(): void {
    for (const timer of this.graceTimers) this.opts.timers.clearTimeout(timer);
    this.graceTimers.clear();
    for (const room of this.metaRooms) this.opts.timers.clearTimeout(room.metaTimer);
    this.metaRooms.clear();
    this.rooms.clear();
    this.roomsByAddress.clear();
  }

  seatOf(conn: Connection): Seat<Connection> | undefined {
    if (!conn.room || conn.peerId === null) return undefined;
    const seat = conn.room.seat(conn.peerId);
    return seat && seat.holder === conn ? seat : undefined;
  }

  private mayCreateRoom(conn: Connection): boolean {
    if (this.roomsByAddress.get(conn.address) >= this.opts.maxRoomsPerAddress) {
      conn.sendError('ERR_TOO_MANY_ROOMS', `this address already has ${this.opts.maxRoomsPerAddress} rooms open: leave one first`);
      return false;
    }
    if (this.rooms.size >= this.opts.maxRooms) {
      conn.sendError('ERR_TOO_MANY_ROOMS', 'the server has too many rooms open: try again later');
      return false;
    }
    return true;
  }

  private openRoom(roomId: string, conn: Connection): Room<Connection> {
    this.roomsByAddress.add(conn.address);
    return this.rooms.create(roomId, conn.address);
  }

  private hasRoomFor(conn: Connection, room: Room<Connection>): boolean {
    if (room.seats.length < this.opts.maxPeersPerRoom) return true;
    this.freeIfEmpty(room);
    conn.sendError('ERR_ROOM_FULL', `this room is full (${this.opts.maxPeersPerRoom} peers): ask for a new link`);
    return false;
  }

  private freshPeerId(room: Room<Connection>): string {
    for (;;) {
      const id = newPeerId();
      if (!room.seat(id)) return id;
    }
  }

  private seatNew(conn: Connection, room: Room<Connection>, peerId: string, meta: PeerMeta, seq?: number): void {
    room.addSeat(peerId, meta, conn, seq);
    conn.room = room;
    conn.peerId = peerId;
    this.welcome(conn, room);
    this.broadcastMembers(room);
    if (room.config) conn.send({ type: 'config', from: room.config.from, config: room.config.config });
  }

  private resumeSeat(conn: Connection, room: Room<Connection>, seat: Seat<Connection>, meta: PeerMeta | undefined): void {
    this.clearGrace(seat);
    const previous = seat.holder;
    if (previous) {
      this.detach(previous);
      previous.ws.close(CLOSE_REPLACED, 'this peer resumed on a newer connection');
    }
    seat.holder = conn;
    conn.room = room;
    conn.peerId = seat.id;
    this.welcome(conn, room);
    // The list as the others see it at this epoch; a changed meta reaches everyone at the next one.
    conn.send({ type: 'members', roomId: room.id, epoch: room.epoch, members: room.members() });
    if (meta !== undefined && !sameMeta(meta, seat.pendingMeta ?? seat.meta)) this.queueMeta(room, seat, meta);
    if (room.config) conn.send({ type: 'config', from: room.config.from, config: room.config.config });
  }

  private welcome(conn: Connection, room: Room<Connection>): void {
    const seat = room.seat(conn.peerId!)!;
    conn.send({
      type: 'welcome',
      version: PROTOCOL_VERSION,
      peerId: seat.id,
      roomId: room.id,
      resumeToken: this.tokens.issue(room.id, seat.id, seat.seq),
      iceServers: this.opts.iceServers.map((s) => ({ ...s })),
      limits: { maxPeersPerRoom: this.opts.maxPeersPerRoom },
    });
  }

  /**
   * Records a meta and schedules the epoch that shows it: META_SETTLE_MS after the first of a burst
   * (the rest of the burst joins the same epoch), and not sooner than META_EPOCH_INTERVAL_MS after the
   * previous meta epoch. A join or leave before then carries it in its own epoch. An unchanged meta
   * still asks for an epoch: the mesh re-sends its meta to make every peer re-form after a link failure.
   */
  private queueMeta(room: Room<Connection>, seat: Seat<Connection>, meta: PeerMeta): void {
    seat.pendingMeta = meta;
    if (room.metaTimer !== undefined) return;
    const now = this.opts.timers.now();
    const delay = Math.max(this.opts.metaSettleMs, room.lastMetaEpochAt + this.opts.metaEpochIntervalMs - now);
    room.metaTimer = this.opts.timers.setTimeout(() => {
      room.metaTimer = undefined;
      this.metaRooms.delete(room);
      if (!room.seats.some((s) => s.pendingMeta !== undefined)) return;
      room.epoch++;
      this.broadcastMembers(room);
    }, delay);
    this.metaRooms.add(room);
  }

  /** Applies every pending meta (they become part of the current epoch) and cancels the meta timer. */
  private settleMeta(room: Room<Connection>): void {
    for (const seat of room.seats) {
      if (seat.pendingMeta === undefined) continue;
      seat.meta = seat.pendingMeta;
      seat.pendingMeta = undefined;
      room.lastMetaEpochAt = this.opts.timers.now();
    }
    if (room.metaTimer === undefined) return;
    this.opts.timers.clearTimeout(room.metaTimer);
    room.metaTimer = undefined;
    this.metaRooms.delete(room);
  }

  private removeSeat(room: Room<Connection>, peerId: string): void {
    const seat = room.seat(peerId);
    if (seat) this.clearGrace(seat);
    if (!room.removeSeat(peerId)) return;
    if (this.freeIfEmpty(room)) {
      this.opts.log(`room ${room.id.slice(0, 6)}… freed`);
      return;
    }
    this.broadcastMembers(room);
  }

  private freeIfEmpty(room: Room<Connection>): boolean {
    if (!this.rooms.freeIfEmpty(room)) return false;
    this.settleMeta(room);
    this.store?.changed();
    if (room.createdBy !== null) this.roomsByAddress.remove(room.createdBy);
    return true;
  }

  private clearGrace(seat: Seat<Connection>): void {
    if (seat.graceTimer === undefined) return;
    this.opts.timers.clearTimeout(seat.graceTimer);
    this.graceTimers.delete(seat.graceTimer);
    seat.graceTimer = undefined;
  }

  private detach(conn: Connection): void {
    conn.room = null;
    conn.peerId = null;
  }

  /** Broadcasts the member list of a new epoch (the caller bumped it); pending metas join this epoch. */
  private broadcastMembers(room: Room<Connection>): void {
    this.settleMeta(room);
    this.broadcast(room, { type: 'members', roomId: room.id, epoch: room.epoch, members: room.members() });
    this.store?.changed();
  }
}
