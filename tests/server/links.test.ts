/** Room links, signaling URLs, server URLs, CLI parsing and the self-signed certificate. */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateCertificate } from '../../src/server/certs.ts';
import { parseServerArgs } from '../../src/server/cli.ts';
import { roomIdFromLink, roomLink, signalingUrl } from '../../src/signaling/links.ts';
import { serverUrls } from '../../src/server/urls.ts';

const ROOM = 'Qx3_-abcdefghijklmnopq';

describe('room links', () => {
  it('puts the room id in ?room= of the page URL and reads it back', () => {
    expect(roomLink('https://192.168.1.5:8443/', ROOM)).toBe(`https://192.168.1.5:8443/?room=${ROOM}`);
    expect(roomLink('http://localhost:8080/app/index.html?room=old&x=1#top', ROOM)).toBe(`http://localhost:8080/app/index.html?room=${ROOM}`);
    expect(roomIdFromLink(roomLink('http://h:1/sub/', ROOM))).toBe(ROOM);
  });

  it('returns null for links without a well-formed room id', () => {
    expect(roomIdFromLink('http://h/')).toBeNull();
    expect(roomIdFromLink('http://h/?room=short')).toBeNull();
    expect(roomIdFromLink(`http://h/?room=${ROOM}%3Cscript%3E`)).toBeNull();
    expect(roomIdFromLink('not a url')).toBeNull();
  });

  it('derives the signaling URL from the page URL', () => {
    expect(signalingUrl(`https://10.0.0.2:8443/?room=${ROOM}`)).toBe('wss://10.0.0.2:8443/signal');
    expect(signalingUrl('http://localhost:5173/tests/pages/harness.html')).toBe('ws://localhost:5173/signal');
  });
});

describe('server URLs', () => {
  const interfaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [
      { address: '192.168.1.5', family: 'IPv4', internal: false },
      { address: 'fe80::1', family: 'IPv6', internal: false },
    ],
    wlan0: [{ address: '10.0.0.7', family: 'IPv4', internal: false }],
  } as unknown as Parameters<typeof serverUrls>[3];

  it('lists localhost and every LAN IPv4 address when bound to all interfaces', () => {
    expect(serverUrls('https', '0.0.0.0', 8443, interfaces)).toEqual({
      local: 'https://localhost:8443/',
      lan: ['https://192.168.1.5:8443/', 'https://10.0.0.7:8443/'],
    });
  });

  it('lists only the bound address otherwise', () => {
    expect(serverUrls('http', '127.0.0.1', 8080, interfaces)).toEqual({ local: 'http://localhost:8080/', lan: [] });
    expect(serverUrls('http', '10.0.0.7', 80, interfaces)).toEqual({ local: 'http://10.0.0.7:80/', lan: ['http://10.0.0.7:80/'] });
  });
});

describe('command line', () => {
  it('uses defaults, then environment, then flags', () => {
    expect(parseServerArgs([], {})).toMatchObject({ port: 8080, host: '0.0.0.0', https: false, iceServers: [] });
    const env = { PORT: '9000', HTTPS: '1', ICE_SERVERS: '[{"urls":"stun:s.test:3478"}]', ALLOWED_ORIGINS: 'https://a.test, https://b.test' };
    expect(parseServerArgs([], env)).toMatchObject({
      port: 9000, https: true, iceServers: [{ urls: 'stun:s.test:3478' }], allowedOrigins: ['https://a.test', 'https://b.test'],
    });
    expect(parseServerArgs(['--port', '9100', '--host=127.0.0.1', '--ice-servers', '[]'], env)).toMatchObject({ port: 9100, host: '127.0.0.1', iceServers: [] });
    expect(parseServerArgs(['--cert', 'c.pem', '--key', 'k.pem'], {})).toMatchObject({ https: true, certFile: 'c.pem', keyFile: 'k.pem' });
  });

  it.each([
    [['--port', 'eighty']],
    [['--port', '70000']],
    [['--ice-servers', '{oops']],
    [['--ice-servers', '[{"url":"stun:x"}]']],
    [['--cert', 'c.pem']],
    [['--frobnicate']],
    [['--port']],
  ])('refuses %j with ERR_BAD_ARGS', (argv) => {
    expect(() => parseServerArgs(argv, {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGS' }));
  });
});

describe('self-signed certificate', () => {
  it('names localhost and the LAN addresses, is reused, and is remade for a new address', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'certs-'));
    try {
      const first = await loadOrCreateCertificate(dir, ['192.168.1.5']);
      expect(first.created).toBe(true);
      const x509 = new X509Certificate(first.cert);
      expect(x509.subjectAltName).toContain('DNS:localhost');
      expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');
      expect(x509.subjectAltName).toContain('IP Address:192.168.1.5');
      expect(x509.checkPrivateKey((await import('node:crypto')).createPrivateKey(first.key))).toBe(true);
      expect(statSync(path.join(dir, 'key.pem')).mode & 0o077).toBe(0);
      const again = await loadOrCreateCertificate(dir, ['192.168.1.5']);
      expect(again).toMatchObject({ created: false, cert: first.cert });
      const moved = await loadOrCreateCertificate(dir, ['10.0.0.7']);
      expect(moved.created).toBe(true);
      expect(new X509Certificate(moved.cert).subjectAltName).toContain('IP Address:10.0.0.7');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
