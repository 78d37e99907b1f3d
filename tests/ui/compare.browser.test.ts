/**
 * Compare mode end to end over 2 tabs, real everything (signaling, WebRTC mesh, WebGPU on SwiftShader,
 * the app): tab A creates a room and turns on "Compare with a second model" (shuffle against local),
 * tab B joins by the link and presses Start. Both models' curves grow together on both tabs, the
 * shuffle view switches between the models, and the exported run log holds both models, each with
 * the losses of a single-model run of the same settings over 2 tabs (run by the headless runner
 * in the same browser, on the same software GPU).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { HeadlessRoom } from '../../scripts/lib/headless-run.ts';
import { launchBrowser, startDevServer, type DevServer } from '../helpers/browser.ts';
import { newAppTab } from './tabs.ts';
import type { RunLog, StepLog, TrainConfig } from '../../src/train/types.ts';

/** Few steps of a small model: the UI run and two reference runs stay within a few minutes on a software GPU. */
const STEPS = 8;
const KNN_EVERY = 4;

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

async function setField(page: Page, label: string, value: string): Promise<void> {
  await page.getByLabel(label, { exact: true }).fill(value);
  await page.getByLabel(label, { exact: true }).press('Tab');
}

function pointCounts(page: Page, metric: 'loss' | 'pretextAcc' | 'knnAcc'): Promise<number[]> {
  return page.evaluate((m) => document.querySelector('sbn-app')!.shadowRoot!.querySelector('sbn-curves')!.pointCounts(m), metric);
}

function arrows(page: Page): Promise<string[][]> {
  return page.locator('sbn-shuffle-view figure').first().locator('path.arrow').evaluateAll((els) => els.map((e) => [e.getAttribute('data-from')!, e.getAttribute('data-to')!]));
}

/** A single-model run of `config` over 2 headless tabs; rank 0's step logs. */
async function singleModelRun(config: TrainConfig): Promise<StepLog[]> {
  const room = await HeadlessRoom.open({ server, browser });
  const tabs = [await room.addTab(), await room.addTab()];
  await Promise.all(tabs.map((t) => t.run({ config, tabs: 2, backend: 'auto', traceEvery: 0, traceChannels: 1 })));
  const steps = tabs[0]!.steps;
  for (const t of tabs) await t.page.context().close();
  return steps;
}

