/**
 * Static hosting of the built app (dist/): correct MIME types, the app's index.html for unknown
 * extension-less paths (client-side routes), and no way out of the root directory.
 */
import { createReadStream, promises as fs } from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';

/** MIME types by extension. WebGPU shaders are served as text/wgsl, the type the WGSL spec registers. */
export const MIME_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/wgsl; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.bin': 'application/octet-stream',
});
const FALLBACK_MIME = 'application/octet-stream';
/**
 * Cross-origin isolation (also set by the dev server, vite.config.ts): with these the page may create
 * shared memory, which the wasm backend's threads need (src/backend/wasm/pool.ts). Everything the app
 * loads is its own (no third-party scripts, fonts or images), so requiring CORP of cross-origin
 * subresources costs nothing; WebSockets and WebRTC are not subresources and are unaffected. Browsers
 * honour them only in secure contexts (https, localhost): over plain http on a LAN address the CPU
 * backend runs one thread and says why.
 */
export const CROSS_ORIGIN_ISOLATION_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
});
/** Vite puts content-hashed files under assets/: they never change, so browsers may keep them a year. */
const IMMUTABLE_PREFIX = '/assets/';
const IMMUTABLE_MAX_AGE_S = 365 * 24 * 3600;

export interface StaticOptions {
  /** Directory to serve (absolute or relative to the working directory). */
  root: string;
  /** File served for `/` and for extension-less paths that do not exist. Default index.html. */
  indexFile?: string;
}

/** The MIME type for a file name, by its extension. */
export function mimeTypeOf(fileName: string): string {
  return MIME_TYPES[path.extname(fileName).toLowerCase()] ?? FALLBACK_MIME;
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

function safePathname(url: string): string | null {
  try {
    return new URL(url).pathname;
  } catch {
    return null;
  }
}

/** Maps a URL path to a file under `root`, or null if it is malformed or would leave `root`. */
export function resolveUnderRoot(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  // Refuse traversal outright rather than normalising it away: no honest link contains '..'.
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..' || (s.startsWith('.') && s !== '.' && s !== '.well-known'))) return null;
  const full = path.resolve(root, `.${path.posix.normalize(`/${decoded}`)}`);
  return full === root || full.startsWith(root + path.sep) ? full : null;
}

/** Builds an http request handler that serves `root`. */
export function createStaticHandler(options: StaticOptions): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const root = path.resolve(options.root);
  const indexFile = options.indexFile ?? 'index.html';

  const sendFile = async (req: http.IncomingMessage, res: http.ServerResponse, file: string, urlPath: string): Promise<boolean> => {
    let stat;
    try {
      stat = await fs.stat(file);
    } catch {
      return false;
    }
    if (stat.isDirectory()) return sendFile(req, res, path.join(file, indexFile), urlPath);
    if (!stat.isFile()) return false;
    const cache = urlPath.startsWith(IMMUTABLE_PREFIX) ? `public, max-age=${IMMUTABLE_MAX_AGE_S}, immutable` : 'no-cache';
    res.writeHead(200, {
      'Content-Type': mimeTypeOf(file),
      'Content-Length': stat.size,
      'Cache-Control': cache,
      'Last-Modified': stat.mtime.toUTCString(),
      'X-Content-Type-Options': 'nosniff',
      ...CROSS_ORIGIN_ISOLATION_HEADERS,
    });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
    return true;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return plain(res, 405, 'method not allowed');
    }
    // The raw request path, before URL parsing would quietly resolve '..' segments: those are refused.
    const raw = req.url ?? '/';
    const urlPath = raw.startsWith('/') ? raw.split(/[?#]/, 1)[0]! : safePathname(raw);
    if (urlPath === null) return plain(res, 400, 'bad request');
    const file = resolveUnderRoot(root, urlPath);
    if (file === null) return plain(res, 403, 'forbidden');
    if (await sendFile(req, res, file, urlPath)) return;
    // Extension-less paths are app routes: let the app read the URL. Missing files with an extension are 404s.
    if (path.extname(urlPath) === '' && (await sendFile(req, res, path.join(root, indexFile), '/'))) return;
    plain(res, 404, 'not found');
  };

  return (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    });
  };
}
