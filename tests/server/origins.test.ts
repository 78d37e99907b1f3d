/**
 * `GET /api/origins`: where other devices reach the server, as the room view asks for it. Checked
 * against the options the server was started with and against fake interface lists (the real server
 * here binds 127.0.0.1 only: nothing leaves the machine).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, type NetworkInterfaceInfo } from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer } from '../../src/server/app.ts';
import { loadOrCreateCertificate } from '../../src/server/certs.ts';
import { createOriginsHandler, serverOrigins } from '../../src/server/urls.ts';
import { ORIGINS_PATH, ServerOrigins } from '../../src/signaling/origins.ts';
import { startDevServer } from '../helpers/browser.ts';

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;
const v4 = (address: string, internal = false) => ({ address, family: 'IPv4', internal }) as NetworkInterfaceInfo;
const v6 = (address: string) => ({ address, family: 'IPv6', internal: false }) as NetworkInterfaceInfo;

/** A laptop as os.networkInterfaces() lists it: a container bridge first, then Wi-Fi and Ethernet. */
const LAPTOP: Interfaces = {
  lo: [v4('127.0.0.1', true)],
  docker0: [v4('172.17.0.1')],
  wlan0: [v4('192.168.1.5'), v6('fe80::1')],
  eth0: [v4('10.0.0.7')],
};

let tmp = '';
let dist = '';
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'origins-'));
  dist = path.join(tmp, 'dist');
  mkdirSync(dist);
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html>');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** GET (or another method) with Node's client; `ca` trusts a test certificate. */
function request(url: string, opts: { method?: string; ca?: string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: opts.method ?? 'GET', ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serverOrigins', () => {
  it('lists every LAN IPv4 address when bound to all interfaces, virtual interfaces last', () => {
    expect(serverOrigins('https', '0.0.0.0', 8443, { selfSigned: true, interfaces: LAPTOP })).toEqual({
      tls: true,
      selfSigned: true,
      local: 'https://localhost:8443',
      lan: [
        { origin: 'https://192.168.1.5:8443', address: '192.168.1.5', interface: 'wlan0' },
        { origin: 'https://10.0.0.7:8443', address: '10.0.0.7', interface: 'eth0' },
        { origin: 'https://172.17.0.1:8443', address: '172.17.0.1', interface: 'docker0' },
      ],
    });
  });

  it('lists nothing for other devices when bound to loopback, and only the bound address otherwise', () => {
    expect(serverOrigins('http', '127.0.0.1', 8080, { interfaces: LAPTOP })).toEqual({ tls: false, selfSigned: false, local: 'http://localhost:8080', lan: [] });
    expect(serverOrigins('http', '10.0.0.7', 8080, { interfaces: LAPTOP }).lan).toEqual([{ origin: 'http://10.0.0.7:8080', address: '10.0.0.7', interface: 'eth0' }]);
    // Plain http is never "self-signed", whatever the caller says.
    expect(serverOrigins('http', '0.0.0.0', 8080, { selfSigned: true, interfaces: LAPTOP }).selfSigned).toBe(false);
  });
});

describe('GET /api/origins', () => {
  it('answers with the http server\'s origins as JSON, uncached; other methods get 405', async () => {
    const app = await startAppServer({ port: 0, host: '127.0.0.1', distDir: dist });
    try {
      const res = await request(`http://127.0.0.1:${app.port}${ORIGINS_PATH}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-store');
      const body = JSON.parse(res.body);
      expect(ServerOrigins.parse(body)).toEqual({ tls: false, selfSigned: false, local: `http://localhost:${app.port}`, lan: [] });
      expect((await request(`http://127.0.0.1:${app.port}${ORIGINS_PATH}?t=1`)).body).toBe(res.body);
      expect((await request(`http://127.0.0.1:${app.port}${ORIGINS_PATH}`, { method: 'POST' })).status).toBe(405);
      // The rest of the site is still the static app.
      expect((await request(`http://127.0.0.1:${app.port}/`)).body).toBe('<!doctype html>');
    } finally {
      await app.close();
    }
  });

  it('says https and self-signed for a generated certificate, https and not self-signed for a CA-issued one', async () => {
    const own = await loadOrCreateCertificate(path.join(tmp, 'certs'), [], new Date(), ['localhost']);
    const ca = await generate([{ name: 'commonName', value: 'Test CA' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', extensions: [{ name: 'basicConstraints', cA: true }] });
    const issued = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      ca: { key: ca.private, cert: ca.cert },
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    for (const [tls, trust, selfSigned] of [[own, own.cert, true], [{ cert: issued.cert, key: issued.private }, ca.cert, false]] as const) {
      const app = await startAppServer({ port: 0, host: '127.0.0.1', distDir: dist, tls });
      try {
        const body = JSON.parse((await request(`https://127.0.0.1:${app.port}${ORIGINS_PATH}`, { ca: trust })).body);
        expect(body).toEqual({ tls: true, selfSigned, local: `https://localhost:${app.port}`, lan: [] });
        expect(app.selfSigned).toBe(selfSigned);
      } finally {
        await app.close();
      }
    }
  });

  it('reads the interfaces on every request (a laptop changes networks)', async () => {
    let interfaces: Interfaces = LAPTOP;
    const server = http.createServer(createOriginsHandler({ protocol: 'http', host: '0.0.0.0', port: () => 8080, selfSigned: false, interfaces: () => interfaces }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const before = ServerOrigins.parse(JSON.parse((await request(url)).body));
      expect(before.lan.map((o) => o.address)).toEqual(['192.168.1.5', '10.0.0.7', '172.17.0.1']);
      interfaces = { lo: LAPTOP.lo, wlan0: [v4('172.20.1.4')] };
      const after = ServerOrigins.parse(JSON.parse((await request(url)).body));
      expect(after.lan).toEqual([{ origin: 'http://172.20.1.4:8080', address: '172.20.1.4', interface: 'wlan0' }]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('is served by the dev server too (npm run dev), for its own address and port', async () => {
    const dev = await startDevServer();
    try {
      const body = ServerOrigins.parse(JSON.parse((await request(`${dev.url}${ORIGINS_PATH}`)).body));
      // Bound to 127.0.0.1 (vite.config.ts): this machine only.
      expect(body).toEqual({ tls: false, selfSigned: false, local: `http://localhost:${dev.port}`, lan: [] });
    } finally {
      await dev.close();
    }
  });
});
