/**
 * Room membership: create, join, resume, leave, and the grace period of a peer whose socket dropped.
 * Every change of a room's member list bumps its epoch and is broadcast to the room's live sockets.
 */
import type { SignalingOptions } from './config.ts';
import { CLOSE_REPLACED } from './config.ts';
import type { Connection } from './connection.ts';
import { newPeerId, newRoomId } from './ids.ts';
import type { PeerMeta, ServerMessage } from '../signaling/protocol.ts';
import { PROTOCOL_VERSION } from '../signaling/protocol.ts';
import { RoomRegistry, type Room, type Seat } from './rooms.ts';

export type MembershipOptions = Pick<
  SignalingOptions,
  'maxPeersPerRoom' | 'maxRooms' | 'resumeGraceMs' | 'iceServers' | 'timers' | 'log'
>;

export class Membership {
  readonly rooms = new RoomRegistry<Connection>();
  /** Grace timers currently pending, for stats() and for clearing on close. */
  private readonly graceTimers = new Set<unknown>();

  constructor(private readonly opts: MembershipOptions) {}

  get pendingTimers(): number {
    return this.graceTimers.size;
  }

  /** `create`: a new room with an unguessable id, joined by the sender as rank 0. */
  create(conn: Connection, meta: PeerMeta | undefined): void {
    if (conn.room) return conn.sendError('ERR_ALREADY_IN_ROOM', 'this connection is already in a room: leave it first');
    if (this.rooms.size >= this.opts.maxRooms) {
      return conn.sendError('ERR_TOO_MANY_ROOMS', 'the server has too many rooms open: try again later');
    }
    const room = this.rooms.create(newRoomId());
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
   * `join`: enter the room of a link. With `resumePeerId`, a peer that lost its socket takes its old seat
   * back (same id, same rank) if the seat is still held.
   *
   * A rejoin with resumePeerId for a room this server does not know (it restarted and lost its memory)
   * recreates the room under that id. Trade-off: the server cannot tell a restart from a made-up id, so
   * anyone who knows a well-formed id can create a room by that name; but knowing a live room's id
   * already admits one to it, and the alternative would strand every open mesh after a server restart.
   * Ranks in a recreated room follow the order in which peers come back.
   *
   * Resuming a seat whose old socket still looks alive (a phone changed networks before the server
   * noticed) moves the seat to the new socket and closes the old one. Only room members know peer ids,
   * and members are trusted with each other's training traffic anyway.
   */
  join(conn: Connection, roomId: string, meta: PeerMeta | undefined, resumePeerId: string | undefined): void {
    if (conn.room) return conn.sendError('ERR_ALREADY_IN_ROOM', 'this connection is already in a room: leave it first');
    let room = this.rooms.get(roomId);
    if (!room) {
      if (resumePeerId === undefined) {
        return conn.sendError('ERR_ROOM_NOT_FOUND', 'this room link is not known to the server: ask for a new link');
      }
      if (this.rooms.size >= this.opts.maxRooms) {
        return conn.sendError('ERR_TOO_MANY_ROOMS', 'the server has too many rooms open: try again later');
      }
      room = this.rooms.create(roomId);
      this.opts.log(`room ${room.id.slice(0, 6)}… recreated by a resuming peer`);
    }
    const held = resumePeerId === undefined ? undefined : room.seat(resumePeerId);
    if (held) return this.resumeSeat(conn, room, held, meta);
    if (room.seats.length >= this.opts.maxPeersPerRoom) {
      this.rooms.freeIfEmpty(room);
      return conn.sendError('ERR_ROOM_FULL', `this room is full (${this.opts.maxPeersPerRoom} peers): ask for a new link`);
    }
    // A resume id whose seat expired is reused (ids only need to be unique within the room).
    this.seatNew(conn, room, resumePeerId ?? newPeerId(), meta ?? {});
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
    const timer = this.opts.timers.setTimeout(() => {
      this.graceTimers.delete(timer);
      if (seat.holder === null && seat.graceTimer === timer) this.removeSeat(room, peerId);
    }, this.opts.resumeGraceMs);
    seat.graceTimer = timer;
    this.graceTimers.add(timer);
  }

  /** `meta`: a peer updates what it shows about itself. */
  setMeta(conn: Connection, meta: PeerMeta): void {
    const seat = this.seatOf(conn);
    if (!seat || !conn.room) return;
    seat.meta = meta;
    conn.room.epoch++;
    this.broadcastMembers(conn.room);
  }

  broadcast(room: Room<Connection>, message: ServerMessage): void {
    const text = JSON.stringify(message);
    for (const holder of room.holders()) {
      if (!holder.closed && holder.ws.readyState === holder.ws.OPEN) holder.ws.send(text);
    }
  }

  /** Frees every room and timer (server shutdown). */
  close(): void {
    for (const timer of this.graceTimers) this.opts.timers.clearTimeout(timer);
    this.graceTimers.clear();
    this.rooms.clear();
  }

  seatOf(conn: Connection): Seat<Connection> | undefined {
    if (!conn.room || conn.peerId === null) return undefined;
    const seat = conn.room.seat(conn.peerId);
    return seat && seat.holder === conn ? seat : undefined;
  }

  private seatNew(conn: Connection, room: Room<Connection>, peerId: string, meta: PeerMeta): void {
    room.addSeat(peerId, meta, conn);
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
    if (meta !== undefined && JSON.stringify(meta) !== JSON.stringify(seat.meta)) {
      seat.meta = meta;
      room.epoch++;
      this.broadcastMembers(room);
    } else {
      // Nothing changed for the others: only the returning peer needs the list.
      conn.send({ type: 'members', roomId: room.id, epoch: room.epoch, members: room.members() });
    }
    if (room.config) conn.send({ type: 'config', from: room.config.from, config: room.config.config });
  }

  private welcome(conn: Connection, room: Room<Connection>): void {
    conn.send({
      type: 'welcome',
      version: PROTOCOL_VERSION,
      peerId: conn.peerId!,
      roomId: room.id,
      iceServers: this.opts.iceServers.map((s) => ({ ...s })),
      limits: { maxPeersPerRoom: this.opts.maxPeersPerRoom },
    });
  }

  private removeSeat(room: Room<Connection>, peerId: string): void {
    const seat = room.seat(peerId);
    if (seat) this.clearGrace(seat);
    if (!room.removeSeat(peerId)) return;
    if (this.rooms.freeIfEmpty(room)) {
      this.opts.log(`room ${room.id.slice(0, 6)}… freed`);
      return;
    }
    this.broadcastMembers(room);
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

  private broadcastMembers(room: Room<Connection>): void {
    this.broadcast(room, { type: 'members', roomId: room.id, epoch: room.epoch, members: room.members() });
  }
}
