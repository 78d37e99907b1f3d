/** The production server (static + signaling on one port, http and https) and `npm start` itself. */
import { spawn } from 'node:child_process';
import * as https from 'node:https';
import * as net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startAppServer } from '../../src/server/app.ts';
import { loadOrCreateCertificate } from '../../src/server/certs.ts';
import { TestClient } from './helpers.ts';

const REPO = path.resolve(__dirname, '../..');
let tmp = '';
let dist = '';
const INDEX = '<!doctype html><title>shufflebn test</title>';

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'app-'));
  dist = path.join(tmp, 'dist');
  mkdirSync(dist);
  writeFileSync(path.join(dist, 'index.html'), INDEX);
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('app server', () => {
  it('serves the app and signaling on one http port and drops other upgrade paths', async () => {
    const app = await startAppServer({ port: 0, host: '127.0.0.1', distDir: dist });
    try {
      const base = `http://127.0.0.1:${app.port}`;
      expect(await (await fetch(`${base}/?room=AAAAAAAAAAAAAAAAAAAAAA`)).text()).toBe(INDEX);
      const c = await TestClient.connect(`ws://127.0.0.1:${app.port}/signal`);
      expect((await c.create()).peerId).toBeTruthy();
      await c.close();
      const stray = new WebSocket(`ws://127.0.0.1:${app.port}/other`);
      await expect(new Promise((resolve, reject) => { stray.on('open', resolve); stray.on('error', reject); })).rejects.toThrow();
    } finally {
      await app.close();
    }
  });

  it('speaks https and wss with a generated certificate', async () => {
    const tls = await loadOrCreateCertificate(path.join(tmp, 'certs'), []);
    const app = await startAppServer({ port: 0, host: '127.0.0.1', distDir: dist, tls });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        https.get(`https://127.0.0.1:${app.port}/`, { ca: tls.cert }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
      expect(body).toBe(INDEX);
      const c = await TestClient.connect(`wss://127.0.0.1:${app.port}/signal`, { ca: tls.cert });
      expect((await c.create()).roomId).toBeTruthy();
      await c.close();
    } finally {
      await app.close();
    }
  });

  it('rejects a taken port with ERR_PORT_IN_USE', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    await expect(startAppServer({ port, host: '127.0.0.1', distDir: dist })).rejects.toMatchObject({ code: 'ERR_PORT_IN_USE' });
    blocker.close();
  });
});

/** Runs scripts/start.mjs until it prints its banner (or exits); returns its output. */
function runStart(args: string[]): Promise<{ out: string; err: string; code: number | null; stop(): Promise<void> }> {
  // globalThis.process: the test build swaps the bare `process` identifier for a browser polyfill.
  const child = spawn(globalThis.process.execPath, [path.join(REPO, 'scripts/start.mjs'), '--no-build', '--dist', dist, ...args], { cwd: REPO });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve) => {
    const stop = async (): Promise<void> => {
      child.kill('SIGTERM');
      await exited;
    };
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops')) resolve({ out, err, code: null, stop });
    });
    child.stderr.on('data', (d) => (err += d));
    void exited.then((code) => resolve({ out, err, code, stop }));
  });
}

describe('npm start', () => {
  it('prints the localhost URL and one URL per LAN address, and serves on that port', async () => {
    const run = await runStart(['--port', '0', '--host', '0.0.0.0']);
    try {
      expect(run.code, run.err).toBeNull();
      const local = /Local: +(http:\/\/localhost:(\d+)\/)/.exec(run.out);
      expect(local, run.out).not.toBeNull();
      const port = Number(local![2]);
      const lanShown = [...run.out.matchAll(/Network: +(\S+)/g)].map((m) => m[1]);
      const lanExpected = Object.values(networkInterfaces()).flat()
        .filter((a) => a && !a.internal && a.family === 'IPv4').map((a) => `http://${a!.address}:${port}/`);
      expect(lanShown).toEqual(lanExpected);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe(INDEX);
      // The printed room link names a room the server knows: a peer can join it.
      const link = new RegExp(`^  (http://localhost:${port}/\\?room=([\\w-]{22,}))$`, 'm').exec(run.out);
      expect(link, run.out).not.toBeNull();
      const c = await TestClient.connect(`ws://127.0.0.1:${port}/signal`);
      expect((await c.join(link![2]!)).roomId).toBe(link![2]);
      await c.close();
    } finally {
      await run.stop();
    }
  });

  it('explains a taken port and exits with status 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    const run = await runStart(['--port', String(port), '--host', '127.0.0.1']);
    blocker.close();
    expect(run.code).toBe(1);
    expect(run.err).toContain(`port ${port} is already in use`);
  });
});
