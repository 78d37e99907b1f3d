/** The URLs under which a server bound to `host` can be reached: for printing at start. */
import * as os from 'node:os';

type Interfaces = ReturnType<typeof os.networkInterfaces>;

/** Hosts that mean "every interface". */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

export interface ServerUrls {
  /** For a browser on this machine. */
  local: string;
  /** For other devices on the network (IPv4 addresses of every non-internal interface). */
  lan: string[];
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Lists URLs for `protocol` ('http' | 'https') and `port`; `interfaces` is injectable for tests. */
export function serverUrls(protocol: 'http' | 'https', host: string, port: number, interfaces: Interfaces = os.networkInterfaces()): ServerUrls {
  const url = (h: string): string => `${protocol}://${formatHost(h)}:${port}/`;
  if (!WILDCARD_HOSTS.has(host)) {
    const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
    return { local: url(loopback ? 'localhost' : host), lan: loopback ? [] : [url(host)] };
  }
  const lan: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const addr of list ?? []) {
      if (!addr.internal && addr.family === 'IPv4') lan.push(url(addr.address));
    }
  }
  return { local: url('localhost'), lan };
}

/** Non-internal IPv4 addresses of this machine (for a certificate's subjectAltName). */
export function lanAddresses(interfaces: Interfaces = os.networkInterfaces()): string[] {
  const out: string[] = [];
  for (const list of Object.values(interfaces)) for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') out.push(a.address);
  return out;
}
