/**
 * The room link for other devices, in the private network namespace (its veth gives this "machine"
 * the LAN addresses 10.77.0.1 and 10.77.0.2, see scripts/in-netns.sh). The dev server listens on every
 * interface, over plain http, as `npm start` does without --https:
 * - the room view opened via localhost shows a QR code that decodes to a LAN URL of the server (an
 *   address `ip addr` lists, never localhost), one per interface to choose from, and the notice that
 *   other devices will train on the CPU backend with the command that fixes it;
 * - the page that QR code leads to has no secure context, says why it has no WebGPU, and joins the room;
 * - the element keeps every query parameter of the link (room and anything added later) on the LAN
 *   origin, and words the self-signed-certificate case and the case of a server that does not answer.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import jsQR from 'jsqr';
import { harnessUrl, launchBrowser, openPage, startDevServer, type DevServer } from '../helpers/browser.ts';
import type { ServerOrigins } from '../../src/signaling/origins.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const PAGE_MODULE = '/tests/ui/ui.page.ts';
const ROOM = 'Qx7_abcdefghijklmnopqrstu';

/** Inside scripts/in-netns.sh's private namespace (root): only there may the server listen on every interface. */
const inNetns = globalThis.process.env.SHUFFLEBN_NETNS === '1';

let server: DevServer;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Every interface: inside the test namespace that is loopback and the veth pair, nothing else.
  server = await startDevServer({ host: inNetns ? '0.0.0.0' : '127.0.0.1' });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** This machine's non-loopback IPv4 addresses, as the kernel lists them (`ip -o -4 addr`). */
function kernelAddresses(): string[] {
  const out = execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' });
  return out.split('\n').map((l) => /inet (\d+\.\d+\.\d+\.\d+)\//.exec(l)?.[1]).filter((a): a is string => !!a && !a.startsWith('127.'));
}

/** Reads the QR code drawn in `canvas` back into text with an independent decoder (jsQR). */
async function decodeQr(canvas: Locator): Promise<string | null> {
  await expect.poll(() => canvas.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return d.some((v, i) => i % 4 === 0 && v < 128);
  })).toBe(true);
  const img = await canvas.evaluate((c: HTMLCanvasElement) => ({ w: c.width, h: c.height, data: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) }));
  return jsQR(Uint8ClampedArray.from(img.data), img.w, img.h)?.data ?? null;
}

if (!inNetns) console.warn('skipping the LAN-address room link test: it needs the private network namespace (run through scripts/in-netns.sh as root)');

describe.skipIf(!inNetns)('the room view opened via localhost, server over plain http on every interface', () => {
  let localTab: Page;
  let roomId = '';
  let qrUrl = '';

  it('shows a QR code that decodes to a LAN URL of the server, not localhost, and a choice of interface', async () => {
    const lan = kernelAddresses();
    expect(lan.length, 'the test namespace has veth addresses').toBeGreaterThanOrEqual(2);
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    localTab = await openPage(context, `http://localhost:${server.port}/`);
    await localTab.getByRole('button', { name: 'Create a room' }).click();
    const local = localTab.locator('sbn-room-link input#room-link');
    await expect.poll(() => local.inputValue(), { timeout: 30_000 }).toMatch(/\?room=[\w-]{22,}$/);
    const localLink = new URL(await local.inputValue());
    expect(localLink.hostname).toBe('localhost');
    roomId = localLink.searchParams.get('room')!;

    const deviceLink = localTab.locator('sbn-room-link input#device-link');
    await expect.poll(() => deviceLink.count(), { timeout: 10_000 }).toBe(1);
    qrUrl = (await decodeQr(localTab.locator('sbn-room-link canvas')))!;
    const url = new URL(qrUrl);
    expect(url.protocol).toBe('http:');
    expect(lan).toContain(url.hostname);
    expect(url.port).toBe(String(server.port));
    expect(url.searchParams.get('room')).toBe(roomId);
    expect(await deviceLink.inputValue()).toBe(qrUrl);

    // One option per interface; another choice redraws the QR code with that address.
    const select = localTab.locator('sbn-room-link select#device-origin');
    const options = await select.locator('option').allTextContents();
    expect(options.map((o) => o.split(' ')[0]).sort()).toEqual([...lan].sort());
    const other = lan.find((a) => a !== url.hostname)!;
    await select.selectOption({ index: options.findIndex((o) => o.startsWith(`${other} `)) });
    await expect.poll(async () => decodeQr(localTab.locator('sbn-room-link canvas'))).toBe(`http://${other}:${server.port}/?room=${roomId}`);
    await select.selectOption({ index: options.findIndex((o) => o.startsWith(`${url.hostname} `)) });
  });

  it('says other devices will train on the CPU backend, and gives the command that fixes it', async () => {
    const note = localTab.locator('sbn-room-link [data-note="cpu"]');
    expect(await note.count()).toBe(1);
    expect(await note.textContent()).toMatch(/Other devices will train on the\s+CPU backend/);
    expect(await note.locator('code').textContent()).toBe('npm start -- --https');
    await localTab.locator('sbn-room-link').screenshot({ path: `${ARTIFACTS}room-link-http.png` });
  });

  it('the page the QR code leads to says why it has no WebGPU, and joins the room', async () => {
    const lanTab = await openPage(await browser.newContext(), qrUrl);
    expect(await lanTab.evaluate(() => [window.isSecureContext, 'gpu' in navigator])).toEqual([false, false]);
    const notice = lanTab.locator('sbn-errors li[data-code="ERR_INSECURE_CONTEXT"]');
    await expect.poll(() => notice.count(), { timeout: 30_000 }).toBe(1);
    expect(await notice.textContent()).toContain('npm start -- --https');
    expect(await lanTab.locator('sbn-app [data-badge="backend"]').textContent()).toMatch(/^CPU/);
    // Opened on that address, its own link is the one to share: one link, still with the CPU notice.
    await expect.poll(() => lanTab.locator('sbn-room-link input#room-link').inputValue(), { timeout: 30_000 }).toBe(qrUrl);
    expect(await lanTab.locator('sbn-room-link input#device-link').count()).toBe(0);
    expect(await lanTab.locator('sbn-room-link [data-note="cpu"]').count()).toBe(1);
    // Both tabs are in one room.
    for (const page of [localTab, lanTab]) await expect.poll(() => page.locator('sbn-peers tbody tr[data-peer]').count(), { timeout: 60_000 }).toBe(2);
  });
});

