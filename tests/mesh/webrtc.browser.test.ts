/**
 * Real WebRTC between headless Chromium tabs, inside the test network namespace. First four tabs of one
 * browser join a room by its link and allReduce 4 MiB; then two network namespaces joined by a veth pair
 * act as two hosts, each with its own Chromium, and form one mesh across the "network".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { harnessUrl, launchBrowser, openPage, startDevServer, type DevServer } from '../helpers/browser.ts';

type PageModule = typeof import('./mesh.page.ts');
const PAGE_MODULE = '/tests/mesh/mesh.page.ts';
const FLOATS_4MIB = (4 * 1024 * 1024) / 4;

/** Calls an export of the page module in the tab. The script is a string: vitest rewrites `import()` in functions. */
async function call<K extends keyof PageModule>(page: Page, fn: K, ...args: unknown[]): Promise<Awaited<ReturnType<Extract<PageModule[K], (...a: never[]) => unknown>>>> {
  const script = `import(${JSON.stringify(PAGE_MODULE)}).then((m) => m[${JSON.stringify(fn)}](...${JSON.stringify(args)}))`;
  return page.evaluate(script) as never;
}

/** Opens a tab on the room link (`?room=`), as a person following the link would. */
async function openRoomTab(browser: Browser, server: DevServer, roomId?: string): Promise<Page> {
  const url = `${harnessUrl(server)}${roomId ? `?room=${roomId}` : ''}`;
  return openPage(browser, url);
}

async function joinFromLink(page: Page): Promise<{ peerId: string; roomId: string }> {
  const roomId = await page.evaluate(() => new URL(location.href).searchParams.get('room') ?? undefined);
  return call(page, 'join', roomId);
}

describe('WebRTC mesh in one browser', () => {
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

  it('4 tabs join one room by its link; allReduce of 4 MiB equals the reference on every tab', async () => {
    const first = await openRoomTab(browser, server);
    const { roomId } = await joinFromLink(first);
    const others = await Promise.all([1, 2, 3].map(() => openRoomTab(browser, server, roomId)));
    for (const page of others) await joinFromLink(page);
    const tabs = [first, ...others];
    const views = await Promise.all(tabs.map((p) => call(p, 'waitForSize', 4, 90_000)));
    // Everyone agrees on the epoch and the rank order; ranks are distinct.
    expect(new Set(views.map((v) => v.epoch)).size).toBe(1);
    expect(new Set(views.map((v) => v.members.join(','))).size).toBe(1);
    expect(views.map((v) => v.rank).sort()).toEqual([0, 1, 2, 3]);

    const results = await Promise.all(tabs.map((p) => call(p, 'allReduceCheck', FLOATS_4MIB, 42)));
    for (const r of results) expect(r.maxAbsError).toBeLessThan(1e-5); // 4 inputs of |x| ≤ 2: float32 rounding only
    expect(new Set(results.map((r) => r.resultHash)).size).toBe(1);
    console.log(`allReduce 4 MiB on 4 tabs: ${results.map((r) => r.ms.toFixed(0)).join(', ')} ms`);

    // A tab leaves: the others see a new epoch of 3 and keep working.
    await call(tabs[3]!, 'leave');
    const after = await Promise.all(tabs.slice(0, 3).map((p) => call(p, 'waitForSize', 3)));
    expect(after.map((v) => v.rank).sort()).toEqual([0, 1, 2]);
    for (const page of tabs.slice(0, 3)) expect((await call(page, 'log')).some((line) => line.startsWith('peer-left'))).toBe(true);
    expect(new Set(after.map((v) => v.epoch)).size).toBe(1);
    const small = await Promise.all(tabs.slice(0, 3).map((p) => call(p, 'allReduceCheck', 1000, 7)));
    for (const r of small) expect(r.maxAbsError).toBeLessThan(1e-5);
    for (const page of tabs) await page.close();
  });
});
