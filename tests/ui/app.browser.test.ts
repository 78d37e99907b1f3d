/**
 * The app root in the browser: over fake room/session ports (controller → store → elements, export
 * download, bad link), and the real page: an unknown room link, and no WebGPU (CPU backend, and the
 * notice that says so).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { harnessUrl, launchBrowser, openPage, startDevServer, type DevServer } from '../helpers/browser.ts';
import { parseRunCsv } from '../../src/app/format.ts';
import { FAKE_ROOM_ID } from './fakes.ts';
import { settingsFromLink } from '../../src/app/link-settings.ts';
import { PRESETS } from '../../src/app/presets.ts';
import { DEFAULT_CONFIG } from '../../src/train/types.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const PAGE_MODULE = '/tests/ui/ui.page.ts';

let server: DevServer;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startDevServer();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function fakeApp(href: string): Promise<Page> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  const page = await openPage(context, harnessUrl(server));
  // A string script: vitest rewrites import() inside functions passed to evaluate.
  await page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.mountApp({ href: ${JSON.stringify(href)}, stepsPerSecond: 40 }))`);
  return page;
}

describe('sbn-app over fake ports', () => {
  it('creates a room, trains, shows live steps, and exports the run as CSV', async () => {
    const page = await fakeApp('http://app.test/');
    await page.getByRole('button', { name: 'Create a room' }).click();
    await expect.poll(() => page.locator('sbn-room-link input').inputValue()).toBe(`http://app.test/?room=${FAKE_ROOM_ID}`);
    await expect.poll(() => page.locator('sbn-peers tbody tr[data-peer]').count()).toBe(2);
    expect(await page.locator('sbn-peers tbody tr[data-peer="other-peer-id"]').textContent()).toContain('3.3 ms');
    await page.getByLabel('Steps', { exact: true }).fill('20');
    await page.getByLabel('Steps', { exact: true }).press('Enter');
    await page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => page.locator('sbn-controls .state').textContent(), { timeout: 20_000 }).toBe('Done: 20 steps');
    // The run command went to the room.
    const sent = await page.evaluate(() => (window as unknown as { __app: { room: { configs: { command: string }[] } } }).__app.room.configs.map((c) => c.command));
    expect(sent).toContain('run');
    expect(await page.locator('sbn-shuffle-view figure').count()).toBe(3);
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    const file = await download;
    expect(file.suggestedFilename()).toMatch(/^shufflebn-shuffle-random-w4-.*\.csv$/);
    const rows = parseRunCsv(readFileSync((await file.path())!, 'utf8'));
    expect(rows.map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const lastLoss = (await page.locator('sbn-log pre').textContent())!.trim().split('\n').at(-1)!;
    expect(lastLoss).toBe(`[20/20] Loss ${rows.at(-1)!.loss.toFixed(4)}`);
    await page.screenshot({ path: `${ARTIFACTS}app-fake.png`, fullPage: true });
    await page.context().close();
  });

  it('a bad pasted link becomes a notice and the landing stays', async () => {
    const page = await fakeApp('http://app.test/');
    await page.getByLabel('Join a room: paste its link').fill('http://app.test/?room=too-short');
    await page.getByRole('button', { name: 'Join' }).click();
    const alert = page.locator('sbn-errors li[data-code="ERR_BAD_LINK"]');
    await expect.poll(() => alert.count()).toBe(1);
    expect(await alert.getAttribute('role')).toBe('alert');
    expect(await page.getByRole('button', { name: 'Create a room' }).isVisible()).toBe(true);
    await page.context().close();
  });
});

describe('settings in the link, over fake ports', () => {
  it('the share link follows the room’s settings and reads back to them', async () => {
    const page = await fakeApp('http://app.test/');
    await page.getByRole('button', { name: 'Create a room' }).click();
    await page.getByLabel('Steps', { exact: true }).fill('321');
    await page.getByLabel('Steps', { exact: true }).press('Enter');
    await page.getByLabel('BatchNorm mode').selectOption('local');
    const shown = page.locator('sbn-share-settings code[data-link]');
    await expect.poll(() => shown.textContent()).toContain('mode=local');
    const link = (await shown.textContent())!.trim();
    expect(new URL(link).searchParams.get('room')).toBe(FAKE_ROOM_ID);
    expect(settingsFromLink(link)!.config).toEqual({ ...DEFAULT_CONFIG, steps: 321, mode: 'local' });
    await page.context().close();
  });

  it('a link with bad settings opens the room with the rest and names what was not used', async () => {
    const page = await fakeApp('http://app.test/?preset=quick&workers=abc&steps=150');
    const notice = page.locator('sbn-errors li[data-code="ERR_LINK_SETTINGS"]');
    await expect.poll(() => notice.count()).toBe(1);
    expect(await notice.textContent()).toContain('workers="abc": expected an integer from 1 to 64');
    await expect.poll(() => page.getByLabel('Steps', { exact: true }).inputValue()).toBe('150');
    expect(await page.getByLabel('Virtual workers per tab').inputValue()).toBe(String(PRESETS.quick.workersPerTab));
    expect(await page.getByLabel('Seed').inputValue()).toBe(String(PRESETS.quick.seed));
    await page.screenshot({ path: `${ARTIFACTS}app-bad-link.png` });
    await page.context().close();
  });
});

describe('the real page', () => {
  it('opened from a link to a room the server does not know: says so and offers the landing', async () => {
    const context = await browser.newContext();
    const page = await openPage(context, `${server.url}/?room=${'Z'.repeat(24)}`);
    const notice = page.locator('sbn-errors li[data-code="ERR_ROOM_NOT_FOUND"]');
    await expect.poll(() => notice.count(), { timeout: 30_000 }).toBe(1);
    expect(await notice.textContent()).toContain('Ask for a new link');
    expect(await page.getByRole('button', { name: 'Create a room' }).isVisible()).toBe(true);
    await context.close();
  });

  it('runs on the CPU backend and says so', async () => {
    const context = await browser.newContext();
    await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    const page = await openPage(context, `${server.url}/`);
    await page.getByRole('button', { name: 'Train in this tab only' }).click();
    const notice = page.locator('sbn-errors li[data-code="ERR_NO_WEBGPU"]');
    await expect.poll(() => notice.count(), { timeout: 30_000 }).toBe(1);
    expect(await notice.textContent()).toContain('CPU');
    expect(await page.locator('sbn-app [data-badge="backend"]').textContent()).toMatch(/^CPU/);
    await expect.poll(() => page.locator('sbn-peers tbody tr[data-peer]').textContent()).toContain('CPU');
    await context.close();
  });
});
