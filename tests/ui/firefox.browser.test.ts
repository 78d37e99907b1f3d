/**
 * Firefox ESR (no WebGPU here: CPU backend), driven by puppeteer-core over WebDriver BiDi:
 * - the room view at 1280×900 with four tabs has no horizontal overflow (screenshot in test-artifacts/);
 * - a Firefox tab joins a room created by a Chromium tab (WebGPU) over real WebRTC, both train, and
 *   every step's loss is the same on both tabs and agrees with a CPU reference run in Node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser as FirefoxBrowser, Page as FirefoxPage } from 'puppeteer-core';
import { mkdirSync } from 'node:fs';
import { HeadlessRoom } from '../../scripts/lib/headless-run.ts';
import { harnessUrl, launchFirefox } from '../helpers/browser.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { MocoTrainer } from '../../src/train/moco.ts';
import type { HeadlessRunOptions, ReportedStep } from '../../src/train/headless-worker.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/train/types.ts';
import { measureOverflow, type OverflowReport } from './overflow.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;

const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  mode: 'shuffle',
  steps: 6,
  batchPerWorker: 4,
  workersPerTab: 2,
  queueSize: 64,
  hiddenDims: [32],
  outputDim: 16,
  knnEvery: 0,
};

let room: HeadlessRoom;
let firefox: FirefoxBrowser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  room = await HeadlessRoom.open();
  firefox = await launchFirefox();
});

afterAll(async () => {
  await firefox?.close().catch(() => {});
  await room?.close();
});

async function firefoxPage(): Promise<FirefoxPage> {
  const page = await firefox.newPage();
  page.on('pageerror', (err) => console.error(`[firefox page error] ${err instanceof Error ? err.message : String(err)}`));
  await page.goto(harnessUrl(room.server));
  return page;
}

async function until(page: FirefoxPage, expression: string, timeoutMs: number): Promise<void> {
  await page.waitForFunction(expression, { timeout: timeoutMs, polling: 200 });
}

describe('Firefox ESR', () => {
  it('lays out the room view at 1280×900 with four tabs without horizontal overflow', async () => {
    const page = await firefoxPage();
    await page.setViewport({ width: 1280, height: 900 });
    await page.evaluate(`import('/tests/ui/ui.page.ts').then((m) => m.mountApp({ href: 'http://app.test/', stepsPerSecond: 20, crowded: true }))`);
    await page.evaluate(`window.__app.controller.createRoom()`);
    await until(page, `window.__app.store.state.peers.length === 4`, 30_000);
    await page.evaluate(`window.__app.controller.start()`);
    await until(page, `window.__app.store.state.step >= 12`, 60_000);
    const m = (await page.evaluate(measureOverflow)) as OverflowReport;
    expect(m.panels.length).toBeGreaterThanOrEqual(7);
    expect(m.page).toEqual({ scrollWidth: expect.any(Number), innerWidth: 1280, overflows: false });
    for (const p of m.panels) expect(p, `panel ${p.label}`).toMatchObject({ overflows: false });
    for (const c of m.peerCells) expect(c, `peers cell "${c.text}"`).toMatchObject({ clipped: false });
    expect(m.peerCells.map((c) => c.text)).toEqual(expect.arrayContaining(['connected', '1234.5 ms']));
    await page.screenshot({ path: `${ARTIFACTS}layout-firefox-1280x900.png`, fullPage: true });
    // The app's own page declares a dark color scheme, so Firefox draws dark scrollbars and form controls.
    await page.goto(`${room.server.url}/`);
    await until(page, `!!document.querySelector('sbn-app')?.shadowRoot?.querySelector('sbn-landing')`, 30_000);
    expect(await page.evaluate(`[getComputedStyle(document.documentElement).colorScheme, document.querySelector('meta[name="color-scheme"]')?.content]`)).toEqual(['dark', 'dark']);
    await page.close();
  });

  it('joins a Chromium room and trains to the same losses as the Chromium tab', async () => {
    const chromiumTab = await room.addTab();
    const page = await firefoxPage();
    await page.evaluate(`window.__reports = []; window.__sbnReport = (kind, payload) => window.__reports.push({ kind, payload });`);
    const joined = (await page.evaluate(`import('/src/train/headless-worker.ts').then((m) => m.joinRoom({ roomId: ${JSON.stringify(room.roomId)} }))`)) as { roomId: string };
    expect(joined.roomId).toBe(room.roomId);
    const opts: HeadlessRunOptions = { config, tabs: 2, backend: 'auto', traceEvery: 0, traceChannels: 1 };
    const [chromium, ff] = await Promise.all([
      chromiumTab.run(opts),
      page.evaluate(`import('/src/train/headless-worker.ts').then((m) => m.run(${JSON.stringify(opts)}))`) as Promise<{ backend: string; steps: number }>,
    ]);
    expect(chromium.backend).toMatch(/^webgpu/);
    expect(ff.backend).toMatch(/^cpu/);
    const reports = (await page.evaluate(`window.__reports`)) as { kind: string; payload: unknown }[];
    const ffSteps = reports.filter((r) => r.kind === 'step').map((r) => r.payload as ReportedStep);
    expect(reports.some((r) => r.kind === 'error' && (r.payload as { code: string }).code === 'ERR_NO_WEBGPU')).toBe(true);
    // Both tabs in one world of 4 workers: Firefox is rank 1.
    expect(new Set(ffSteps.map((s) => s.rank))).toEqual(new Set([1]));
    const chromiumLosses = chromiumTab.steps.map((s) => s.loss);
    expect(chromiumLosses).toHaveLength(config.steps);
    expect(ffSteps.map((s) => s.loss)).toEqual(chromiumLosses);

    // Reference: the same world of 4 workers in one Node process on the CPU backend.
    const trainer = new MocoTrainer({ backend: createCpuBackend(), config: { ...config, workersPerTab: 4 }, world: localWorld(4), train: createDataset({ seed: config.seed }).train });
    const reference: number[] = [];
    for (let i = 0; i < config.steps; i++) reference.push((await trainer.runStep()).loss);
    trainer.destroy();
    chromiumLosses.forEach((loss, i) => expect(Math.abs(loss - reference[i]!)).toBeLessThan(2e-3 * Math.abs(reference[i]!)));
    await page.close();
  });
});
