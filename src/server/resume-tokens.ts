/**
 * Resume tokens: the secret that lets a peer take its seat (id and rank) back after its socket dropped,
 * or put it back into a room that a restarted server no longer knows.
 *
 * A token is `<seq>.<mac>`: `seq` is the seat's join number in its room (ranks are join order, so
 * sorting by seq gives the ranks) and `mac` = HMAC-SHA256(key, roomId ‖ peerId ‖ seq), base64url. The
 * server stores nothing per token: it recomputes the MAC and compares in constant time. The key lives in
 * a file (0600, in a 0700 data directory) so a restarted server verifies the tokens it issued before;
 * deleting the file revokes every token. A token never expires on its own: it is only as long-lived as
 * the room link, which already admits anyone who holds it, and it names one seat of one room.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** Key length: 256 bits, the output size of SHA-256. */
export const RESUME_KEY_BYTES = 32;
/** File name of the key inside the data directory. */
export const RESUME_KEY_FILE = 'resume-key';

export class ResumeTokens {
  private readonly key: Uint8Array;

  /** `key` undefined: a fresh random key, valid for this process only. */
  constructor(key?: Uint8Array) {
    if (key !== undefined && key.length < RESUME_KEY_BYTES) {
      throw Object.assign(new Error(`resume key must have at least ${RESUME_KEY_BYTES} bytes, got ${key.length}`), { code: 'ERR_RESUME_KEY' });
    }
    this.key = key ?? randomBytes(RESUME_KEY_BYTES);
  }

  /** The token of seat (roomId, peerId, seq). */
  issue(roomId: string, peerId: string, seq: number): string {
    return `${seq}.${this.mac(roomId, peerId, seq).toString('base64url')}`;
  }

  /** The seat's join number if `token` was issued for (roomId, peerId); null otherwise. */
  verify(roomId: string, peerId: string, token: string): number | null {
    // Only the canonical form counts: a decimal seq without sign, exponent or leading zeros, and the
    // MAC exactly as issued. (Decoding the MAC first would accept other spellings of it: base64url's
    // last character carries bits that the decoder drops.)
    const match = /^(0|[1-9][0-9]{0,14})\.[A-Za-z0-9_-]+$/.exec(token);
    if (!match) return null;
    const seq = Number(match[1]);
    const presented = Buffer.from(token, 'utf8');
    const expected = Buffer.from(this.issue(roomId, peerId, seq), 'utf8');
    // timingSafeEqual needs equal lengths; the length of a token is public.
    if (presented.length !== expected.length) return null;
    return timingSafeEqual(presented, expected) ? seq : null;
  }

  private mac(roomId: string, peerId: string, seq: number): Buffer {
    // Ids are base64url and seq is decimal, so '\n' cannot occur inside a field: the encoding is unambiguous.
    return createHmac('sha256', this.key).update(`${roomId}\n${peerId}\n${seq}`).digest();
  }
}

/**
 * Reads the resume key from `dir`, or creates the directory (0700) and a fresh key file (0600). A key
 * file readable by others is tightened to 0600 rather than trusted as is.
 */
export function loadOrCreateResumeKey(dir: string): Uint8Array {
  const file = path.join(dir, RESUME_KEY_FILE);
  if (existsSync(file)) {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (key.length < RESUME_KEY_BYTES) {
      throw Object.assign(new Error(`${file} is damaged (${key.length} bytes): delete it to make a new one (members then rejoin with new ids)`), { code: 'ERR_RESUME_KEY' });
    }
    return key;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = randomBytes(RESUME_KEY_BYTES);
  try {
    // 'wx': never overwrite a key another server process wrote in the meantime; use that one instead.
    writeFileSync(file, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateResumeKey(dir);
    throw err;
  }
  return key;
}
