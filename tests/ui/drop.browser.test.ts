/**
 * "Drop from run" end to end over 3 tabs, real everything (signaling, WebRTC mesh, WebGPU on
 * SwiftShader, the app): C computes on its page and its CPU is throttled, so the room waits for it
 * and A's row for C offers "Drop from run"; A clicks it mid-run. C stops and says who dropped it; A and B train on without it
 * (their step counters keep growing, with the same losses), and each shows one notice about C.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, startDevServer, type DevServer } from '../helpers/browser.ts';
import { newAppTab } from './tabs.ts';
import { pausedTogether } from './paused.ts';

/** Far more steps than the test waits for: the run is still going when the test ends. */
const STEPS = 2000;
/** C runs this many times slower than the others, so the pace report names it. */
const C_THROTTLE = 6;
/** Steps A and B must complete after the drop. */
const STEPS_AFTER_DROP = 4;

let server: DevServer;
let browser: Browser;

beforeAll(async () => {
  server = await startDevServer();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function newTab(url: string): Promise<Page> {
  return newAppTab(browser, url);
}

async function setField(page: Page, label: string, value: string): Promise<void> {
  await page.getByLabel(label, { exact: true }).fill(value);
  await page.getByLabel(label, { exact: true }).press('Tab');
}

async function stepOf(page: Page): Promise<number> {
  return Number((await page.locator('sbn-controls .state').textContent())?.match(/step (\d+)\//)?.[1] ?? -1);
}

async function lossLines(page: Page): Promise<string[]> {
  return ((await page.locator('sbn-log pre').textContent()) ?? '').split('\n').filter((l) => / Loss /.test(l));
}

it('a tab dropped from the run stops and says who dropped it; the others train on together', async () => {
  const a = await newTab(`${server.url}/`);
  await a.getByRole('button', { name: 'Create a room' }).click();
  const linkBox = a.locator('sbn-room-link input#room-link');
  await expect.poll(() => linkBox.inputValue(), { timeout: 30_000 }).toMatch(/\?room=[A-Za-z0-9_-]{22,}$/);
  const link = await linkBox.inputValue();
  await a.locator('sbn-controls summary').click();
  await setField(a, 'Hidden widths (comma-separated)', '32');
  await setField(a, 'Queue size (keys)', '64');
  await setField(a, 'Output width', '16');
  await setField(a, 'kNN every (steps, 0 = never)', '0');
  await setField(a, 'Virtual workers per tab', '1');
  await setField(a, 'Batch per worker', '4');
  await setField(a, 'Steps', String(STEPS));

  const b = await newTab(link);
  // CDP's CPU throttling slows a page's main thread only, not its workers (Chromium refuses it on a
  // worker target): C computes on its page (`compute=main`) so that throttling it makes it slow.
  const c = await newTab(`${link}&compute=main`);
  for (const page of [a, b, c]) await expect.poll(() => page.locator('sbn-peers tbody tr[data-peer]').count(), { timeout: 60_000 }).toBe(3);
  const cId = (await c.locator('sbn-peers tbody tr[data-peer]').evaluateAll((rows) => rows.filter((r) => /this tab/.test(r.textContent ?? '')).map((r) => r.getAttribute('data-peer'))))[0]!;
  expect(cId).toBeTruthy();
  const cdp = await c.context().newCDPSession(c);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: C_THROTTLE });

  await b.getByRole('button', { name: 'Start' }).click();
  // The room waits for C: A's row for C carries the mark and the button.
  const dropButton = a.locator(`sbn-peers button[data-drop="${cId}"]`);
  await expect.poll(() => dropButton.count(), { timeout: 120_000, interval: 300 }).toBe(1);
  const stepAtDrop = Math.max(await stepOf(a), await stepOf(b));
  await dropButton.click();

  // C stops and names who dropped it (A is rank 0).
  const cNotice = c.locator('sbn-errors li[data-code="ERR_PEER_DROPPED"]');
  await expect.poll(() => cNotice.count(), { timeout: 60_000 }).toBe(1);
  expect(await cNotice.textContent()).toMatch(/dropped from the run by rank 0/);
  await expect.poll(() => c.locator('sbn-controls .state').textContent(), { timeout: 30_000 }).toBe('Idle');

  // A and B go on without C, in step with each other.
  for (const page of [a, b]) {
    await expect.poll(() => stepOf(page), { timeout: 120_000, interval: 500 }).toBeGreaterThanOrEqual(stepAtDrop + STEPS_AFTER_DROP);
  }
  await a.getByRole('button', { name: 'Pause' }).click();
  await pausedTogether([a, b]);
  const [aLoss, bLoss] = [await lossLines(a), await lossLines(b)];
  expect(aLoss.length).toBeGreaterThanOrEqual(stepAtDrop + STEPS_AFTER_DROP);
  expect(bLoss).toEqual(aLoss);
  expect(await c.locator('sbn-controls .state').textContent()).toBe('Idle');

  // One notice about C on each of A and B: its drop (not also a "peer left" per failed collective).
  for (const page of [a, b]) {
    const aboutC = await page.locator('sbn-errors li').evaluateAll((items, id) => items.filter((li) => (li.textContent ?? '').includes(id)).map((li) => li.getAttribute('data-code')), cId);
    expect(aboutC).toEqual(['ERR_PEER_DROPPED']);
  }
}, 240_000);
