/**
 * Which web pages may open a signaling socket. By default only the server's own pages: the origins of
 * its local and LAN URLs (pageOrigins in urls.ts, http and https forms), read from the address the
 * http server actually listens on, so port 0 and the Vite dev server's port need no configuration.
 * `allowedOrigins` adds more (a reverse proxy's public name, a hostname the machine is reached by).
 *
 * The check stops other web sites, which a user's browser visits with the user's network position, from
 * using the server (cross-site WebSocket hijacking, DNS rebinding: the list holds IP literals and
 * localhost, never a name an attacker controls). A request without an Origin header is not from a
 * browser page (browsers always send it on WebSocket upgrades); such a client could send any Origin it
 * likes, so refusing it would protect nothing: it is admitted and held to the per-address limits.
 */
import type * as http from 'node:http';
import type * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ORIGINS_REFRESH_MS } from './config.ts';
import { pageOrigins } from './urls.ts';

/** Browsers lower-case scheme and host and drop default ports; entries given by people may not. */
function normalizeOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin;
  }
}

export class OriginPolicy {
  private readonly extra: ReadonlySet<string>;
  private own: { at: number; origins: ReadonlySet<string> } | null = null;

  constructor(
    private readonly server: http.Server | https.Server,
    allowedOrigins: readonly string[],
    private readonly now: () => number,
  ) {
    this.extra = new Set(allowedOrigins.map(normalizeOrigin));
  }

  /** True if a request with this Origin header (undefined: none) may open a socket. */
  allows(origin: string | undefined): boolean {
    if (origin === undefined) return true;
    return this.extra.has(origin) || this.ownOrigins().has(origin);
  }

  /** The server's own origins now (LAN addresses can come and go while it runs). */
  ownOrigins(): ReadonlySet<string> {
    const at = this.now();
    if (this.own && at - this.own.at < ORIGINS_REFRESH_MS) return this.own.origins;
    const address = this.server.address() as AddressInfo | string | null;
    const origins = address && typeof address === 'object' ? new Set(pageOrigins(address.address, address.port)) : new Set<string>();
    this.own = { at, origins };
    return origins;
  }
}
