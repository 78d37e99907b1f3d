/**
 * MocoTrainer on WebGPU over the real mesh against the PyTorch trajectory oracle
 * (tests/golden/trajectory.json): 2 headless Chromium tabs × 2 workers joined by the signaling server
 * and WebRTC data channels, 20 steps of local, shuffle (random and cyclic), sync and samples.
 * See tests/train/trajectory.test.ts for the CPU backend and tests/golden/make_trajectory.py.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { harnessUrl, launchBrowser, openPage, pageModuleCaller, startDevServer, type DevServer } from '../helpers/browser.ts';
import { TRAJECTORY_SETTINGS, trajectoryErrors, type Reference } from './trajectory-setup.ts';

type PageModule = typeof import('./trajectory.page.ts');
const PAGE_MODULE = '/tests/train/trajectory.page.ts';
const TABS = 2;
const WORKERS_PER_TAB = 2;

const reference = JSON.parse(readFileSync(new URL('../golden/trajectory.json', import.meta.url), 'utf8')) as Reference;

/** Loss at every step, |ours − reference| / |reference| (see the measured figures in the report of each run). */
const LOSS_TOLERANCE = 1e-4;
/** Final tensors, per tensor ‖ours − reference‖₂ / ‖reference‖₂. */
const FINAL_TOLERANCE = 1e-3;

describe('PyTorch trajectory oracle, WebGPU over 2 tabs × 2 workers', () => {
  let server: DevServer;
  let browser: Browser;
  const pages: Page[] = [];
  const call = (page: Page) => pageModuleCaller<PageModule>(() => page, PAGE_MODULE);

  beforeAll(async () => {
    server = await startDevServer();
    browser = await launchBrowser();
    for (let i = 0; i < TABS; i++) pages.push(await openPage(browser, harnessUrl(server)));
    const { roomId } = await call(pages[0]!)('join');
    for (const page of pages.slice(1)) await call(page)('join', roomId);
  });

  afterAll(async () => {
    for (const page of pages) await call(page)('leave').catch(() => {});
    await browser?.close();
    await server?.close();
  });

  it.each(TRAJECTORY_SETTINGS.map((s) => [s.name] as const))('%s follows the PyTorch trajectory', async (name) => {
    const ref = reference.settings.find((s) => s.name === name)!;
    const tabs = await Promise.all(pages.map((page) => call(page)('runSetting', name, TABS, WORKERS_PER_TAB)));
    expect(tabs.map((t) => t.firstWorker).sort()).toEqual([0, WORKERS_PER_TAB]);
    for (const tab of tabs) {
      expect(tab.gpuErrors).toEqual([]);
      expect(tab.backend).toMatch(/^webgpu: /);
      expect(tab.inputsSha256, 'our generator no longer makes the inputs the oracle used: regenerate trajectory.json (see README)').toBe(reference.inputsSha256);
      expect(tab.run.sourceOf).toEqual(ref.sourceOf);
    }
    // Every tab reports the same world loss and holds the same encoders and queue.
    expect(tabs[1]!.run.loss).toEqual(tabs[0]!.run.loss);
    expect(tabs[1]!.run.final).toEqual(tabs[0]!.run.final);
    const errors = trajectoryErrors(tabs[0]!.run, ref);
    console.log(`trajectory ${name} (webgpu, ${TABS} tabs × ${WORKERS_PER_TAB}): loss rel. error ≤ ${errors.loss.toExponential(2)} (step ${errors.lossStep}), final ≤ ${errors.final.toExponential(2)} (${errors.finalTensor})`);
    expect(errors.missing).toEqual([]);
    expect(errors.loss).toBeLessThanOrEqual(LOSS_TOLERANCE);
    expect(errors.final).toBeLessThanOrEqual(FINAL_TOLERANCE);
  });
});
