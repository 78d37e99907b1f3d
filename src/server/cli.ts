/**
 * Command line and environment of `npm start`, parsed into one typed config. Pure: no I/O, so the
 * parsing is unit-tested directly.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { RTCIceServerLike } from '../signaling/protocol.ts';

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '0.0.0.0';

export interface ServerConfig {
  port: number;
  host: string;
  https: boolean;
  /** PEM files given with --cert/--key; without them --https uses a self-signed certificate in certDir. */
  certFile?: string;
  keyFile?: string;
  certDir: string;
  distDir: string;
  /** Where the server keeps state that must survive a restart (the resume-token key). */
  dataDir: string;
  iceServers: RTCIceServerLike[];
  allowedOrigins?: string[];
  /** Reverse proxies whose X-Forwarded-For names the client address. */
  trustedProxies?: string[];
  help: boolean;
}

const IceServers = z.array(
  z.object({
    urls: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    username: z.string().optional(),
    credential: z.string().optional(),
  }),
);

export const USAGE = `Usage: npm start -- [options]
  --port N              port to listen on (env PORT, default ${DEFAULT_PORT})
  --host H              address to bind (env HOST, default ${DEFAULT_HOST}: every interface)
  --https               serve over TLS (env HTTPS=1); needed for WebGPU on other devices
  --cert F --key F      PEM certificate and key (env TLS_CERT, TLS_KEY); default: a self-signed
                        certificate generated once into .certs/ (naming every LAN address and
                        this machine's name; remade when an address changes)
  --cert-dir DIR        where the self-signed certificate is kept (default .certs)
  --ice-servers JSON    STUN/TURN servers for WebRTC, e.g. '[{"urls":"stun:stun.example.org"}]'
                        (env ICE_SERVERS; default none: peers on one LAN need none)
  --allowed-origins L   comma-separated origins allowed to open the signaling socket besides the
                        server's own local and LAN URLs (env ALLOWED_ORIGINS)
  --trusted-proxies L   comma-separated addresses of reverse proxies whose X-Forwarded-For header
                        gives the client address for per-client limits (env TRUSTED_PROXIES)
  --data-dir DIR        keeps the rooms (settings, run, seats) and the key of the seats' resume
                        tokens, so rooms and members come back after a restart (env DATA_DIR,
                        default .data)
  --dist DIR            built app to serve (default dist)
  --help                this text`;

function argError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_BAD_ARGS' });
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw argError(`port must be an integer 0-65535, got "${text}"`);
  return port;
}

function commaList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

function parseIceServers(text: string): RTCIceServerLike[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw argError('ICE servers must be JSON, e.g. [{"urls":"stun:stun.example.org:3478"}]');
  }
  const parsed = IceServers.safeParse(raw);
  if (!parsed.success) throw argError('ICE servers must be an array of {urls, username?, credential?}');
  return parsed.data;
}

/** Parses `argv` (without node and script) over `env`; flags win over environment variables. */
export function parseServerArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ServerConfig {
  const config: ServerConfig = {
    port: env.PORT ? parsePort(env.PORT) : DEFAULT_PORT,
    host: env.HOST || DEFAULT_HOST,
    https: env.HTTPS === '1' || env.HTTPS === 'true',
    certFile: env.TLS_CERT || undefined,
    keyFile: env.TLS_KEY || undefined,
    certDir: '.certs',
    distDir: 'dist',
    dataDir: env.DATA_DIR || '.data',
    iceServers: env.ICE_SERVERS ? parseIceServers(env.ICE_SERVERS) : [],
    allowedOrigins: env.ALLOWED_ORIGINS ? commaList(env.ALLOWED_ORIGINS) : undefined,
    trustedProxies: env.TRUSTED_PROXIES ? commaList(env.TRUSTED_PROXIES) : undefined,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw argError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--port': config.port = parsePort(value()); break;
      case '--host': config.host = value(); break;
      case '--https': config.https = true; break;
      case '--cert': config.certFile = value(); config.https = true; break;
      case '--key': config.keyFile = value(); config.https = true; break;
      case '--ice-servers': config.iceServers = parseIceServers(value()); break;
      case '--allowed-origins': config.allowedOrigins = commaList(value()); break;
      case '--cert-dir': config.certDir = value(); break;
      case '--trusted-proxies': config.trustedProxies = commaList(value()); break;
      case '--data-dir': config.dataDir = value(); break;
      case '--dist': config.distDir = value(); break;
      case '--help': case '-h': config.help = true; break;
      default: throw argError(`unknown option ${arg} (see --help)`);
    }
  }
  if ((config.certFile === undefined) !== (config.keyFile === undefined)) {
    throw argError('--cert and --key go together');
  }
  for (const origin of config.allowedOrigins ?? []) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin.replace(/\/$/, ''))) throw argError(`allowed origin must look like https://host[:port], got "${origin}"`);
  }
  for (const proxy of config.trustedProxies ?? []) {
    if (isIP(proxy) === 0) throw argError(`trusted proxy must be an IP address, got "${proxy}"`);
  }
  return config;
}
