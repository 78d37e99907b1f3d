/**
 * Room links, shared by the server (printing) and the browser (QR code, reading the link it was opened
 * with). Format: the app's page URL with `?room=<roomId>`, e.g. https://192.168.1.5:8443/?room=Qx…
 * A query parameter works on any static host (no server-side route needed), and the app keeps its own
 * path, so a deployment under a sub-path (/shufflebn/) links correctly. No Node imports in this file.
 */
import { RoomId, SIGNAL_PATH } from './protocol.ts';

/** Query parameter that carries the room id. */
export const ROOM_PARAM = 'room';

/** The link that opens the app at `base` (a page URL) and joins room `roomId`. Hash and other query parameters are dropped. */
export function roomLink(base: string | URL, roomId: string): string {
  const url = new URL(String(base));
  url.search = '';
  url.hash = '';
  url.searchParams.set(ROOM_PARAM, roomId);
  return url.toString();
}

/** The room id in a room link, or null if there is none or it is not a well-formed room id. */
export function roomIdFromLink(link: string | URL): string | null {
  let url: URL;
  try {
    url = new URL(String(link));
  } catch {
    return null;
  }
  const id = url.searchParams.get(ROOM_PARAM);
  return id !== null && RoomId.safeParse(id).success ? id : null;
}

/** The signaling WebSocket URL for a page served from `pageUrl` (same host and port; wss for https). */
export function signalingUrl(pageUrl: string | URL): string {
  const url = new URL(String(pageUrl));
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = SIGNAL_PATH;
  url.search = '';
  url.hash = '';
  return url.toString();
}
