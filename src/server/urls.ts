/**
 * Where a server bound to `host` can be reached: the URLs printed at start, and the origins the page
 * asks for (`GET /api/origins`, see src/signaling/origins.ts) to build its link for other devices.
 */
import type * as http from 'node:http';
import * as os from 'node:os';
import type { LanOrigin, ServerOrigins } from '../signaling/origins.ts';

type Interfaces = ReturnType<typeof os.networkInterfaces>;

/** Hosts that mean "every interface". */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);
/** Hosts that mean "this machine only". */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);
/**
 * Interfaces a phone on the same Wi-Fi can rarely reach (container bridges, VMs, VPN tunnels): listed
 * after the others, so the first origin offered is the likely one.
 */
const VIRTUAL_INTERFACE = /^(docker|br-|veth|virbr|vboxnet|vmnet|vEthernet|cni|flannel|lxc|lxd|podman|tun|tap|utun|wg|zt|tailscale)/i;

export interface ServerUrls {
  /** For a browser on this machine. */
  local: string;
  /** For other devices on the network (IPv4 addresses of every non-internal interface). */
  lan: string[];
}

/** A non-internal IPv4 address of this machine and the interface that has it. */
export interface LanInterface {
  address: string;
  interface: string;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Non-internal IPv4 addresses with their interface names, physical interfaces first (order otherwise
 * as the OS lists them). IPv6 is left out: link-local addresses need a zone id no phone can type.
 */
export function lanInterfaces(interfaces: Interfaces = os.networkInterfaces()): LanInterface[] {
  const out: LanInterface[] = [];
  for (const [name, list] of Object.entries(interfaces)) {
    for (const addr of list ?? []) if (!addr.internal && addr.family === 'IPv4') out.push({ address: addr.address, interface: name });
  }
  const rank = (i: LanInterface): number => (VIRTUAL_INTERFACE.test(i.interface) ? 1 : 0);
  return out.sort((a, b) => rank(a) - rank(b));
}

/** Non-internal IPv4 addresses of this machine (for a certificate's subjectAltName). */
export function lanAddresses(interfaces: Interfaces = os.networkInterfaces()): string[] {
  return lanInterfaces(interfaces).map((i) => i.address);
}

/**
 * The origins of a server bound to `host`:`port`: for this machine, and for other devices (every LAN
 * address when bound to all interfaces, the bound address otherwise, none when bound to loopback).
 */
export function serverOrigins(
  protocol: 'http' | 'https',
  host: string,
  port: number,
  opts: { selfSigned?: boolean; interfaces?: Interfaces } = {},
): ServerOrigins {
  const origin = (h: string): string => `${protocol}://${formatHost(h)}:${port}`;
  const interfaces = opts.interfaces ?? os.networkInterfaces();
  let local = origin('localhost');
  let lan: LanOrigin[];
  if (WILDCARD_HOSTS.has(host)) {
    lan = lanInterfaces(interfaces).map((i) => ({ origin: origin(i.address), ...i }));
  } else if (LOOPBACK_HOSTS.has(host)) {
    lan = [];
  } else {
    local = origin(host);
    const named = lanInterfaces(interfaces).find((i) => i.address === host);
    lan = [{ origin: origin(host), address: host, interface: named?.interface ?? '' }];
  }
  return { tls: protocol === 'https', selfSigned: protocol === 'https' && (opts.selfSigned ?? false), local, lan };
}

/** Lists URLs for `protocol` ('http' | 'https') and `port`; `interfaces` is injectable for tests. */
export function serverUrls(protocol: 'http' | 'https', host: string, port: number, interfaces: Interfaces = os.networkInterfaces()): ServerUrls {
  const origins = serverOrigins(protocol, host, port, { interfaces });
  return { local: `${origins.local}/`, lan: origins.lan.map((o) => `${o.origin}/`) };
}

export interface OriginsHandlerOptions {
  protocol: 'http' | 'https';
  /** The address the server is bound to, as given to listen(). */
  host: string;
  /** The port actually bound (known only after listen() with port 0). */
  port: () => number;
  selfSigned: boolean;
  /** Injectable for tests; read on every request, since a laptop's addresses change (Wi-Fi, DHCP). */
  interfaces?: () => Interfaces;
}

/** Answers `GET /api/origins` with the server's current `ServerOrigins` as JSON. */
export function createOriginsHandler(opts: OriginsHandlerOptions): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    const body = JSON.stringify(serverOrigins(opts.protocol, opts.host, opts.port(), { selfSigned: opts.selfSigned, interfaces: opts.interfaces?.() }));
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      // Addresses change with the network: never from a cache.
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/**
 * The origins of the pages this server serves, for the signaling socket's Origin check: the local and
 * LAN URLs of serverUrls() in both their http and https forms, plus the loopback literals (127.0.0.1,
 * [::1]) and this machine's name (bare and `.local`, as mDNS announces it) when the server listens on
 * loopback or every interface: a page opened at http://127.0.0.1:port is as much ours as one at
 * localhost. `hostname` and `interfaces` are injectable for tests.
 */
export function pageOrigins(host: string, port: number, interfaces: Interfaces = os.networkInterfaces(), hostname = os.hostname()): string[] {
  const origins = new Set<string>();
  const names = hostname && /^[a-z0-9-]+$/i.test(hostname) ? [hostname, `${hostname}.local`] : [];
  for (const protocol of ['http', 'https'] as const) {
    const urls = serverUrls(protocol, host, port, interfaces);
    // URL.origin drops a default port (80 for http, 443 for https) and lower-cases, as browsers do.
    for (const url of [urls.local, ...urls.lan]) origins.add(new URL(url).origin);
    if (WILDCARD_HOSTS.has(host) || LOOPBACK_HOSTS.has(host)) {
      for (const name of ['127.0.0.1', '[::1]', 'localhost', ...names]) origins.add(new URL(`${protocol}://${name}:${port}`).origin);
    }
  }
  return [...origins];
}
