/**
 * The room view fits its window: at 1280×900 (a laptop) and 390×844 (a phone), with this tab and three
 * connected peers in the table (long adapter names, RTT and step time filled) during a run, nothing
 * overflows sideways: not the page, not any panel, not the peers table inside its panel. Every cell of
 * the peers table is fully visible. Screenshots go to test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { harnessUrl, launchBrowser, openPage, startDevServer, type DevServer } from '../helpers/browser.ts';
import { measureOverflow } from './overflow.ts';
import type { SbnApp } from '../../src/ui/sbn-app.ts';

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

/** The app over fake ports in a room of four tabs, a run in progress. */
async function crowdedRoom(width: number, height: number): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await openPage(context, harnessUrl(server));
  await page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.mountApp({ href: 'http://app.test/', stepsPerSecond: 20, crowded: true }))`);
  await page.getByRole('button', { name: 'Create a room' }).click();
  await expect.poll(() => page.locator('sbn-peers tbody tr[data-peer]').count()).toBe(4);
  await page.getByRole('button', { name: 'Start' }).click();
  // A few steps: the status line has a rate and an ETA, the peers table step times, the curves points.
  await expect.poll(() => page.locator('sbn-status [data-figure="eta"]').count(), { timeout: 20_000 }).toBe(1);
  await expect.poll(() => page.locator('sbn-app').evaluate((el) => (el as SbnApp).store!.state.step), { timeout: 20_000 }).toBeGreaterThan(12);
  // Two earlier runs of the room saved in this browser, listed under the log with their export buttons.
  await page.locator('sbn-app').evaluate((el) => {
    const store = (el as SbnApp).store!;
    const header = { version: 1 as const, config: { ...store.state.room.config, mode: 'samples' as const, compareWith: 'local' as const, steps: 1_000_000 }, worldSize: 1024, tabs: 16, backend: 'cpu', startedAt: '2026-11-30T10:00:00.000Z' };
    const saved = (runId: string) => ({ roomId: store.state.roomId!, runId, header, stepCount: 999_999, lastStep: 999_998, updatedAt: 1 });
    store.update({ savedRuns: [saved('mih1x2k3-0a1b2c'), saved('mih1x2k3-0a1b2c-with-a-much-longer-run-identifier-than-usual')] });
  });
  await expect.poll(() => page.locator('sbn-saved-runs li').count()).toBe(2);
  return page;
}

describe('room view layout', () => {
  for (const [width, height] of [[1280, 900], [390, 844]] as const) {
    it(`${width}×${height}: no horizontal overflow with four tabs in the room`, async () => {
      const page = await crowdedRoom(width, height);
      const m = await page.evaluate(measureOverflow);
      expect(m.panels.length).toBeGreaterThanOrEqual(7);
      expect(m.page, 'page').toEqual({ scrollWidth: expect.any(Number), innerWidth: width, overflows: false });
      for (const p of m.panels) expect(p, `panel ${p.label}`).toMatchObject({ overflows: false });
      for (const c of m.peerCells) expect(c, `peers cell "${c.text}"`).toMatchObject({ clipped: false });
      expect(m.peerCells.map((c) => c.text)).toEqual(expect.arrayContaining(['connected', 'this tab', '1234.5 ms', '9877 ms']));
      // The slowest peer's row carries its mark and the Drop button, inside its cell and the panel.
      const drop = await page.evaluate(() => {
        const peers = document.querySelector('sbn-app')!.shadowRoot!.querySelector('sbn-peers')!;
        const button = peers.shadowRoot!.querySelector('tr[data-peer="crowd-peer-b"] button[data-drop]')!;
        const [b, cell, panel] = [button, button.closest('td')!, peers.closest('section')!].map((e) => e.getBoundingClientRect().right);
        return { text: button.textContent!.trim(), inCell: b! <= cell! + 0.5, inPanel: b! <= panel! + 0.5 };
      });
      expect(drop).toEqual({ text: 'Drop from run', inCell: true, inPanel: true });
      await page.screenshot({ path: `${ARTIFACTS}layout-${width}x${height}.png`, fullPage: true });
      await page.context().close();
    });
  }

  it('the status line reads the run: step, measured pace and time left', async () => {
    const page = await crowdedRoom(1280, 900);
    // Independent reference: the test's own count of steps over 4 s of wall time in the page.
    const count = () => page.locator('sbn-app').evaluate((el) => [(el as SbnApp).store!.state.step, performance.now()] as const);
    const [s0, t0] = await count();
    await new Promise((r) => setTimeout(r, 4000));
    const [s1, t1] = await count();
    const measured = ((s1 - s0) * 1000) / (t1 - t0);
    const text = (await page.locator('sbn-status').evaluate((el) => el.shadowRoot!.textContent!)).replace(/\s+/g, ' ');
    const shownStep = Number(/step (\d+)\/2000/.exec(text)![1]);
    expect(shownStep).toBeGreaterThanOrEqual(s1 + 1);
    // The status averages the newest 20 steps, the test 4 s: on a loaded machine the pace wobbles, so within 2×.
    const rate = Number(/([\d.]+) steps\/s/.exec(text)![1]);
    expect(rate).toBeGreaterThan(measured / 2);
    expect(rate).toBeLessThan(measured * 2);
    // Time left = steps left / rate, as a person reads it.
    const eta = /about (?:(\d+) h )?(\d+) (s|min) left/.exec(text);
    expect(eta, text).not.toBeNull();
    const etaSeconds = Number(eta![1] ?? 0) * 3600 + Number(eta![2]) * (eta![3] === 'min' ? 60 : 1);
    const expected = (2000 - shownStep) / rate;
    expect(etaSeconds).toBeGreaterThan(expected * 0.5);
    expect(etaSeconds).toBeLessThan(expected * 1.5 + 60);
    expect(await page.locator('sbn-peers td[data-step-ms]').evaluateAll((els) => els.map((e) => e.textContent))).toEqual(['2412 ms', '2872 ms', '1203 ms', '9877 ms']);
    await page.context().close();
  });
});
