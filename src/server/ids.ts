/** Unguessable identifiers for rooms and peers. */
import { randomBytes } from 'node:crypto';
import { RoomId } from '../signaling/protocol.ts';

/** Random bytes in a room id: 16 bytes = 128 bits, 22 base64url characters. */
export const ROOM_ID_BYTES = 16;
/** Random bytes in a peer id: 9 bytes = 72 bits, 12 base64url characters (only unique within a room). */
export const PEER_ID_BYTES = 9;

/** A fresh room id: the room link is the only secret that admits a browser to a room. */
export function newRoomId(): string {
  return randomBytes(ROOM_ID_BYTES).toString('base64url');
}

/** A fresh peer id. */
export function newPeerId(): string {
  return randomBytes(PEER_ID_BYTES).toString('base64url');
}

/** True if `id` has the shape of a room id this server could have issued. */
export function isWellFormedRoomId(id: string): boolean {
  return RoomId.safeParse(id).success;
}
