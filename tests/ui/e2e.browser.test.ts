/**
 * The whole app, three tabs, real everything (signaling, WebRTC mesh, WebGPU on SwiftShader, the
 * training session): tab A creates a room, B and C join by its link, a setting changed on B reaches
 * every tab, Start on C starts every tab, and every tab ends at the same step with the same losses and
 * a loss curve with one point per step; a pause from one tab stops every tab after the same step;
 * then Reset, a mode change and Start on other tabs give a
 * second run that is overlaid on the first, and a fourth tab that opens the link mid-run joins it and
 * ends with the same loss as the others. Screenshots go to test-artifacts/ (docs/screenshot.png is a
 * copy of app-shuffle.png).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { launchBrowser, startDevServer, type DevServer } from '../helpers/browser.ts';
import { newAppTab } from './tabs.ts';
import { pausedTogether } from './paused.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
/** Small model so three tabs on a software GPU finish each run in well under a minute. */
const STEPS = 20;

let server: DevServer;
let browser: Browser;
const tabs: Page[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startDevServer();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function newTab(url: string): Promise<Page> {
  const page = await newAppTab(browser, url);
  tabs.push(page);
  return page;
}

async function setField(page: Page, label: string, value: string): Promise<void> {
  await page.getByLabel(label, { exact: true }).fill(value);
  await page.getByLabel(label, { exact: true }).press('Tab');
}

/** The rows of the peers table as "rank:state". */
async function peerStates(page: Page): Promise<string[]> {
  return page.locator('sbn-peers tbody tr[data-peer]').evaluateAll((rows) => rows.map((r) => `${r.children[0]!.textContent!.trim()}:${r.querySelector('td[data-label="State"]')!.textContent!.trim()}`));
}

it('tabs join by link, share settings, start and pause together, and a late tab joins the run', async () => {
  // A retry starts with tabs of its own: the failed attempt's pages (still in their room) would
  // otherwise stay in `tabs` and be checked as members of the new room.
  for (const page of tabs.splice(0)) await page.close().catch(() => {});
  const a = await newTab(`${server.url}/`);
  await a.getByRole('button', { name: 'Create a room' }).click();
  const linkBox = a.locator('sbn-room-link input#room-link');
  await expect.poll(() => linkBox.inputValue(), { timeout: 30_000 }).toMatch(/\?room=[A-Za-z0-9_-]{22,}$/);
  const link = await linkBox.inputValue();
  expect(new URL(a.url()).searchParams.get('room')).toBe(new URL(link).searchParams.get('room'));

  // A sets the model before the others join: joiners must receive the room's stored settings.
  await a.locator('sbn-controls summary').click();
  await setField(a, 'Hidden widths (comma-separated)', '32');
  await setField(a, 'Queue size (keys)', '64');
  await setField(a, 'Output width', '16');
  await setField(a, 'kNN every (steps, 0 = never)', '4');
  await setField(a, 'Virtual workers per tab', '2');
  await setField(a, 'Batch per worker', '4');

  const b = await newTab(link);
  const c = await newTab(link);
  for (const page of tabs) {
    await expect.poll(() => peerStates(page), { timeout: 60_000 }).toEqual(
      [0, 1, 2].map((r) => `${r}:${r === tabs.indexOf(page) ? 'this tab' : 'connected'}`),
    );
  }
  // A change on one peer reaches every peer.
  await setField(b, 'Steps', String(STEPS));
  for (const page of tabs) {
    await expect.poll(() => page.getByLabel('Steps', { exact: true }).inputValue()).toBe(String(STEPS));
    expect(await page.getByLabel('Hidden widths (comma-separated)').inputValue()).toBe('32');
    expect(await page.getByLabel('Virtual workers per tab').inputValue()).toBe('2');
  }

  await c.getByRole('button', { name: 'Start' }).click();
  // Pause from A mid-run: every tab stops after the same step; Resume from C continues all of them.
  await expect.poll(async () => Number((await a.locator('sbn-controls .state').textContent())?.match(/step (\d+)\//)?.[1] ?? 0), { timeout: 180_000, interval: 200 }).toBeGreaterThanOrEqual(2);
  await a.getByRole('button', { name: 'Pause' }).click();
  await pausedTogether(tabs);
  await c.getByRole('button', { name: 'Resume' }).click();
  for (const page of tabs) {
    await expect.poll(() => page.locator('sbn-controls .state').textContent(), { timeout: 180_000, interval: 1_000 }).toBe(`Done: ${STEPS} steps`);
  }

  // Every tab shows the same step and the same losses (the loss is reduced over all 6 workers).
  const lossLines = await Promise.all(
    tabs.map(async (page) => ((await page.locator('sbn-log pre').textContent()) ?? '').split('\n').filter((l) => / Loss /.test(l))),
  );
  expect(lossLines[0]!.at(-1)).toMatch(new RegExp(`^\\[${STEPS}/${STEPS}\\] Loss \\d+\\.\\d{4}$`));
  expect(lossLines[1]).toEqual(lossLines[0]);
  expect(lossLines[2]).toEqual(lossLines[0]);
  for (const page of tabs) {
    const points = await page.evaluate(() => document.querySelector('sbn-app')!.shadowRoot!.querySelector('sbn-curves')!.pointCounts('loss'));
    expect(points).toEqual([STEPS]);
    // The world is 3 tabs × 2 workers: six arrows per BN layer, each receiver fed by another worker.
    const arrows = await page.locator('sbn-shuffle-view figure').first().locator('path.arrow').evaluateAll((els) => els.map((e) => [e.getAttribute('data-from'), e.getAttribute('data-to')]));
    expect(arrows).toHaveLength(6);
    for (const [from, to] of arrows) expect(from).not.toBe(to);
  }
  await a.screenshot({ path: `${ARTIFACTS}app-shuffle.png`, fullPage: true });

  // A second run in another mode (Reset and the change on A, Start on B) is overlaid on the first.
  await a.getByRole('button', { name: 'Reset' }).click();
  for (const page of tabs) await expect.poll(() => page.locator('sbn-controls .state').textContent()).toBe('Idle');
  await a.getByLabel('BatchNorm mode').selectOption('local');
  await expect.poll(() => b.getByLabel('BatchNorm mode').inputValue()).toBe('local');
  await b.getByRole('button', { name: 'Start' }).click();
  // A fourth tab opens the link mid-run: it receives the model and joins the run at a step boundary.
  await expect.poll(async () => Number((await a.locator('sbn-controls .state').textContent())?.match(/step (\d+)\//)?.[1] ?? 0), { timeout: 180_000, interval: 200 }).toBeGreaterThanOrEqual(2);
  const d = await newTab(link);
  await expect.poll(() => d.locator('sbn-controls .state').textContent(), { timeout: 180_000, interval: 1_000 }).toBe(`Done: ${STEPS} steps`);
  const lastLoss = async (page: Page) => ((await page.locator('sbn-log pre').textContent()) ?? '').split('\n').filter((l) => / Loss /.test(l)).at(-1);
  for (const page of tabs) {
    await expect.poll(() => page.locator('sbn-controls .state').textContent(), { timeout: 180_000, interval: 1_000 }).toBe(`Done: ${STEPS} steps`);
    expect(await lastLoss(page)).toBe(await lastLoss(d));
  }
  for (const page of tabs.slice(0, 3)) {
    // Polled like the labels above: the chart is drawn in its own element's render, not with the label.
    const points = () => page.evaluate(() => document.querySelector('sbn-app')!.shadowRoot!.querySelector('sbn-curves')!.pointCounts('loss'));
    const log = ((await page.locator('sbn-log pre').textContent()) ?? '').split('\n').filter((l) => /Resuming| Loss /.test(l));
    await expect.poll(points, { message: `tab ${tabs.indexOf(page)}'s curves; its log:\n${log.join('\n')}`, timeout: 10_000 }).toEqual([STEPS, STEPS]);
    // local mode: every worker normalises with its own statistics
    const arrows = await page.locator('sbn-shuffle-view figure').first().locator('path.arrow').evaluateAll((els) => els.map((e) => [e.getAttribute('data-from'), e.getAttribute('data-to')]));
    expect(arrows).toHaveLength(8);
    for (const [from, to] of arrows) expect(from).toBe(to);
  }
  expect(await a.locator('sbn-curves figure').first().locator('.u-legend').textContent()).toMatch(/shuffle\/random W=6.*local W=8/);
  // Keep the standing notice (software GPU), close the transient ones of the join.
  const transient = a.locator('sbn-errors li:not([data-code="ERR_FALLBACK_ADAPTER"]) button');
  while ((await transient.count()) > 0) await transient.first().click();
  await a.screenshot({ path: `${ARTIFACTS}app-desktop.png`, fullPage: true });
  await b.setViewportSize({ width: 390, height: 844 });
  await b.screenshot({ path: `${ARTIFACTS}app-phone.png`, fullPage: true });
});
