/** The pieces behind the per-client limits: address keys, the server's own page origins, resume tokens and their key file, flags. */
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addressKey, canonicalAddress } from '../../src/server/addresses.ts';
import { parseServerArgs } from '../../src/server/cli.ts';
import { loadOrCreateResumeKey, RESUME_KEY_FILE, ResumeTokens } from '../../src/server/resume-tokens.ts';
import { pageOrigins } from '../../src/server/urls.ts';
import { ResumeToken } from '../../src/signaling/protocol.ts';

describe('address keys', () => {
  it('spells each address one way and counts IPv6 per /64', () => {
    expect(canonicalAddress('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(canonicalAddress('2001:DB8::1')).toBe('2001:0db8:0000:0000:0000:0000:0000:0001');
    expect(canonicalAddress('2001:db8:0:0:0:0:0:1')).toBe(canonicalAddress('2001:db8::1'));
    expect(addressKey('2001:db8:0:0:aaaa::1')).toBe(addressKey('2001:db8::bbbb:1:2:3')); // same /64
    expect(addressKey('2001:db8:0:1::1')).not.toBe(addressKey('2001:db8::1')); // next /64
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('1:::2')).toBe('1:::2'); // not an address: kept as is, never merged with a real one
  });
});

describe('own origins', () => {
  const interfaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [{ address: '192.168.1.5', family: 'IPv4', internal: false }, { address: 'fe80::1', family: 'IPv6', internal: false }],
  } as unknown as Parameters<typeof pageOrigins>[2];

  it('lists the printed local and LAN URLs as origins, in http and https forms, plus loopback literals', () => {
    expect(new Set(pageOrigins('0.0.0.0', 8080, interfaces, 'Laptop'))).toEqual(new Set([
      'http://localhost:8080', 'http://127.0.0.1:8080', 'http://[::1]:8080', 'http://192.168.1.5:8080',
      'http://laptop:8080', 'http://laptop.local:8080',
      'https://localhost:8080', 'https://127.0.0.1:8080', 'https://[::1]:8080', 'https://192.168.1.5:8080',
      'https://laptop:8080', 'https://laptop.local:8080',
    ]));
  });

  it('drops default ports as browsers do, and lists only the bound address for a specific host', () => {
    expect(pageOrigins('127.0.0.1', 443, interfaces)).toContain('https://localhost');
    expect(pageOrigins('127.0.0.1', 80, interfaces)).toContain('http://127.0.0.1');
    expect(new Set(pageOrigins('192.168.1.5', 8443, interfaces, 'laptop'))).toEqual(new Set(['http://192.168.1.5:8443', 'https://192.168.1.5:8443']));
  });
});

describe('resume tokens', () => {
  it('verify only for the seat they were issued for, under the same key', () => {
    const tokens = new ResumeTokens(new Uint8Array(32).fill(1));
    const token = tokens.issue('R'.repeat(22), 'peer-aaaaaaa', 5);
    expect(ResumeToken.safeParse(token).success).toBe(true);
    expect(tokens.verify('R'.repeat(22), 'peer-aaaaaaa', token)).toBe(5);
    expect(tokens.verify('R'.repeat(22), 'peer-bbbbbbb', token)).toBeNull();
    expect(tokens.verify('S'.repeat(22), 'peer-aaaaaaa', token)).toBeNull();
    expect(tokens.verify('R'.repeat(22), 'peer-aaaaaaa', token.replace(/^5\./, '4.'))).toBeNull(); // another rank
    expect(tokens.verify('R'.repeat(22), 'peer-aaaaaaa', token.slice(0, -2))).toBeNull();
    expect(new ResumeTokens(new Uint8Array(32).fill(2)).verify('R'.repeat(22), 'peer-aaaaaaa', token)).toBeNull();
    expect(() => new ResumeTokens(new Uint8Array(16))).toThrow(expect.objectContaining({ code: 'ERR_RESUME_KEY' }));
  });

  it('accept only the spelling they were issued in (other spellings that decode to the same MAC are refused)', () => {
    const tokens = new ResumeTokens(new Uint8Array(32).fill(3));
    const token = tokens.issue('R'.repeat(22), 'peer-aaaaaaa', 7);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // A 256-bit MAC is 43 base64url characters: the last one's two low bits are dropped by a decoder.
    const last = alphabet.indexOf(token.at(-1)!);
    const sameBits = alphabet[last ^ 1]!;
    const respelled = token.slice(0, -1) + sameBits;
    expect(Buffer.from(respelled.split('.')[1]!, 'base64url')).toEqual(Buffer.from(token.split('.')[1]!, 'base64url'));
    expect(tokens.verify('R'.repeat(22), 'peer-aaaaaaa', respelled)).toBeNull();
    for (const seq of ['07', '+7', '7e0', ' 7', '7.0']) {
      expect(tokens.verify('R'.repeat(22), 'peer-aaaaaaa', token.replace(/^7/, seq))).toBeNull();
    }
    expect(tokens.verify('R'.repeat(22), 'peer-aaaaaaa', token)).toBe(7);
  });

  it('keeps its key in a 0700 data directory as a 0600 file, reused on the next start', () => {
    const parent = mkdtempSync(path.join(tmpdir(), 'sbn-data-'));
    const dir = path.join(parent, 'data');
    try {
      const key = loadOrCreateResumeKey(dir);
      expect(key.length).toBe(32);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const file = path.join(dir, RESUME_KEY_FILE);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(Buffer.from(loadOrCreateResumeKey(dir)).equals(Buffer.from(key))).toBe(true);
      chmodSync(file, 0o644); // loosened by hand: tightened again on load
      loadOrCreateResumeKey(dir);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      writeFileSync(file, 'short\n');
      expect(() => loadOrCreateResumeKey(dir)).toThrow(expect.objectContaining({ code: 'ERR_RESUME_KEY' }));
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('flags', () => {
  it('parses --data-dir, --trusted-proxies and --allowed-origins, with environment fallbacks', () => {
    expect(parseServerArgs([], {})).toMatchObject({ dataDir: '.data', trustedProxies: undefined });
    expect(parseServerArgs([], { DATA_DIR: '/var/lib/sbn', TRUSTED_PROXIES: '10.0.0.1, ::1' })).toMatchObject({ dataDir: '/var/lib/sbn', trustedProxies: ['10.0.0.1', '::1'] });
    expect(parseServerArgs(['--data-dir', 'd', '--trusted-proxies=127.0.0.1', '--allowed-origins', 'https://a.test:8443'], {})).toMatchObject({
      dataDir: 'd', trustedProxies: ['127.0.0.1'], allowedOrigins: ['https://a.test:8443'],
    });
  });

  it.each([[['--trusted-proxies', 'proxy.local']], [['--allowed-origins', 'a.test']], [['--allowed-origins', 'https://a.test/path']]])('refuses %j with ERR_BAD_ARGS', (argv) => {
    expect(() => parseServerArgs(argv, {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGS' }));
  });
});
