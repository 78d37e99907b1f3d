/**
 * Room links as a person pastes them, and as other devices open them. The link format is
 * `/?room=<id>` on the app's origin (src/signaling/links.ts builds them); here we read them back,
 * tolerating a bare id, surrounding whitespace and links copied from another host (the id is what
 * matters), and move a link to an origin other devices can reach (src/signaling/origins.ts).
 */
import { ROOM_PARAM, roomLink } from '../signaling/links.ts';
import type { ServerOrigins } from '../signaling/origins.ts';
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

/**
 * The same link on another origin: path, every query parameter (the room, and any setting a link
 * carries) and the hash are kept; only scheme, host and port change.
 */
export function linkOnOrigin(link: string, origin: string): string {
  const from = new URL(link);
  // Built on the origin and given the parts one by one: setting only `host` would keep the old port
  // where the new origin has none, and a path like //other.host must stay a path.
  const to = new URL(new URL(origin).origin);
  to.pathname = from.pathname;
  to.search = from.search;
  to.hash = from.hash;
  return to.toString();
}

/** True for hosts only this machine can open: localhost (and *.localhost), 127.0.0.0/8, ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1';
}

/** One link a person can give to another device. */
export interface DeviceLink {
  link: string;
  /** What the choice shows: the address, and its interface when known (`192.168.1.5 (wlan0)`). */
  label: string;
}

/**
 * The links for other devices: `link` moved to each origin the server says other devices can reach.
 * A page opened on a name the server does not list (`<hostname>.local`, a reverse proxy's domain)
 * already has a link that works elsewhere: it comes first. A page on localhost has none of its own.
 */
export function linksForOtherDevices(link: string, origins: ServerOrigins | null): DeviceLink[] {
  const page = new URL(link);
  const lan = (origins?.lan ?? []).map((o) => ({ link: linkOnOrigin(link, o.origin), label: o.interface ? `${o.address} (${o.interface})` : o.address }));
  const listed = origins?.lan.some((o) => o.origin === page.origin) ?? false;
  return isLoopbackHost(page.hostname) || listed ? lan : [{ link, label: page.host }, ...lan];
}

/**
 * What the room view must tell a person about a link for other devices:
 * - `cpu`: plain http on a LAN address is not a secure context, so other devices get no WebGPU;
 * - `certificate`: https with a self-signed certificate, so other devices show a warning once;
 * - `local-only`: the server listens on this machine only;
 * - `unknown`: the server did not say where other devices reach it, and this page's link is localhost;
 * - null: nothing to add (https with a trusted certificate).
 */
export type ReachNote = 'cpu' | 'certificate' | 'local-only' | 'unknown';

export function reachNote(deviceLink: string | null, origins: ServerOrigins | null): ReachNote | null {
  if (deviceLink === null) return origins ? 'local-only' : 'unknown';
  const url = new URL(deviceLink);
  if (url.protocol === 'http:') return 'cpu';
  return origins?.selfSigned ? 'certificate' : null;
}
