/**
 * MocoTrainer on WebGPU over the real mesh against the PyTorch trajectory oracle
 * (tests/golden/trajectory.json): 2 headless Chromium tabs × 2 workers joined by the signaling server
 * and WebRTC data channels, 20 steps of MoCo in local, shuffle (random and cyclic), sync and samples,
 * and of the encoder trained through its BN exchange (local, shuffle, sync).
 * See tests/train/trajectory.test.ts for the CPU backend and tests/golden/make_trajectory.py.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { harnessUrl, launchBrowser, openPage, pageModuleCaller, startDevServer, type DevServer } from '../helpers/browser.ts';
import { ENCODER_SETTINGS } from './encoder-trajectory.ts';
import { TRAJECTORY_SETTINGS, trajectoryErrors, type Reference } from './trajectory-setup.ts';

type PageModule = typeof import('./trajectory.page.ts');
const PAGE_MODULE = '/tests/train/trajectory.page.ts';
const TABS = 2;
const WORKERS_PER_TAB = 2;

const reference = JSON.parse(readFileSync(new URL('../golden/trajectory.json', import.meta.url), 'utf8')) as Reference;

/**
 * Loss at every step |ours − reference| / |reference|, and final tensors per tensor
 * ‖ours − reference‖₂ / ‖reference‖₂. The WebGPU kernels sum in float32 (the CPU backend in float64),
 * and SwiftShader is not a hardware GPU, so the targets are 1e-4 and 1e-3. Measured here (SwiftShader,
 * one run): MoCo loss ≤ 3.1e-6, final ≤ 3.2e-5; encoder part loss ≤ 1.4e-6, final ≤ 9.1e-6.
 */
const LOSS_TOLERANCE = 1e-4;
const FINAL_TOLERANCE = 1e-3;

describe('PyTorch trajectory oracle, WebGPU over 2 tabs × 2 workers', () => {
  let server: DevServer;
  let browser: Browser;
  const pages: Page[] = [];
  const call = (page: Page) => pageModuleCaller<PageModule>(() => page, PAGE_MODULE);

  /** Opens the tabs and joins them in a new room (closing the tabs of an earlier room). */
  async function freshRoom(): Promise<void> {
    for (const page of pages.splice(0)) await page.close().catch(() => {});
    for (let i = 0; i < TABS; i++) pages.push(await openPage(browser, harnessUrl(server)));
    const { roomId } = await call(pages[0]!)('join');
    for (const page of pages.slice(1)) await call(page)('join', roomId);
  }
  /**
   * Set when a case fails: the tabs may then disagree on which collective comes next (one timed out
   * mid-run), so the next case, or the retry of this one, starts in a new room.
   */
  let broken = false;

  beforeAll(async () => {
    server = await startDevServer();
    browser = await launchBrowser();
    await freshRoom();
  });

  afterAll(async () => {
    for (const page of pages) await call(page)('leave').catch(() => {});
    await browser?.close();
    await server?.close();
  });

  type Entry = 'runSetting' | 'runEncoderSetting';
  const cases = [
    ...TRAJECTORY_SETTINGS.map((s) => [`MoCo, ${s.name}`, 'runSetting' as Entry, s.name] as const),
    ...ENCODER_SETTINGS.map((s) => [`encoder through its BN exchange, ${s.name}`, 'runEncoderSetting' as Entry, s.name] as const),
  ];

  it.each(cases)('%s follows the PyTorch trajectory', async (label, entry, name) => {
    const ref = (entry === 'runSetting' ? reference.settings : reference.encoder.settings).find((s) => s.name === name)!;
    const expectedInputs = entry === 'runSetting' ? reference.inputsSha256 : reference.encoder.inputsSha256;
    if (broken) await freshRoom();
    broken = true;
    const tabs = await Promise.all(pages.map((page) => call(page)(entry, name, TABS, WORKERS_PER_TAB)));
    broken = false;
    expect(tabs.map((t) => t.firstWorker).sort()).toEqual([0, WORKERS_PER_TAB]);
    for (const tab of tabs) {
      expect(tab.gpuErrors).toEqual([]);
      expect(tab.backend).toMatch(/^webgpu: /);
      expect(tab.inputsSha256, 'our generator no longer makes the inputs the oracle used: regenerate trajectory.json (see README)').toBe(expectedInputs);
      expect(tab.run.sourceOf).toEqual(ref.sourceOf);
    }
    // Every tab reports the same world loss and holds the same tensors.
    expect(tabs[1]!.run.loss).toEqual(tabs[0]!.run.loss);
    expect(tabs[1]!.run.final).toEqual(tabs[0]!.run.final);
    const errors = trajectoryErrors(tabs[0]!.run, ref);
    console.log(`trajectory ${label} (webgpu, ${TABS} tabs × ${WORKERS_PER_TAB}): loss rel. error ≤ ${errors.loss.toExponential(2)} (step ${errors.lossStep}), final ≤ ${errors.final.toExponential(2)} (${errors.finalTensor})`);
    expect(errors.missing).toEqual([]);
    expect(errors.loss).toBeLessThanOrEqual(LOSS_TOLERANCE);
    expect(errors.final).toBeLessThanOrEqual(FINAL_TOLERANCE);
  });
});
