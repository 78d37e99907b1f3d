/**
 * Rendering tests of each element in the harness page with given data: the shuffle view's arrows and
 * means, the log's line format, the QR code (decoded back to the link), notices, curves, and keyboard
 * reachability and labels of the controls. Screenshots go to test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import jsQR from 'jsqr';
import { mkdirSync } from 'node:fs';
import { harnessUrl, launchBrowser, openPage, startDevServer, type DevServer } from '../helpers/browser.ts';
import { QUICK_DEMO_CONFIG as QUICK_DEMO } from '../../src/app/presets.ts';
import { shuffledLayer, stepLog, cyclic } from './fixtures.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
type UiWindow = { ui: typeof import('./ui.page.ts') };
const PAGE_MODULE = '/tests/ui/ui.page.ts';

let server: DevServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startDevServer();
  browser = await launchBrowser();
  page = await openPage(browser, harnessUrl(server));
  await page.setViewportSize({ width: 1000, height: 800 });
  // Load the page module once; tests reach it as window.ui.
  // A string script: vitest rewrites import() inside functions passed to evaluate.
  await page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => { window.ui = m; })`);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function mount(tag: string, props: Record<string, unknown>): Promise<void> {
  await page.evaluate(
    async ([t, p]) => {
      const m = (window as unknown as UiWindow).ui;
      await m.mount(t, p);
    },
    [tag, props] as const,
  );
}

describe('sbn-peers', () => {
  const peers = [
    { id: 'p-self', rank: 0, meta: { device: 'Laptop GPU', backend: 'webgpu', virtualWorkers: 4 }, link: 'self' },
    { id: 'p-slow', rank: 1, meta: { device: 'Phone', backend: 'cpu', virtualWorkers: 4 }, link: 'connected' },
    { id: 'p-fast', rank: 2, meta: { device: 'Desktop GPU', backend: 'webgpu', virtualWorkers: 4 }, link: 'connected' },
  ];
  const pace = { slowest: { peerId: 'p-slow', stepMs: 3412 }, waitingFor: null };

  it('marks the peer the room waits for with its reported step time; its Drop button fires sbn-drop-peer with its id', async () => {
    await mount('sbn-peers', { peers, pace, canDrop: true });
    await page.evaluate(() => (window as unknown as UiWindow).ui.recordEvents(['sbn-drop-peer']));
    const marks = await page.locator('sbn-peers tr[data-peer] [data-waits-for]').evaluateAll((els) => els.map((e) => [e.closest('tr')!.getAttribute('data-peer'), e.textContent!.trim()]));
    expect(marks).toEqual([['p-slow', 'everyone waits for this tab: 3.4 s per step']]);
    const buttons = page.getByRole('button', { name: 'Drop from run' });
    expect(await buttons.count()).toBe(1);
    expect(await page.locator('sbn-peers tr[data-peer="p-slow"] button[data-drop]').count()).toBe(1);
    await buttons.click();
    expect(await page.evaluate(() => (window as unknown as { __events: unknown[] }).__events)).toEqual([{ type: 'sbn-drop-peer', detail: { peerId: 'p-slow' } }]);
  });

  it('offers no Drop button when not training, nor on this tab’s row when it is the slowest', async () => {
    await mount('sbn-peers', { peers, pace, canDrop: false });
    expect(await page.locator('sbn-peers [data-waits-for]').count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Drop from run' }).count()).toBe(0);
    await mount('sbn-peers', { peers, pace: { slowest: { peerId: 'p-self', stepMs: 850 }, waitingFor: null }, canDrop: true });
    expect(await page.locator('sbn-peers tr[data-peer="p-self"] [data-waits-for]').textContent()).toBe('everyone waits for this tab: 850 ms per step');
    expect(await page.getByRole('button', { name: 'Drop from run' }).count()).toBe(0);
  });

  it('the status line names the peer the room waits for by rank, from the report', async () => {
    await mount('sbn-status', { peers, pace, runState: 'running', tabs: 3 });
    expect(await page.locator('sbn-status [data-figure="waits-for"]').textContent()).toBe('everyone waits for rank 1: 3.4 s per step');
  });
});

describe('sbn-shuffle-view', () => {
  it('draws an arrow from each source to its receiver, and after-means of r equal before-means of its source', async () => {
    const sourceOf = [2, 0, 3, 1];
    const channels = 8;
    const layer = shuffledLayer(0, sourceOf, channels, 3);
    await mount('sbn-shuffle-view', { frame: { step: 4, sourceOf, layers: [layer, shuffledLayer(1, sourceOf, channels, 4)] }, channels });
    const view = page.locator('sbn-shuffle-view figure[data-layer="0"]');
    const arrows = await view.locator('path.arrow').evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-from')), Number(e.getAttribute('data-to'))]));
    expect(arrows.sort((a, b) => a[1]! - b[1]!)).toEqual(sourceOf.map((s, r) => [s, r]));
    const shown = async (side: string, w: number) =>
      view.locator(`g.strip[data-side="${side}"][data-worker="${w}"] rect`).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    for (let r = 0; r < sourceOf.length; r++) {
      const after = await shown('after', r);
      const sourceBefore = await shown('before', sourceOf[r]!);
      expect(after).toHaveLength(channels);
      expect(after).toEqual(sourceBefore);
      // and the view shows the data it was given
      expect(await shown('before', r)).toEqual(layer.meanBefore[r]);
    }
    // same colour for equal values: the after strip of r is painted like the before strip of its source
    const fills = (side: string, w: number) =>
      view.locator(`g.strip[data-side="${side}"][data-worker="${w}"] rect`).evaluateAll((els) => els.map((e) => e.getAttribute('fill')));
    expect(await fills('after', 0)).toEqual(await fills('before', 2));
    expect(await page.locator('sbn-shuffle-view .pairs').textContent()).toBe('w0←w2 w1←w0 w2←w3 w3←w1');
    expect(await view.locator('.check').getAttribute('data-ok')).toBe('true');
    // A layer whose worker 1 used its own statistics (what a mis-routed exchange would log) is flagged.
    const misrouted = { ...layer, meanAfter: layer.meanAfter.map((m, w) => (w === 1 ? [...layer.meanBefore[1]!] : m)) };
    await mount('sbn-shuffle-view', { frame: { step: 4, sourceOf, layers: [misrouted] }, channels });
    const flagged = page.locator('sbn-shuffle-view figure[data-layer="0"] .check');
    expect(await flagged.getAttribute('data-ok')).toBe('false');
    expect(await flagged.textContent()).toMatch(/✗ layer 0: worker 1 channel 0/);
    await mount('sbn-shuffle-view', { frame: { step: 4, sourceOf, layers: [layer, shuffledLayer(1, sourceOf, channels, 4)] }, channels });
    await page.locator('sbn-shuffle-view').screenshot({ path: `${ARTIFACTS}shuffle-view.png` });
  });

  it('compare mode: switches between the two models’ statistics of the same step', async () => {
    const shuffled = [1, 2, 3, 0];
    const own = [0, 1, 2, 3];
    const compare = { step: 7, sourceOf: own, layers: [shuffledLayer(0, own, 4, 9)], mode: 'local' };
    await mount('sbn-shuffle-view', { frame: { step: 7, sourceOf: shuffled, layers: [shuffledLayer(0, shuffled, 4, 8)], mode: 'shuffle', compare }, channels: 4 });
    const arrows = () => page.locator('sbn-shuffle-view figure').first().locator('path.arrow').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-from'))));
    const firstValue = () => page.locator('sbn-shuffle-view g.strip[data-side="before"][data-worker="0"] rect').first().getAttribute('data-value');
    expect(await arrows()).toEqual(shuffled);
    await page.getByRole('button', { name: 'Model 2: local BN' }).click();
    expect(await page.getByRole('button', { name: 'Model 2: local BN' }).getAttribute('aria-pressed')).toBe('true');
    expect(await arrows()).toEqual(own);
    expect(Number(await firstValue())).toBe(compare.layers[0]!.meanBefore[0]![0]);
    await page.getByRole('button', { name: 'Model 1: shuffle BN' }).click();
    expect(await arrows()).toEqual(shuffled);
  });

  it('limits channels drawn and shows an empty state without data', async () => {
    await mount('sbn-shuffle-view', { frame: { step: 0, sourceOf: cyclic(3), layers: [shuffledLayer(0, cyclic(3), 64)] }, channels: 16 });
    expect(await page.locator('sbn-shuffle-view g.strip[data-side="before"][data-worker="0"] rect').count()).toBe(16);
    await mount('sbn-shuffle-view', { frame: null });
    expect(await page.locator('sbn-shuffle-view path.arrow').count()).toBe(0);
    expect(await page.locator('sbn-shuffle-view p').textContent()).toContain('No statistics yet');
  });
});

describe('sbn-log', () => {
  it('shows lines in the seed format, newest last, and offers export', async () => {
    const lines = await page.evaluate(async () => (window as unknown as UiWindow).ui.logLines(3, 10));
    await mount('sbn-log', { lines, canExport: true });
    const text = (await page.locator('sbn-log pre').textContent())!.split('\n');
    // Independent reference: the seed printed the first channels with 4 decimals, then the 1-based step.
    const log = stepLog(2, cyclic(3), { channels: 12 });
    const expectVec = (v: number[]) => `[${v.slice(0, 8).map((x) => x.toFixed(4)).join(', ')}, …]`;
    expect(text[0]).toBe(`[0]mean before shuffle: ${expectVec(log.bn![0]!.meanBefore[0]!)}`);
    expect(text[3]).toBe(`[0]mean after shuffle: ${expectVec(log.bn![0]!.meanAfter[0]!)}`);
    expect(text.at(-1)).toMatch(/^\[3\/10\] Loss \d+\.\d{4}$/);
    expect(text.at(-1)).toBe(`[3/10] Loss ${log.loss.toFixed(4)}`);
    const events = await page.evaluate(async () => {
      const m = (window as unknown as UiWindow).ui;
      const seen = m.recordEvents(['sbn-export']);
      (document.querySelector('sbn-log')!.shadowRoot!.querySelectorAll('button')[1] as HTMLButtonElement).click();
      return seen;
    });
    expect(events).toEqual([{ type: 'sbn-export', detail: { format: 'csv' } }]);
  });
});

describe('sbn-room-link', () => {
  it('renders a QR code that decodes to the room link', async () => {
    const link = `${server.url}/?room=Qx7_abcdefghijklmnopqrstu`;
    await mount('sbn-room-link', { link });
    await page.waitForFunction(() => {
      const c = document.querySelector('sbn-room-link')!.shadowRoot!.querySelector('canvas')!;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      return d.some((v, i) => i % 4 === 0 && v < 128);
    });
    const img = await page.evaluate(() => {
      const c = document.querySelector('sbn-room-link')!.shadowRoot!.querySelector('canvas')!;
      return { w: c.width, h: c.height, data: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) };
    });
    const decoded = jsQR(Uint8ClampedArray.from(img.data), img.w, img.h);
    expect(decoded?.data).toBe(link);
    expect(await page.locator('sbn-room-link input#room-link').inputValue()).toBe(link);
    expect(await page.locator('sbn-room-link label[for="room-link"]').count()).toBe(1);
  });
});

describe('sbn-errors', () => {
  it('words each failure for a person, errors as alerts, and can be dismissed', async () => {
    const codes = ['ERR_NO_WEBGPU', 'ERR_FALLBACK_ADAPTER', 'ERR_ROOM_FULL', 'ERR_BAD_LINK', 'ERR_PEER_LEFT', 'ERR_RECONNECTING', 'ERR_DEVICE_LOST', 'ERR_BAD_FRAME'];
    const notices = await page.evaluate(async (c) => (window as unknown as UiWindow).ui.notices(c), codes);
    await mount('sbn-errors', { notices });
    const items = page.locator('sbn-errors li');
    expect(await items.count()).toBe(codes.length);
    const shown = await items.evaluateAll((els) => els.map((e) => ({ code: e.getAttribute('data-code'), role: e.getAttribute('role'), text: e.textContent ?? '' })));
    expect(shown.map((s) => s.code)).toEqual([...codes].reverse());
    // The words a person reads carry no error codes; the code is only under "Technical details".
    for (const s of shown) expect(s.text.split('Technical details')[0]).not.toContain('ERR_');
    expect(shown.find((s) => s.code === 'ERR_ROOM_FULL')!.role).toBe('alert');
    expect(shown.find((s) => s.code === 'ERR_FALLBACK_ADAPTER')!.role).toBe('status');
    expect(shown.find((s) => s.code === 'ERR_NO_WEBGPU')!.text).toContain('CPU');
    await page.locator('sbn-errors').screenshot({ path: `${ARTIFACTS}errors.png` });
    await page.evaluate(async () => (window as unknown as UiWindow).ui.recordEvents(['sbn-dismiss']));
    await page.getByRole('button', { name: 'Dismiss: This room is full' }).click();
    expect(await page.evaluate(() => (window as unknown as { __events: unknown[] }).__events)).toEqual([{ type: 'sbn-dismiss', detail: { key: 'ERR_ROOM_FULL' } }]);
  });
});

describe('sbn-curves', () => {
  it('overlays earlier runs: one series per run with one point per step', async () => {
    await page.evaluate(async () => {
      const m = (window as unknown as UiWindow).ui;
      await m.mount('sbn-curves', { runs: m.runs(30, 12) });
    });
    const counts = await page.evaluate(() => {
      const el = document.querySelector('sbn-curves')!;
      return { loss: el.pointCounts('loss'), knn: el.pointCounts('knnAcc'), pretext: el.pointCounts('pretextAcc') };
    });
    expect(counts).toEqual({ loss: [30, 12], pretext: [30, 12], knn: [6, 2] });
    expect(await page.locator('sbn-curves canvas').count()).toBe(3);
    const legend = await page.locator('sbn-curves figure').first().locator('.u-legend').textContent();
    expect(legend).toContain('local W=4');
    expect(legend).toContain('shuffle/random W=4');
    await page.locator('sbn-curves').screenshot({ path: `${ARTIFACTS}curves.png` });
  });
});

describe('sbn-controls', () => {
  it('labels every control and reaches all of them with the keyboard', async () => {
    await mount('sbn-controls', {});
    const unlabelled = await page.evaluate(() => {
      const root = document.querySelector('sbn-controls')!.shadowRoot!;
      return [...root.querySelectorAll('input, select')].filter((e) => (e as HTMLInputElement).labels?.length !== 1).map((e) => e.id);
    });
    expect(unlabelled).toEqual([]);
    // Tab from the start of the page and record which controls receive focus.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const reached: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      reached.push(
        await page.evaluate(() => {
          const el = document.querySelector('sbn-controls')!.shadowRoot!.activeElement as HTMLElement | null;
          return el ? el.id || el.textContent!.trim() : '';
        }),
      );
    }
    // The folded model settings are one stop (their summary); Pause and Reset are disabled while idle.
    // The second model's mode is disabled until compare mode is on.
    expect(reached.slice(0, 11)).toEqual(['mode', 'permutation', 'compare', 'batchPerWorker', 'workersPerTab', 'lr', 'steps', 'seed', 'Model and loss', 'Start', 'quick-demo']);
    // Change a value with the keyboard only: focus the batch field, type, commit with Enter/Tab.
    await page.evaluate(async () => (window as unknown as UiWindow).ui.recordEvents(['sbn-config-change', 'sbn-command']));
    await page.getByLabel('Batch per worker').fill('16');
    await page.keyboard.press('Tab');
    await page.getByLabel('Batch per worker').fill('1'); // below the BN minimum: refused
    await page.keyboard.press('Tab');
    await page.getByLabel('BatchNorm mode').selectOption('local');
    await page.getByRole('button', { name: 'Start' }).press('Enter');
    const events = await page.evaluate(() => (window as unknown as { __events: unknown[] }).__events);
    expect(events).toEqual([
      { type: 'sbn-config-change', detail: { patch: { batchPerWorker: 16 } } },
      { type: 'sbn-config-change', detail: { patch: { mode: 'local' } } },
      { type: 'sbn-command', detail: { command: 'start' } },
    ]);
    expect(await page.getByLabel('Batch per worker').getAttribute('aria-invalid')).toBe('true');
  });

  it('compare toggle proposes a local second model; Quick demo sets the preset and starts', async () => {
    await mount('sbn-controls', {});
    await page.evaluate(async () => (window as unknown as UiWindow).ui.recordEvents(['sbn-config-change', 'sbn-command']));
    expect(await page.getByLabel('Mode of the second model').isDisabled()).toBe(true);
    await page.getByLabel('Compare with a second model').check();
    await page.getByRole('button', { name: 'Quick demo' }).click();
    const events = (await page.evaluate(() => (window as unknown as { __events: unknown[] }).__events)) as { type: string; detail: { patch?: Record<string, unknown>; command?: string } }[];
    expect(events[0]).toEqual({ type: 'sbn-config-change', detail: { patch: { compareWith: 'local' } } });
    expect(events[1]!.detail.patch).toEqual(JSON.parse(JSON.stringify(QUICK_DEMO)));
    expect(events[2]).toEqual({ type: 'sbn-command', detail: { command: 'start' } });
    expect(events).toHaveLength(3);
  });

  it('locks settings during a run and offers Resume when paused', async () => {
    await mount('sbn-controls', { runState: 'paused', step: 41 });
    expect(await page.getByLabel('Seed').isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Resume' }).isEnabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Pause' }).isDisabled()).toBe(true);
    expect(await page.locator('sbn-controls .state').textContent()).toContain('Paused at step 42/');
  });
});
