/**
 * Another device joins over https, as README tells a person to: two network namespaces joined by a
 * veth pair act as two hosts, each with its own Chromium. Host A runs `npm start -- --https` (self-signed
 * certificate generated for A's addresses) and opens the printed localhost link; host B opens the URL
 * that A's room view encodes in its QR code, gets a secure context and a WebGPU adapter, joins the room
 * and trains with A to the same losses, which also match an independent CPU run in Node.
 *
 * Both Chromiums run with --ignore-certificate-errors: the certificate is self-signed and headless
 * Chromium has no "Advanced → Proceed" button to tap. The page stays a secure context (https).
 * Needs root (ip netns add); nothing leaves the two namespaces.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import jsQR from 'jsqr';
import { launchBrowser, openPage } from '../helpers/browser.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/train/types.ts';

const REPO = new URL('../../', import.meta.url).pathname;
// The Node polyfills of vite.config.ts replace the bare `process` in transformed files: use the real one.
const nodeProcess = globalThis.process;
const HOST_A = { ns: `sbn-da-${nodeProcess.pid}`, ip: '10.79.0.1', dev: `sbnda${nodeProcess.pid % 100_000}` };
const HOST_B = { ns: `sbn-db-${nodeProcess.pid}`, ip: '10.79.0.2', dev: `sbndb${nodeProcess.pid % 100_000}` };
const isRoot = userInfo().uid === 0;
/** Accepts the self-signed certificate, as a person taps through the warning once on each device. */
const CERT_ARGS = ['--ignore-certificate-errors'];

/** A small model: two tabs × two workers on a software GPU finish a few steps in seconds. */
const STEPS = 4;
const FIELDS: [label: string, value: string][] = [
  ['Hidden widths (comma-separated)', '32'],
  ['Queue size (keys)', '64'],
  ['Output width', '16'],
  ['kNN every (steps, 0 = never)', '0'],
  ['Virtual workers per tab', '2'],
  ['Batch per worker', '4'],
  ['Steps', String(STEPS)],
];
const CONFIG: TrainConfig = { ...DEFAULT_CONFIG, hiddenDims: [32], queueSize: 64, outputDim: 16, knnEvery: 0, workersPerTab: 2, batchPerWorker: 4, steps: STEPS };

function sh(...args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}
function removeNamespaces(): void {
  for (const host of [HOST_A, HOST_B]) {
    try {
      sh('ip', 'netns', 'del', host.ns);
    } catch {
      // not there
    }
  }
}

async function decodeQr(canvas: Locator): Promise<string | null> {
  await expect.poll(() => canvas.evaluate((c: HTMLCanvasElement) => c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 0 && v < 128))).toBe(true);
  const img = await canvas.evaluate((c: HTMLCanvasElement) => ({ w: c.width, h: c.height, data: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) }));
  return jsQR(Uint8ClampedArray.from(img.data), img.w, img.h)?.data ?? null;
}

/** The rows of the peers table as "rank:state". */
function peerStates(page: Page): Promise<string[]> {
  return page.locator('sbn-peers tbody tr[data-peer]').evaluateAll((rows) => rows.map((r) => `${r.children[0]!.textContent!.trim()}:${r.querySelector('td[data-label="State"]')!.textContent!.trim()}`));
}

/** The "[s/N] Loss x" lines of the on-screen log, as numbers by step (1-based). */
async function losses(page: Page): Promise<Map<number, number>> {
  const text = (await page.locator('sbn-log pre').textContent()) ?? '';
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^\[(\d+)\/\d+\] Loss (\d+\.\d+)$/gm)) out.set(Number(m[1]), Number(m[2]));
  return out;
}

if (!isRoot) console.warn('skipping the two-host https test: creating network namespaces (ip netns add) needs root');

