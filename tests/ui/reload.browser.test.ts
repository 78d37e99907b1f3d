/**
 * The run log survives a reload, over real tabs (signaling, WebRTC mesh, WebGPU on SwiftShader, the
 * app, IndexedDB): two tabs train, B reloads mid-run, rejoins the same run, and its export holds its
 * steps from before the reload and after, each once, with the losses of A (which never left: the
 * room's committed steps). After a new run starts, B offers the earlier run for export. First, the
 * IndexedDB store itself in the browser.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import type { RunLog } from '../../src/train/types.ts';
import { harnessUrl, launchBrowser, openPage, pageModuleCaller, startDevServer, type DevServer } from '../helpers/browser.ts';
import { newAppTab } from './tabs.ts';
import { MAX_SAVED_RUNS_PER_ROOM } from '../../src/app/run-store/store.ts';

/** Far more steps than the test waits for: the run is still going when B reloads. */
const STEPS = 2000;
/** Steps both tabs train before B reloads, and after it is back. */
const STEPS_BEFORE_RELOAD = 3;
const STEPS_AFTER_RELOAD = 2;
/**
 * A small model, so steps are quick on the software GPU; two workers per tab, so A trains on alone
 * (shuffle needs 2 workers) while B reloads. A link with settings opens a new room with them.
 */
const SETTINGS = `hidden=32&queue=64&out=16&knn=0&workers=2&batch=4&steps=${STEPS}`;

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
  return newAppTab(browser, url, { acceptDownloads: true });
}

async function stepOf(page: Page): Promise<number> {
  return Number((await page.locator('sbn-controls .state').textContent())?.match(/step (\d+)\//)?.[1] ?? -1);
}

/** Clicks `button` and reads the file it downloads. */
async function download(page: Page, click: () => Promise<void>): Promise<string> {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), click()]);
  return readFile((await file.path())!, 'utf8');
}

function stepsOf(log: RunLog): Array<[number, number]> {
  return log.steps.map((s) => [s.step, s.loss]);
}

it('the IndexedDB store: steps in numeric order, rolled-back steps replaced, runs beyond the limit evicted, read back after reopening', async () => {
  const page = await openPage(browser, harnessUrl(server));
  const call = pageModuleCaller<typeof import('../app/run-store.page.ts')>(() => page, '/tests/app/run-store.page.ts');
  const rolled = await call('indexedDbRollback', 'rollback-db');
  expect(rolled.steps).toEqual([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7], [8, 8], [9, 90], [10, 101]]);
  expect(rolled.header).toMatchObject({ version: 1, worldSize: 2, startedAt: '2026-11-30T10:00:00.000Z' });

  const trip = await call('indexedDbRoundTrip', 'round-trip-db');
  // Runs 2..limit+2 were written after run-1: the newest `limit` stay, newest first.
  const kept = Array.from({ length: MAX_SAVED_RUNS_PER_ROOM }, (_, i) => `run-${MAX_SAVED_RUNS_PER_ROOM + 2 - i}`);
  expect(trip.listA).toEqual(kept);
  expect(trip.evicted).toBeNull();
  expect(trip.kept).toEqual([[0, MAX_SAVED_RUNS_PER_ROOM + 2]]);
  expect(trip.listB).toEqual(['run-1']);
  expect(trip.again).toEqual([[0, 7]]);
  await page.close();
});

it('a tab reloaded mid-run rejoins; its earlier log is exportable and its export has no duplicate steps', async () => {
  const a = await newTab(`${server.url}/?${SETTINGS}`);
  const linkBox = a.locator('sbn-room-link input#room-link');
  await expect.poll(() => linkBox.inputValue(), { timeout: 30_000 }).toMatch(/\?room=[A-Za-z0-9_-]{22,}$/);
  const link = await linkBox.inputValue();
  await expect.poll(() => a.getByLabel('Steps', { exact: true }).inputValue(), { timeout: 30_000 }).toBe(String(STEPS));

  const b = await newTab(link);
  for (const page of [a, b]) await expect.poll(() => page.locator('sbn-peers tbody tr[data-peer]').count(), { timeout: 60_000 }).toBe(2);
  await a.getByRole('button', { name: 'Start' }).click();
  await expect.poll(() => stepOf(b), { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(STEPS_BEFORE_RELOAD);

  // Every step B shows as done is saved: written within a second, and what is pending when the page goes away.
  const shownBefore = await stepOf(b);
  await b.reload();
  // Back in the room and in the run: the saved steps show at once, then training goes on with A.
  await expect.poll(() => stepOf(b), { timeout: 30_000, interval: 200 }).toBeGreaterThanOrEqual(shownBefore);
  const aAtRejoin = await stepOf(a);
  await expect.poll(() => stepOf(b), { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(aAtRejoin + STEPS_AFTER_RELOAD);

  await a.getByRole('button', { name: 'Pause' }).click();
  for (const page of [a, b]) await expect.poll(() => page.locator('sbn-controls .state').textContent(), { timeout: 30_000 }).toMatch(/^Paused at step \d+\//);
  // The last step's event can reach the page (from its compute worker) just after the pause: both tabs
  // stop after the same step, so wait until both show it, and a moment for the last render.
  await expect.poll(async () => new Set(await Promise.all([stepOf(a), stepOf(b)])).size, { timeout: 30_000 }).toBe(1);
  await a.waitForTimeout(500);
  const paused = await Promise.all([stepOf(a), stepOf(b)]);
  expect(paused[1]).toBe(paused[0]);

  const exportJson = (page: Page) => download(page, () => page.locator('sbn-log').getByRole('button', { name: 'Export JSON' }).click());
  const aLog = JSON.parse(await exportJson(a)) as RunLog;
  const bLog = JSON.parse(await exportJson(b)) as RunLog;
  const bSteps = bLog.steps.map((s) => s.step);
  // A never left: its log is the room's committed steps, 0 to the pause, each once.
  expect(aLog.steps.map((s) => s.step)).toEqual([...Array(paused[0]).keys()]);
  // B: strictly increasing (no step twice), its steps from before the reload included, up to the pause.
  expect(bSteps.every((s, i) => i === 0 || s > bSteps[i - 1]!)).toBe(true);
  expect(bSteps.slice(0, shownBefore)).toEqual([...Array(shownBefore).keys()]);
  expect(bSteps.at(-1)).toBe(paused[0] - 1);
  // Every step B logged is the room's step: the same loss as A's.
  const aLoss = new Map(stepsOf(aLog));
  for (const [s, loss] of stepsOf(bLog)) expect(loss, `step ${s}`).toBe(aLoss.get(s));

  // A new run: B offers the earlier one (the run it continued across the reload) for export.
  await a.getByRole('button', { name: 'Reset' }).click();
  await expect.poll(() => a.locator('sbn-controls .state').textContent(), { timeout: 30_000 }).toBe('Idle');
  await a.getByRole('button', { name: 'Start' }).click();
  const earlier = b.locator('sbn-saved-runs li');
  await expect.poll(() => earlier.count(), { timeout: 30_000 }).toBe(1);
  await a.getByRole('button', { name: 'Pause' }).click();
  const saved = JSON.parse(await download(b, () => earlier.getByRole('button', { name: /Export JSON/ }).click())) as RunLog;
  expect(stepsOf(saved)).toEqual(stepsOf(bLog));
});
