/**
 * The rooms' state on disk, so a restarted server gives every room back: its settings (the stored
 * config it replays to joiners, which carries the run), its membership epoch, its seats (id, join
 * number, meta) and the join number the next seat gets. Returning members then resume their seats with
 * their tokens (resume-tokens.ts) as after any dropped socket, and their WebRTC links never see the
 * restart: the member list they get back is the one they had, at the same epoch.
 *
 * One JSON file in the data directory, rewritten whole (a temporary file, then rename: a reader or a
 * crash sees the old file or the new one, never half of one) at most once per ROOM_STATE_WRITE_DELAY_MS
 * after a change. The file is untrusted input like any message: read once at start, size-capped and
 * schema-checked; anything wrong with it makes the server start empty with a logged warning.
 *
 *   { "version": 1, "rooms": [{ "id", "createdBy", "epoch", "nextSeq", "config": {from, config} | null,
 *                               "seats": [{ "id", "seq", "meta" }] }] }
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { PeerId, PeerMeta, RoomConfig, RoomId } from '../signaling/protocol.ts';
import type { Timers } from '../util/timers.ts';

/** File name of the rooms' state inside the data directory. */
export const ROOM_STATE_FILE = 'rooms.json';
/** Format version written into the file; a file of another version is set aside (start empty). */
export const ROOM_STATE_VERSION = 1;
/**
 * Largest state file read back (bytes). A full server (MAX_ROOMS rooms of MAX_PEERS_PER_ROOM seats,
 * each seat ~400 bytes with its meta, each config ≤ ~20 KB) stays under 32 MiB; a bigger file was not
 * written by this server.
 */
export const MAX_ROOM_STATE_BYTES = 32 * 1024 * 1024;
/**
 * A change is written at most this long after it happened (ms): a burst of joins makes one write, and
 * a crash loses at most this much (a member who joined in it rejoins as a new seat).
 */
export const ROOM_STATE_WRITE_DELAY_MS = 1_000;

const SeatState = z.object({ id: PeerId, seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), meta: PeerMeta });
const RoomState = z.object({
  id: RoomId,
  createdBy: z.string().max(64).nullable(),
  epoch: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  nextSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  config: z.object({ from: PeerId.nullable(), config: RoomConfig }).nullable(),
  seats: z.array(SeatState),
});
export type SavedSeat = z.infer<typeof SeatState>;
export type SavedRoom = z.infer<typeof RoomState>;

export interface RoomStoreOptions {
  /** Directory of the state file (created 0700 if missing). */
  dir: string;
  /** Rooms and seats per room read back at most (the server's own caps). */
  maxRooms: number;
  maxSeatsPerRoom: number;
  timers: Pick<Timers, 'setTimeout' | 'clearTimeout'>;
  log: (line: string) => void;
  /** Override of ROOM_STATE_WRITE_DELAY_MS (tests). */
  writeDelayMs?: number;
}

/** What load() found. `existed`: there was a state file (even one that could not be used): this is a restart. */
export interface LoadedRooms {
  rooms: SavedRoom[];
  existed: boolean;
}

function fileSchema(opts: Pick<RoomStoreOptions, 'maxRooms' | 'maxSeatsPerRoom'>) {
  return z.object({
    version: z.literal(ROOM_STATE_VERSION),
    rooms: z.array(RoomState.extend({ seats: z.array(SeatState).min(1).max(opts.maxSeatsPerRoom) })).max(opts.maxRooms),
  });
}

export class RoomStore {
  readonly file: string;
  private timer: unknown = undefined;
  private closed = false;

  /** `snapshot` returns the rooms to write now (read when the delayed write happens). */
  constructor(
    private readonly opts: RoomStoreOptions,
    private readonly snapshot: () => SavedRoom[],
  ) {
    this.file = path.join(opts.dir, ROOM_STATE_FILE);
  }

  /** Reads the state file once. A missing file is a first start; a bad one is reported and ignored. */
  load(): LoadedRooms {
    if (!existsSync(this.file)) return { rooms: [], existed: false };
    const bad = (why: string): LoadedRooms => {
      this.opts.log(`warning: ${this.file} ${why}: starting without the saved rooms (their members join again as new peers)`);
      return { rooms: [], existed: true };
    };
    try {
      const size = statSync(this.file).size;
      if (size > MAX_ROOM_STATE_BYTES) return bad(`is ${size} bytes, over the ${MAX_ROOM_STATE_BYTES}-byte cap`);
      const parsed = fileSchema(this.opts).safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
      if (!parsed.success) return bad(`is not a room state of version ${ROOM_STATE_VERSION} (${parsed.error.issues[0]?.message ?? 'invalid'} at ${parsed.error.issues[0]?.path.join('.') ?? '?'})`);
      const rooms = parsed.data.rooms;
      const ids = new Set(rooms.map((r) => r.id));
      if (ids.size !== rooms.length) return bad('lists a room twice');
      for (const room of rooms) {
        const seqs = new Set(room.seats.map((s) => s.seq));
        if (new Set(room.seats.map((s) => s.id)).size !== room.seats.length || seqs.size !== room.seats.length) return bad(`lists a seat of room ${room.id.slice(0, 6)}… twice`);
        if (room.seats.some((s) => s.seq >= room.nextSeq)) return bad(`gives room ${room.id.slice(0, 6)}… a seat at or past its next join number`);
      }
      return { rooms, existed: true };
    } catch (err) {
      return bad(`cannot be read (${(err as Error).message})`);
    }
  }

  /** Something persisted changed: write within the write delay (one write for a burst). */
  changed(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = this.opts.timers.setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, this.opts.writeDelayMs ?? ROOM_STATE_WRITE_DELAY_MS);
  }

  /** Writes the pending change now (server shutdown), then writes nothing more. Idempotent. */
  close(): void {
    if (this.closed) return;
    if (this.timer !== undefined) {
      this.opts.timers.clearTimeout(this.timer);
      this.timer = undefined;
      this.write();
    }
    this.closed = true;
  }

  /** Writes the current state now: a temporary file beside the state file, then an atomic rename. */
  write(): void {
    if (this.closed) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
      const text = JSON.stringify({ version: ROOM_STATE_VERSION, rooms: this.snapshot() });
      writeFileSync(tmp, text, { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (err) {
      // A full disk must not take the rooms down: they live on in memory, only a restart loses them.
      this.opts.log(`warning: cannot save the rooms to ${this.file} (${(err as Error).message}): a restart now would lose them`);
      try {
        unlinkSync(tmp);
      } catch {
        // nothing was written
      }
    }
  }
}