describe.skipIf(!isRoot)('another device joins over https (two network namespaces; needs root)', () => {
  let tmp = '';
  let server: ChildProcess | null = null;
  let out = '';
  const browsers: Browser[] = [];

  beforeAll(async () => {
    removeNamespaces();
    tmp = mkdtempSync(path.join(tmpdir(), 'sbn-devices-'));
    sh('ip', 'netns', 'add', HOST_A.ns);
    sh('ip', 'netns', 'add', HOST_B.ns);
    sh('ip', 'link', 'add', HOST_A.dev, 'netns', HOST_A.ns, 'type', 'veth', 'peer', 'name', HOST_B.dev, 'netns', HOST_B.ns);
    for (const [host, other] of [[HOST_A, HOST_B], [HOST_B, HOST_A]] as const) {
      const inNs = (...args: string[]) => sh('ip', 'netns', 'exec', host.ns, ...args);
      inNs('ip', 'link', 'set', 'lo', 'up');
      inNs('ip', 'addr', 'add', `${host.ip}/24`, 'dev', host.dev);
      inNs('ip', 'link', 'set', host.dev, 'up');
      // Without a default route Chromium gathers no ICE candidates.
      inNs('ip', 'route', 'add', 'default', 'via', other.ip, 'dev', host.dev);
    }
    // `npm start -- --https` on host A (the production build, on every interface), its certificate in a
    // temporary directory instead of the repository's .certs/.
    const args = [path.join(REPO, 'scripts/start.mjs'), '--https', '--port', '0', '--dist', path.join(tmp, 'dist'), '--cert-dir', path.join(tmp, 'certs')];
    server = spawn('ip', ['netns', 'exec', HOST_A.ns, nodeProcess.execPath, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ctrl-C stops')) resolve();
      });
      server!.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      server!.on('exit', (code) => reject(new Error(`npm start in ${HOST_A.ns} exited with ${code}: ${out}`)));
    });
  });

  afterAll(async () => {
    for (const b of browsers) await b.close().catch(() => {});
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    removeNamespaces();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the certificate npm start generated names host A\'s address and the machine\'s names', () => {
    expect(out).toMatch(/generated a self-signed certificate/);
    const san = new X509Certificate(readFileSync(path.join(tmp, 'certs', 'cert.pem'))).subjectAltName!.split(', ');
    expect(san).toEqual(expect.arrayContaining([`IP Address:${HOST_A.ip}`, 'IP Address:127.0.0.1', 'DNS:localhost']));
    // Printed for the person at the keyboard: the link for other devices and what their browser will ask.
    expect(out).toContain(`Room link for other devices`);
    expect(out).toMatch(/Advanced → Proceed/);
  });

  it('host B opens the URL of host A\'s QR code over https, gets WebGPU, joins and trains to the same loss', async () => {
    const localLink = /^ {2}(https:\/\/localhost:\d+\/\?room=[\w-]{22,})$/m.exec(out)?.[1];
    expect(localLink, out).toBeDefined();
    const roomId = new URL(localLink!).searchParams.get('room');

    const browserA = await launchBrowser({ netns: HOST_A.ns, args: CERT_ARGS });
    browsers.push(browserA);
    const pageA = await openPage(await browserA.newContext({ viewport: { width: 1200, height: 900 } }), localLink!);
    await expect.poll(() => peerStates(pageA), { timeout: 60_000 }).toEqual(['0:this tab']);
    // A sets a small model before B joins: B must receive the room's stored settings.
    await pageA.locator('sbn-controls summary').click();
    for (const [label, value] of FIELDS) {
      await pageA.getByLabel(label, { exact: true }).fill(value);
      await pageA.getByLabel(label, { exact: true }).press('Tab');
    }

    // A's QR code: host A's LAN address over https, same room; the panel explains the certificate warning.
    await expect.poll(() => pageA.locator('sbn-room-link input#device-link').count(), { timeout: 10_000 }).toBe(1);
    const qrUrl = (await decodeQr(pageA.locator('sbn-room-link canvas')))!;
    const target = new URL(qrUrl);
    expect(target.protocol).toBe('https:');
    expect(target.hostname).toBe(HOST_A.ip);
    expect(target.port).toBe(new URL(localLink!).port);
    expect(target.searchParams.get('room')).toBe(roomId);
    expect(await pageA.locator('sbn-room-link [data-note="certificate"]').count()).toBe(1);
    expect(await pageA.locator('sbn-room-link [data-note="cpu"]').count()).toBe(0);

    const browserB = await launchBrowser({ netns: HOST_B.ns, args: CERT_ARGS });
    browsers.push(browserB);
    const pageB = await openPage(await browserB.newContext({ viewport: { width: 1200, height: 900 } }), qrUrl);
    const gpu = await pageB.evaluate(async () => {
      const adapter = await navigator.gpu?.requestAdapter();
      return { secure: window.isSecureContext, hostname: location.hostname, adapter: adapter !== null && adapter !== undefined };
    });
    expect(gpu).toEqual({ secure: true, hostname: HOST_A.ip, adapter: true });
    await expect.poll(() => pageB.locator('sbn-app [data-badge="backend"]').textContent(), { timeout: 60_000 }).toMatch(/^WebGPU/);
    expect(await pageB.locator('sbn-errors li[data-code="ERR_INSECURE_CONTEXT"]').count()).toBe(0);
    for (const [i, page] of [pageA, pageB].entries()) {
      await expect.poll(() => peerStates(page), { timeout: 90_000 }).toEqual([0, 1].map((r) => `${r}:${r === i ? 'this tab' : 'connected'}`));
    }
    await expect.poll(() => pageB.getByLabel('Steps', { exact: true }).inputValue()).toBe(String(STEPS));

    await pageB.getByRole('button', { name: 'Start' }).click();
    for (const page of [pageA, pageB]) {
      // A run stopped by an error names it: the page's error list goes into the failure message.
      const state = async () => {
        const text = await page.locator('sbn-controls .state').textContent();
        return text === 'Stopped by an error' ? `${text}: ${(await page.locator('sbn-errors li').allTextContents()).join(' | ')}` : text;
      };
      await expect.poll(state, { timeout: 180_000, interval: 1_000 }).toBe(`Done: ${STEPS} steps`);
    }
    const [lossA, lossB] = await Promise.all([losses(pageA), losses(pageB)]);
    expect(lossA.get(STEPS)).toBeDefined();
    expect([...lossB]).toEqual([...lossA]);

    // Independent reference: the same world of 4 workers in one Node process on the CPU backend.
    const backend = createCpuBackend();
    const trainer = new MocoTrainer({ backend, config: { ...CONFIG, workersPerTab: 4 }, world: localWorld(4), train: createDataset({ seed: CONFIG.seed }).train });
    const reference: number[] = [];
    for (let i = 0; i < STEPS; i++) reference.push((await trainer.runStep()).loss);
    trainer.destroy();
    for (const [step, loss] of lossA) expect(Math.abs(loss - reference[step - 1]!), `step ${step}`).toBeLessThan(2e-3 * reference[step - 1]! + 1e-4);
    console.log(`two hosts over https: losses ${[...lossA.values()].join(', ')}; CPU reference ${reference.map((l) => l.toFixed(4)).join(', ')}`);
  });
});
