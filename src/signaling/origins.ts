/**
 * What the server says about reaching it from other devices (`GET /api/origins`): the origins of its
 * network addresses and whether it speaks TLS with a self-signed certificate. Served by the production
 * server (src/server/app.ts) and the dev server (vite.config.ts), read by the room view to build the
 * link and QR code "for other devices". Shared by server and browser: no Node imports in this file.
 *
 * Example answer of `npm start -- --https` on a laptop with Wi-Fi and Ethernet:
 *   { "tls": true, "selfSigned": true, "local": "https://localhost:8080",
 *     "lan": [ { "origin": "https://192.168.1.5:8080", "address": "192.168.1.5", "interface": "wlan0" },
 *              { "origin": "https://10.0.0.7:8080",    "address": "10.0.0.7",    "interface": "eth0" } ] }
 */
import { z } from 'zod';

/** The one command that gives other devices WebGPU: TLS with a self-signed certificate. */
export const HTTPS_COMMAND = 'npm start -- --https';
/** What a phone shows for a self-signed certificate, and what to tap, by browser. */
export const CERTIFICATE_STEPS = [
  { browser: 'Chrome, Edge (Android, desktop)', steps: 'Advanced → Proceed to the address (unsafe)' },
  { browser: 'Safari (iPhone, iPad, Mac)', steps: 'Show Details → visit this website → Visit Website' },
  { browser: 'Firefox', steps: 'Advanced… → Accept the Risk and Continue' },
] as const;

/** Path of the endpoint, on the app's own origin. */
export const ORIGINS_PATH = '/api/origins';
/** More interfaces than any machine has: bounds what a page accepts from the endpoint. */
export const MAX_LAN_ORIGINS = 64;

const HttpOrigin = z
  .string()
  .max(200)
  .refine((s) => {
    try {
      const url = new URL(s);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === s;
    } catch {
      return false;
    }
  }, 'an http(s) origin without path');

export const LanOrigin = z.object({
  /** e.g. https://192.168.1.5:8080 (no trailing slash: a URL's `origin`). */
  origin: HttpOrigin,
  address: z.string().max(64),
  /** Interface name as the OS reports it (wlan0, en0, Ethernet 2): lets a person pick the right one. */
  interface: z.string().max(64),
});
export type LanOrigin = z.infer<typeof LanOrigin>;

export const ServerOrigins = z.object({
  /** The server speaks https (and wss). */
  tls: z.boolean(),
  /** Its certificate is self-signed: other devices show a certificate warning once. */
  selfSigned: z.boolean(),
  /** The origin for a browser on the server's machine. */
  local: HttpOrigin,
  /** Origins other devices can reach, most likely first (virtual and VPN interfaces last). */
  lan: z.array(LanOrigin).max(MAX_LAN_ORIGINS),
});
export type ServerOrigins = z.infer<typeof ServerOrigins>;
