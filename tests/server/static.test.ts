/** Static hosting of dist/: MIME types, the index.html fallback for app routes, traversal refused. */
import * as http from 'node:http';
import * as net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStaticHandler, resolveUnderRoot } from '../../src/server/static.ts';

let base = '';
let root = '';
let outside = '';
let server: http.Server;

const INDEX = '<!doctype html><title>app</title>';

beforeAll(async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'static-'));
  root = path.join(parent, 'dist');
  outside = path.join(parent, 'secret.txt');
  mkdirSync(path.join(root, 'assets'), { recursive: true });
  mkdirSync(path.join(root, 'docs'), { recursive: true });
  writeFileSync(path.join(root, 'index.html'), INDEX);
  writeFileSync(path.join(root, 'docs', 'index.html'), 'docs');
  writeFileSync(outside, 'top secret');
  writeFileSync(path.join(root, '.env'), 'hidden');
  const files: Record<string, string> = {
    'assets/app-1a2b.js': 'export {}',
    'assets/app.css': 'body{}',
    'logo.svg': '<svg/>',
    'kernel.wasm': '\0asm',
    'bn_stats.wgsl': '@compute fn main() {}',
    'data.json': '{}',
    'blob.xyz': 'raw',
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(root, name), body);
  server = http.createServer(createStaticHandler({ root }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(path.dirname(root), { recursive: true, force: true });
});

/** Sends a request line verbatim (fetch would normalise '..' away before it leaves). */
function rawGet(target: string): Promise<{ status: number; body: string }> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => (text += d));
    socket.on('error', reject);
    socket.on('end', () => resolve({ status: Number(text.slice(9, 12)), body: text.slice(text.indexOf('\r\n\r\n') + 4) }));
  });
}

describe('static hosting', () => {
  it.each([
    ['/assets/app-1a2b.js', 'text/javascript; charset=utf-8'],
    ['/assets/app.css', 'text/css; charset=utf-8'],
    ['/logo.svg', 'image/svg+xml'],
    ['/kernel.wasm', 'application/wasm'],
    ['/bn_stats.wgsl', 'text/wgsl; charset=utf-8'],
    ['/data.json', 'application/json; charset=utf-8'],
    ['/blob.xyz', 'application/octet-stream'],
    ['/', 'text/html; charset=utf-8'],
  ])('serves %s as %s', async (url, mime) => {
    const res = await fetch(base + url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(mime);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // Cross-origin isolation on every file (page, scripts, the wasm threads' worker): shared memory for the CPU backend's threads.
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  });

  it('serves file contents byte for byte and caches only hashed assets for long', async () => {
    const asset = await fetch(`${base}/assets/app-1a2b.js`);
    expect(await asset.text()).toBe('export {}');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${base}/`)).headers.get('cache-control')).toBe('no-cache');
  });

  it('answers room links and app routes with index.html, missing files with 404', async () => {
    for (const url of ['/?room=AAAAAAAAAAAAAAAAAAAAAA', '/r/AAAAAAAAAAAAAAAAAAAAAA', '/some/route']) {
      const res = await fetch(base + url);
      expect(res.status, url).toBe(200);
      expect(await res.text(), url).toBe(INDEX);
    }
    expect((await fetch(`${base}/docs/`)).status).toBe(200);
    expect(await (await fetch(`${base}/docs`)).text()).toBe('docs');
    expect((await fetch(`${base}/missing.js`)).status).toBe(404);
  });

  it('refuses path traversal in every spelling and never serves the file outside the root', async () => {
    const secret = path.basename(outside);
    const attempts = [
      `/../${secret}`,
      `/assets/../../${secret}`,
      `/%2e%2e/${secret}`,
      `/%2E%2E%2F${secret}`,
      `/..%2f${secret}`,
      `/assets/..%5c..%5c${secret}`,
      `/%00/index.html`,
      `/%E0%A4%A`,
      `/.env`,
    ];
    for (const target of attempts) {
      const { status, body } = await rawGet(target);
      expect([400, 403], target).toContain(status);
      expect(body, target).not.toContain('top secret');
      expect(body, target).not.toContain('hidden');
    }
  });

  it('maps only paths inside the root (unit check of the resolver)', () => {
    expect(resolveUnderRoot(root, '/assets/app.css')).toBe(path.join(root, 'assets', 'app.css'));
    expect(resolveUnderRoot(root, '/')).toBe(root);
    expect(resolveUnderRoot(root, '/a/../../x')).toBeNull();
    expect(resolveUnderRoot(root, '/a\\..\\x')).toBeNull();
  });

  it('answers HEAD without a body and refuses other methods with 405', async () => {
    const head = await fetch(`${base}/logo.svg`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('6');
    expect(await head.text()).toBe('');
    const post = await fetch(`${base}/logo.svg`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});
