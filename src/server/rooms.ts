/**
 * Rooms model: each room keeps its seats in join order (rank = index), an epoch that counts membership
 * changes, and the latest shared config. A seat outlives its socket for a grace period so a peer whose
 * signaling socket dropped can come back with the same id and rank.
 */
import type { Member, PeerMeta, RoomConfig } from '../signaling/protocol.ts';
import type { AddressKey } from './addresses.ts';

/** What a seat needs from the socket that holds it. */
export interface SeatHolder {
  readonly connId: number;
}

export interface Seat<H extends SeatHolder = SeatHolder> {
  readonly id: string;
  /** Join number within the room: seats are ordered by it, so it fixes the rank; signed into the resume token. */
  readonly seq: number;
  /** What the others see at the current epoch. */
  meta: PeerMeta;
  /** A newer meta waiting for the room's next epoch (see Membership: meta changes are coalesced). */
  pendingMeta: PeerMeta | undefined;
  /** The live socket, or null while the seat waits out its resume grace period. */
  holder: H | null;
  /** Grace timer handle while `holder` is null. */
  graceTimer: unknown;
}

export class Room<H extends SeatHolder = SeatHolder> {
  /** Seats in join order: a seat's index is its rank. */
  readonly seats: Seat<H>[] = [];
  /** Bumped on every change of the member list (join, leave, meta). */
  epoch = 0;
  /** Latest config and the id of the peer that sent it. */
  config: { from: string | null; config: RoomConfig } | null = null;
  /** The seq the next new seat gets. */
  nextSeq = 0;
  /** Timer that turns pending meta changes into one epoch, and when the last such epoch was made (ms). */
  metaTimer: unknown = undefined;
  lastMetaEpochAt = -Infinity;
  /**
   * Until this time (server clock, ms) a member returning with a valid token takes its old place (by
   * seq) rather than the last rank: set when a room is recreated after a server restart.
   */
  restoreUntil = -Infinity;

  /** `createdBy`: the address whose room quota this room uses (null: opened by the server itself). */
  constructor(
    readonly id: string,
    readonly createdBy: AddressKey | null = null,
  ) {}

  seat(peerId: string): Seat<H> | undefined {
    return this.seats.find((s) => s.id === peerId);
  }

  /**
   * Adds a seat in seq order. Without `seq` it gets the next one (the newest member, the highest rank);
   * with one (a member restored after a restart) it goes back between its old neighbours.
   */
  addSeat(peerId: string, meta: PeerMeta, holder: H, seq = this.nextSeq): Seat<H> {
    const seat: Seat<H> = { id: peerId, seq, meta, pendingMeta: undefined, holder, graceTimer: undefined };
    const at = this.seats.findIndex((s) => s.seq > seq);
    if (at < 0) this.seats.push(seat);
    else this.seats.splice(at, 0, seat);
    this.nextSeq = Math.max(this.nextSeq, seq + 1);
    this.epoch++;
    return seat;
  }

  /** Removes a seat; members behind it move up one rank. Returns false if it was not there. */
  removeSeat(peerId: string): boolean {
    const index = this.seats.findIndex((s) => s.id === peerId);
    if (index < 0) return false;
    this.seats.splice(index, 1);
    this.epoch++;
    return true;
  }

  /** The member list as broadcast to peers. */
  members(): Member[] {
    return this.seats.map((s, rank) => ({ id: s.id, rank, meta: s.meta }));
  }

  /** Live sockets in the room (seats in grace have none). */
  holders(): H[] {
    const live: H[] = [];
    for (const s of this.seats) if (s.holder) live.push(s.holder);
    return live;
  }
}

/** All live rooms of one server, by id. */
export class RoomRegistry<H extends SeatHolder = SeatHolder> {
  private readonly rooms = new Map<string, Room<H>>();

  get size(): number {
    return this.rooms.size;
  }

  get(roomId: string): Room<H> | undefined {
    return this.rooms.get(roomId);
  }

  /** Makes an empty room; the caller picked an id that is not in use. */
  create(roomId: string, createdBy: AddressKey | null = null): Room<H> {
    if (this.rooms.has(roomId)) throw new Error(`room ${roomId} exists`);
    const room = new Room<H>(roomId, createdBy);
    this.rooms.set(roomId, room);
    return room;
  }

  /** Frees the room if no seat is left; returns true if it was freed. */
  freeIfEmpty(room: Room<H>): boolean {
    if (room.seats.length > 0) return false;
    return this.rooms.delete(room.id);
  }

  all(): IterableIterator<Room<H>> {
    return this.rooms.values();
  }

  clear(): void {
    this.rooms.clear();
  }
}
