/**
 * Room links, the same link for other devices (origin swapped, every parameter kept), signaling URLs,
 * server URLs, CLI parsing and the self-signed certificate (names, reuse, replacement).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { generate } from 'selfsigned';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLoopbackHost, linkOnOrigin, linksForOtherDevices, parseRoomLink, reachNote } from '../../src/app/links.ts';
import { isSelfSigned, loadOrCreateCertificate, machineDnsNames } from '../../src/server/certs.ts';
import { parseServerArgs } from '../../src/server/cli.ts';
import { roomIdFromLink, roomLink, signalingUrl } from '../../src/signaling/links.ts';
import type { ServerOrigins } from '../../src/signaling/origins.ts';
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
    expect(parseServerArgs(['--https', '--cert-dir', '/tmp/c'], {})).toMatchObject({ https: true, certDir: '/tmp/c' });
    expect(parseServerArgs([], {})).toMatchObject({ certDir: '.certs' });
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

describe('links for other devices', () => {
  const origins = (lan: string[], tls = false, selfSigned = false): ServerOrigins => ({
    tls,
    selfSigned,
    local: `${tls ? 'https' : 'http'}://localhost:8080`,
    lan: lan.map((address, i) => ({ origin: `${tls ? 'https' : 'http'}://${address}:8080`, address, interface: `eth${i}` })),
  });

  it('swaps only the origin: path, room, every other parameter and the hash survive', () => {
    const link = `http://localhost:8080/sub/app/?room=${ROOM}&preset=tiny&mode=shuffle#curves`;
    const moved = linkOnOrigin(link, 'https://192.168.1.5:8443');
    expect(moved).toBe(`https://192.168.1.5:8443/sub/app/?room=${ROOM}&preset=tiny&mode=shuffle#curves`);
    expect(roomIdFromLink(moved)).toBe(ROOM);
    expect(new URL(moved).searchParams.get('preset')).toBe('tiny');
    // The default port of the new scheme is not kept from the old one.
    expect(linkOnOrigin(`http://localhost:8080/?room=${ROOM}`, 'https://10.0.0.7')).toBe(`https://10.0.0.7/?room=${ROOM}`);
    // A path that looks like a host stays a path on the new origin.
    expect(new URL(linkOnOrigin(`http://localhost:8080//evil.test/?room=${ROOM}`, 'https://10.0.0.7:8443')).host).toBe('10.0.0.7:8443');
  });

  it('offers the link on every LAN origin, labelled with address and interface', () => {
    const link = `http://localhost:8080/?room=${ROOM}&x=1`;
    expect(linksForOtherDevices(link, origins(['192.168.1.5', '10.0.0.7']))).toEqual([
      { link: `http://192.168.1.5:8080/?room=${ROOM}&x=1`, label: '192.168.1.5 (eth0)' },
      { link: `http://10.0.0.7:8080/?room=${ROOM}&x=1`, label: '10.0.0.7 (eth1)' },
    ]);
    // Without the server's answer: the page's own link, unless it names this machine only.
    expect(linksForOtherDevices(link, null)).toEqual([]);
    expect(linksForOtherDevices(`http://127.0.0.1:8080/?room=${ROOM}`, null)).toEqual([]);
    expect(linksForOtherDevices(`https://10.0.0.7:8443/?room=${ROOM}`, null)).toEqual([{ link: `https://10.0.0.7:8443/?room=${ROOM}`, label: '10.0.0.7:8443' }]);
    // Opened on a name the server does not list (mDNS, a proxy's domain): that link first, then the addresses.
    expect(linksForOtherDevices(`http://vm.local:8080/?room=${ROOM}`, origins(['192.168.1.5'])).map((l) => l.link)).toEqual([
      `http://vm.local:8080/?room=${ROOM}`,
      `http://192.168.1.5:8080/?room=${ROOM}`,
    ]);
    expect(linksForOtherDevices(`https://mesh.example.org/?room=${ROOM}`, origins([])).map((l) => l.link)).toEqual([`https://mesh.example.org/?room=${ROOM}`]);
    // Opened on a listed address: that address once, not twice.
    expect(linksForOtherDevices(`http://192.168.1.5:8080/?room=${ROOM}`, origins(['192.168.1.5', '10.0.0.7'])).map((l) => l.link)).toEqual([
      `http://192.168.1.5:8080/?room=${ROOM}`,
      `http://10.0.0.7:8080/?room=${ROOM}`,
    ]);
  });

  it('says what the other device will meet: CPU over http, a certificate warning, or no reachable address', () => {
    expect(reachNote(`http://192.168.1.5:8080/?room=${ROOM}`, origins(['192.168.1.5']))).toBe('cpu');
    expect(reachNote(`https://192.168.1.5:8080/?room=${ROOM}`, origins(['192.168.1.5'], true, true))).toBe('certificate');
    expect(reachNote(`https://192.168.1.5:8080/?room=${ROOM}`, origins(['192.168.1.5'], true, false))).toBeNull();
    expect(reachNote(null, origins([]))).toBe('local-only');
    expect(reachNote(null, null)).toBe('unknown');
  });

  it('knows which hosts only this machine can open', () => {
    for (const h of ['localhost', 'app.localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['192.168.1.5', '10.0.0.7', 'vm.local', 'localhost.example.org', '128.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
  });

  it('a moved link is still a room link the app accepts', () => {
    expect(parseRoomLink(linkOnOrigin(`http://localhost:8080/?room=${ROOM}&preset=tiny`, 'https://10.0.0.7:8443'))).toBe(ROOM);
  });
});

describe('self-signed certificate', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'certs-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The subjectAltName of a PEM certificate as "DNS:x" / "IP Address:y" entries, read by Node's X.509 parser. */
  const sanOf = (pem: string): string[] => (new X509Certificate(pem).subjectAltName ?? '').split(', ').sort();

  it('names localhost, 127.0.0.1, every LAN address, the hostname and <hostname>.local', async () => {
    const cert = await loadOrCreateCertificate(dir, ['192.168.1.5', '10.0.0.7'], new Date(), machineDnsNames('studio-pc'));
    expect(cert.created).toBe(true);
    expect(sanOf(cert.cert)).toEqual(
      ['DNS:localhost', 'DNS:studio-pc', 'DNS:studio-pc.local', 'IP Address:127.0.0.1', 'IP Address:192.168.1.5', 'IP Address:10.0.0.7'].sort(),
    );
    expect(new X509Certificate(cert.cert).checkPrivateKey(createPrivateKey(cert.key))).toBe(true);
    expect(statSync(path.join(dir, 'key.pem')).mode & 0o077).toBe(0);
    expect(isSelfSigned(cert.cert)).toBe(true);
  });

  it('derives DNS names from the hostname, leaving out names no certificate may carry', () => {
    expect(machineDnsNames('vm')).toEqual(['localhost', 'vm', 'vm.local']);
    expect(machineDnsNames('Box.lan.example')).toEqual(['localhost', 'box.lan.example', 'box', 'box.local']);
    expect(machineDnsNames('mac.local')).toEqual(['localhost', 'mac.local', 'mac']);
    expect(machineDnsNames('DESKTOP_ABC')).toEqual(['localhost']);
    expect(machineDnsNames('localhost')).toEqual(['localhost']);
  });

  it('is reused while it names every current address, and replaced when one is missing', async () => {
    const names = machineDnsNames('vm');
    const first = await loadOrCreateCertificate(dir, ['192.168.1.5', '10.0.0.7'], new Date(), names);
    // Fewer addresses than named (an interface went down): still covered, kept.
    const fewer = await loadOrCreateCertificate(dir, ['10.0.0.7'], new Date(), names);
    expect(fewer).toMatchObject({ created: false, cert: first.cert, key: first.key });
    expect(fewer.replaced).toBeUndefined();
    // A new address (another Wi-Fi): replaced, and the new one names it.
    const moved = await loadOrCreateCertificate(dir, ['10.0.0.7', '172.20.1.4'], new Date(), names);
    expect(moved.created).toBe(true);
    expect(moved.replaced).toBe('does not name 172.20.1.4');
    expect(sanOf(moved.cert)).toContain('IP Address:172.20.1.4');
    expect(moved.key).not.toBe(first.key);
    // A prefix of a named address is not named: 10.0.0.1 is not covered by 10.0.0.12.
    const twelve = await loadOrCreateCertificate(dir, ['10.0.0.12'], new Date(), names);
    const one = await loadOrCreateCertificate(dir, ['10.0.0.1'], new Date(), names);
    expect(one.created).toBe(true);
    expect(sanOf(one.cert)).toContain('IP Address:10.0.0.1');
    expect(one.cert).not.toBe(twelve.cert);
  });

  it('is replaced when the hostname changes and when it nears expiry', async () => {
    const first = await loadOrCreateCertificate(dir, ['10.0.0.7'], new Date(), machineDnsNames('old-name'));
    const renamed = await loadOrCreateCertificate(dir, ['10.0.0.7'], new Date(), machineDnsNames('new-name'));
    expect(renamed.replaced).toBe('does not name new-name, new-name.local');
    expect(sanOf(renamed.cert)).toContain('DNS:new-name.local');
    expect(renamed.cert).not.toBe(first.cert);
    const validTo = new Date(new X509Certificate(renamed.cert).validTo).getTime();
    const late = await loadOrCreateCertificate(dir, ['10.0.0.7'], new Date(validTo - 24 * 3600 * 1000), machineDnsNames('new-name'));
    expect(late).toMatchObject({ created: true, replaced: 'expires soon' });
  });

  it('tells a self-signed certificate from one a CA issued', async () => {
    const ca = await generate([{ name: 'commonName', value: 'Test CA' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', extensions: [{ name: 'basicConstraints', cA: true }] });
    const leaf = await generate([{ name: 'commonName', value: 'leaf' }], { keyType: 'ec', curve: 'P-256', ca: { key: ca.private, cert: ca.cert } });
    expect(isSelfSigned(ca.cert)).toBe(true);
    expect(isSelfSigned(leaf.cert)).toBe(false);
    expect(isSelfSigned('not a certificate')).toBe(false);
  });
});
