/**
 * Per-client limits by remote address: which address a request counts under, and how many sockets and
 * rooms each address holds. IPv6 addresses count per /64, the block one host or one home network gets,
 * since a single machine can pick any address inside its /64.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type * as http from 'node:http';

/** The key limits are counted under: an IPv4 address, or an IPv6 /64 prefix written as `a:b:c:d::/64`. */
export type AddressKey = string;

/** Expands an IPv6 address into 8 groups (handles `::` and an embedded IPv4 tail); null if malformed. */
function ipv6Groups(address: string): number[] | null {
  let text = address.split('%')[0]!; // zone id (fe80::1%eth0)
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    if (!isIPv4(v4[1]!)) return null;
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -v4[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail, extra] = text.split('::');
  if (extra !== undefined) return null;
  const parse = (part: string | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  const missing = 8 - front.length - back.length;
  if (tail === undefined ? missing !== 0 : missing < 0) return null;
  const groups = [...front, ...new Array<number>(Math.max(0, missing)).fill(0), ...back];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/**
 * One spelling per address: IPv4 dotted, IPv4-mapped IPv6 (::ffff:1.2.3.4) as its IPv4 form, IPv6 as 8
 * full lower-case groups. Anything else (a Unix socket, garbage in a header) is returned unchanged.
 */
export function canonicalAddress(address: string): string {
  if (isIPv4(address) || !isIPv6(address.split('%')[0]!)) return address;
  const groups = ipv6Groups(address);
  if (!groups) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
}

/** The counting key of one address (see AddressKey). */
export function addressKey(address: string): AddressKey {
  const canonical = canonicalAddress(address);
  if (!canonical.includes(':') || canonical.length !== 39) return canonical;
  return `${canonical.slice(0, 19)}::/64`;
}

/** A forwarded hop without the port some proxies append: `1.2.3.4:5678`, `[2001:db8::1]:5678`. */
function withoutPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1]!;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4 ? v4[1]! : hop;
}

/**
 * The client address of an upgrade request. X-Forwarded-For is read only when the TCP peer is a trusted
 * proxy (`trustedProxies` holds canonical addresses): then the rightmost entry that is not itself a
 * trusted proxy is the client (entries to its left were written by the client and prove nothing).
 */
export function clientAddress(req: http.IncomingMessage, trustedProxies: ReadonlySet<string>): AddressKey {
  const peer = canonicalAddress(req.socket.remoteAddress ?? 'unknown');
  if (!trustedProxies.has(peer)) return addressKey(peer);
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = canonicalAddress(withoutPort(hops[i]!));
    if (!isIPv4(hop) && !isIPv6(hop)) break; // not an address: the chain is broken here
    if (!trustedProxies.has(hop)) return addressKey(hop);
  }
  return addressKey(peer);
}

/** A count per address that forgets an address once its count is back to zero (no growth over time). */
export class AddressCounter {
  private readonly counts = new Map<AddressKey, number>();

  get(address: AddressKey): number {
    return this.counts.get(address) ?? 0;
  }

  add(address: AddressKey): void {
    this.counts.set(address, this.get(address) + 1);
  }

  remove(address: AddressKey): void {
    const left = this.get(address) - 1;
    if (left > 0) this.counts.set(address, left);
    else this.counts.delete(address);
  }

  /** Addresses with a non-zero count (for stats). */
  get size(): number {
    return this.counts.size;
  }

  clear(): void {
    this.counts.clear();
  }
}