describe('sbn-room-link with given origins', () => {
  let page: Page;
  beforeAll(async () => {
    page = await openPage(browser, harnessUrl(server));
    await page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => { window.ui = m; })`);
  });

  async function mount(props: { link: string; origins: ServerOrigins | null }): Promise<void> {
    await page.evaluate(async (p) => (window as unknown as { ui: typeof import('./ui.page.ts') }).ui.mount('sbn-room-link', p), props);
  }

  const https = (lan: [string, string][], selfSigned: boolean): ServerOrigins => ({
    tls: true,
    selfSigned,
    local: 'https://localhost:8443',
    lan: lan.map(([address, name]) => ({ origin: `https://${address}:8443`, address, interface: name })),
  });

  it('keeps every query parameter of the link, and the path, on the LAN origin', async () => {
    const link = `https://localhost:8443/app/?room=${ROOM}&preset=tiny-mlp&mode=sync`;
    await mount({ link, origins: https([['192.168.1.5', 'wlan0']], true) });
    const expected = `https://192.168.1.5:8443/app/?room=${ROOM}&preset=tiny-mlp&mode=sync`;
    expect(await decodeQr(page.locator('sbn-room-link canvas'))).toBe(expected);
    expect(await page.locator('sbn-room-link input#device-link').inputValue()).toBe(expected);
    expect(await page.locator('sbn-room-link input#room-link').inputValue()).toBe(link);
    // A single interface: no choice to make.
    expect(await page.locator('sbn-room-link select').count()).toBe(0);
  });

  it('with a self-signed certificate, says what the other device shows and what to tap', async () => {
    await mount({ link: `https://localhost:8443/?room=${ROOM}`, origins: https([['192.168.1.5', 'wlan0'], ['10.0.0.7', 'eth0']], true) });
    const note = page.locator('sbn-room-link [data-note="certificate"]');
    const text = (await note.textContent())!.replace(/\s+/g, ' ');
    expect(text).toContain('self-signed');
    expect(text).toContain('Your connection is not private');
    expect(text).toContain('Advanced → Proceed');
    expect(text).toContain('Show Details → visit this website');
    expect(await page.locator('sbn-room-link [data-note="cpu"]').count()).toBe(0);
    await page.locator('sbn-room-link').screenshot({ path: `${ARTIFACTS}room-link-https.png` });
    // A trusted certificate: nothing to warn about.
    await mount({ link: `https://localhost:8443/?room=${ROOM}`, origins: https([['192.168.1.5', 'wlan0']], false) });
    expect(await page.locator('sbn-room-link .note').count()).toBe(0);
  });

  it('without an answer from the server, offers the local link and says it is for this machine only', async () => {
    const link = `http://localhost:5173/?room=${ROOM}`;
    await mount({ link, origins: null });
    expect(await page.locator('sbn-room-link input').count()).toBe(1);
    expect(await page.locator('sbn-room-link input#room-link').inputValue()).toBe(link);
    expect(await page.locator('sbn-room-link [data-note="unknown"]').textContent()).toContain('this machine only');
    expect(await decodeQr(page.locator('sbn-room-link canvas'))).toBe(link);
    // A server that listens on loopback only says so.
    await mount({ link, origins: { tls: false, selfSigned: false, local: 'http://localhost:5173', lan: [] } });
    expect(await page.locator('sbn-room-link [data-note="local-only"]').count()).toBe(1);
  });
});
