/**
 * Room links as a person pastes them. The server's link format is `/?room=<id>` on the app's origin
 * (src/server/links.ts builds them); here we read them back, tolerating a bare id, surrounding
 * whitespace and links copied from another host (the id is what matters).
 */
import { ROOM_PARAM, roomLink } from '../signaling/links.ts';
import { RoomId } from '../signaling/protocol.ts';
import { appError } from './errors.ts';

/** Builds the shareable link of a room on this app's origin (the server's link format). */
export const roomUrl = roomLink;

/**
 * The room id in a pasted link or bare id. Throws ERR_BAD_LINK (with the reason) when there is none.
 */
export function parseRoomLink(input: string): string {
  const text = input.trim();
  if (text === '') throw appError('ERR_BAD_LINK', 'the link is empty');
  let candidate = text;
  if (/^[a-z][a-z0-9+.-]*:/i.test(text) || text.startsWith('/') || text.startsWith('?')) {
    let url: URL;
    try {
      url = new URL(text, 'http://link.invalid/');
    } catch {
      throw appError('ERR_BAD_LINK', `not a valid URL: ${text.slice(0, 80)}`);
    }
    const id = url.searchParams.get(ROOM_PARAM);
    if (id === null) throw appError('ERR_BAD_LINK', `the link has no ?${ROOM_PARAM}= part`);
    candidate = id;
  }
  const parsed = RoomId.safeParse(candidate);
  if (!parsed.success) throw appError('ERR_BAD_LINK', `"${candidate.slice(0, 80)}" is not a room id (22-64 letters, digits, - or _)`);
  return parsed.data;
}

/** The room id in the page's own URL, or null when the page was opened without one. */
export function roomIdFromLocation(href: string): string | null {
  const id = new URL(href).searchParams.get(ROOM_PARAM);
  return id === null ? null : id;
}

/** The app's own page without a room (keeps a sub-path deployment's path). */
export function landingUrl(href: string): string {
  const url = new URL(href);
  url.search = '';
  url.hash = '';
  return url.toString();
}