it('two tabs train shuffle and local side by side; each model matches its single-model run', async () => {
  const a = await newTab(`${server.url}/`);
  await a.getByRole('button', { name: 'Create a room' }).click();
  const linkBox = a.locator('sbn-room-link input#room-link');
  await expect.poll(() => linkBox.inputValue(), { timeout: 30_000 }).toMatch(/\?room=[A-Za-z0-9_-]{22,}$/);
  const link = await linkBox.inputValue();

  await a.locator('sbn-controls summary').click();
  await setField(a, 'Hidden widths (comma-separated)', '32');
  await setField(a, 'Queue size (keys)', '64');
  await setField(a, 'Output width', '16');
  await setField(a, 'kNN every (steps, 0 = never)', String(KNN_EVERY));
  await setField(a, 'Virtual workers per tab', '2');
  await setField(a, 'Batch per worker', '4');
  await setField(a, 'Steps', String(STEPS));
  await a.getByLabel('Compare with a second model').check();

  const b = await newTab(link);
  // B receives the room's settings, the compare toggle included.
  await expect.poll(() => b.getByLabel('Compare with a second model').isChecked(), { timeout: 60_000 }).toBe(true);
  expect(await b.getByLabel('Mode of the second model').inputValue()).toBe('local');
  await expect.poll(() => b.locator('sbn-peers tbody tr[data-peer]').count(), { timeout: 60_000 }).toBe(2);
  await b.getByRole('button', { name: 'Start' }).click();

  // Live: both curves grow together (same number of points whenever looked at, mid-run included).
  const seen = new Set<number>();
  await expect
    .poll(
      async () => {
        const counts = await pointCounts(a, 'loss');
        if (counts.length === 2 && counts[0] === counts[1]) seen.add(counts[0]!);
        else if (counts.length === 2) throw new Error(`curves out of step: ${counts.join(' vs ')}`);
        return a.locator('sbn-controls .state').textContent();
      },
      { timeout: 240_000, interval: 300 },
    )
    .toBe(`Done: ${STEPS} steps`);
  expect([...seen].some((n) => n > 0 && n < STEPS)).toBe(true);
  for (const page of [a, b]) {
    await expect.poll(() => page.locator('sbn-controls .state').textContent(), { timeout: 120_000 }).toBe(`Done: ${STEPS} steps`);
    expect(await pointCounts(page, 'loss')).toEqual([STEPS, STEPS]);
    expect(await pointCounts(page, 'pretextAcc')).toEqual([STEPS, STEPS]);
    expect(await pointCounts(page, 'knnAcc')).toEqual([STEPS / KNN_EVERY, STEPS / KNN_EVERY]);
  }
  expect(await a.locator('sbn-curves figure').first().locator('.u-legend').textContent()).toMatch(/shuffle\/random W=4.*local W=4/);

  // The shuffle view switches between the models: shuffle lends statistics, local keeps its own.
  const shuffled = await arrows(a);
  expect(shuffled).toHaveLength(4);
  for (const [from, to] of shuffled) expect(from).not.toBe(to);
  await a.getByRole('button', { name: /Model 2: local/ }).click();
  const own = await arrows(a);
  expect(own).toHaveLength(4);
  for (const [from, to] of own) expect(from).toBe(to);
  await a.getByRole('button', { name: /Model 1: shuffle/ }).click();
  expect(await arrows(a)).toEqual(shuffled);

  // The exported run log holds both models; B logged the same.
  const download = a.waitForEvent('download');
  await a.getByRole('button', { name: 'Export JSON' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^shufflebn-shuffle-vs-local-random-w4-.*\.json$/);
  const run = JSON.parse(readFileSync((await file.path())!, 'utf8')) as RunLog;
  expect(run.config.compareWith).toBe('local');
  expect(run.steps).toHaveLength(STEPS);
  const lossLines = await Promise.all([a, b].map(async (page) => ((await page.locator('sbn-log pre').textContent()) ?? '').split('\n').filter((l) => / Loss /.test(l))));
  expect(lossLines[0]!.at(-1)).toMatch(new RegExp(`^\\[${STEPS}/${STEPS}\\] Loss \\d+\\.\\d{4} {2}\\(compare: local\\)$`));
  expect(lossLines[1]).toEqual(lossLines[0]);
  await a.screenshot({ path: new URL('../../test-artifacts/app-compare.png', import.meta.url).pathname, fullPage: true });
  for (const page of [a, b]) await page.context().close();

  // Each model equals a single-model run of the same settings over 2 tabs: same backend, same
  // operations in the same order, so the losses agree exactly.
  const shuffle = await singleModelRun({ ...run.config, compareWith: null });
  const local = await singleModelRun({ ...run.config, mode: 'local', compareWith: null });
  expect(run.steps.map((s) => s.loss)).toEqual(shuffle.map((s) => s.loss));
  expect(run.steps.map((s) => s.pretextAcc)).toEqual(shuffle.map((s) => s.pretextAcc));
  expect(run.steps.map((s) => s.compare!.loss)).toEqual(local.map((s) => s.loss));
  expect(run.steps.map((s) => s.compare!.pretextAcc)).toEqual(local.map((s) => s.pretextAcc));
  expect(run.steps.map((s) => s.compare!.knnAcc)).toEqual(local.map((s) => s.knnAcc));
  expect(run.steps.map((s) => s.loss)).not.toEqual(run.steps.map((s) => s.compare!.loss));
}, 360_000);
