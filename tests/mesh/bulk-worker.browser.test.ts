/**
 * Bulk in a worker (src/mesh/bulk-worker/): real WebRTC between headless Chromium tabs whose links
 * move their bulk channel to the page's bulk worker, and the same with the move refused (the
 * main-thread fallback of a browser that cannot transfer a data channel).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { harnessUrl, launchBrowser, loadPageModule, openPage, pageModuleCaller, startDevServer, type DevServer } from '../helpers/browser.ts';

type PageModule = typeof import('./mesh.page.ts');
type LinkModule = typeof import('./bulk-link.page.ts');
const PAGE_MODULE = '/tests/mesh/mesh.page.ts';
const LINK_MODULE = '/tests/mesh/bulk-link.page.ts';
const FLOATS_4MIB = (4 * 1024 * 1024) / 4;

/** Calls an export of `module` in `page` (pageModuleCaller with the page as an argument). */
function caller<M>(module: string) {
  return <K extends keyof M>(page: Page, fn: K, ...args: unknown[]) => pageModuleCaller<M>(() => page, module)(fn, ...args);
}
const call = caller<PageModule>(PAGE_MODULE);
const linkCall = caller<LinkModule>(LINK_MODULE);

describe('bulk data in a worker', () => {
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

  /** `tabs` tabs in one room, every one with the bulk worker on (`noTransfer`: the move refused). */
  async function room(tabs: number, noTransfer = false): Promise<Page[]> {
    const pages: Page[] = [];
    let roomId: string | undefined;
    for (let i = 0; i < tabs; i++) {
      const page = await openPage(browser, harnessUrl(server));
      await loadPageModule(page, PAGE_MODULE);
      ({ roomId } = await call(page, 'join', roomId, undefined, undefined, true, true, noTransfer));
      pages.push(page);
    }
    await Promise.all(pages.map((p) => call(p, 'waitForSize', tabs, 90_000)));
    return pages;
  }

  /** Both tabs' 4 MiB allReduce: the float32 sum of the two seeded inputs, bit for bit. */
  async function expectExactSum(pages: Page[], seed: number): Promise<void> {
    const results = await Promise.all(pages.map((p) => call(p, 'allReduceExactPair', FLOATS_4MIB, seed)));
    for (const r of results) expect(r).toEqual({ length: FLOATS_4MIB, mismatches: 0 });
  }

  it('2 split-link tabs with bulk in the worker allReduce 4 MiB bit-exactly and exchange statistics', async () => {
    const tabs = await room(2);
    for (const status of await Promise.all(tabs.map((p) => call(p, 'bulkStatus')))) {
      // Split links: each pair's two connections move their bulk channel (the stats connection's is idle).
      expect(status).toMatchObject({ enabled: true, inWorker: 2, onMainThread: 0, fallbackReason: '' });
    }
    await expectExactSum(tabs, 51);
    await Promise.all(tabs.map((p) => call(p, 'statsExchange')));
    await expectExactSum(tabs, 52);
    for (const page of tabs) await page.close();
  });

  it('a malformed bulk frame drops only its sender, with ERR_BAD_FRAME naming it', async () => {
    const tabs = await room(3);
    const views = await Promise.all(tabs.map((p) => call(p, 'waitForSize', 3)));
    const rankOf = (i: number) => views[i]!.rank;
    const idOf = (i: number) => views[0]!.members[rankOf(i)]!;
    // Tab 2 sends a frame with a wrong checksum to tab 1's bulk channel.
    await call(tabs[2]!, 'sendCorruptBulkFrame', rankOf(1));
    await expect.poll(async () => (await call(tabs[1]!, 'log')).filter((line) => line.startsWith('peer-left')), { timeout: 10_000 }).toEqual([`peer-left ${idOf(2)} ERR_BAD_FRAME`]);
    // Nothing else: tab 1 still reaches tab 0 on both channels, and tab 2 still reaches tab 0.
    for (const channel of ['stats', 'bulk'] as const) {
      expect(await call(tabs[1]!, 'pingPeer', idOf(0), channel)).toBeGreaterThan(0);
      expect(await call(tabs[2]!, 'pingPeer', idOf(0), channel)).toBeGreaterThan(0);
    }
    expect(await call(tabs[0]!, 'log')).not.toContainEqual(expect.stringMatching(/^peer-left/));
    for (const page of tabs) await page.close();
  });

  it('closing a link releases a sender waiting for its bulk channel to drain', async () => {
    const page = await openPage(browser, harnessUrl(server));
    await loadPageModule(page, LINK_MODULE);
    // Without a close, the wait ends when the worker reports the channel drained.
    const drained = await linkCall(page, 'drainAcrossClose', 2 * 1024 * 1024, null);
    expect(drained.inWorker).toBeGreaterThanOrEqual(1);
    expect(drained.bufferedAtStart).toBe(2 * 1024 * 1024);
    expect(drained.outcome).toMatch(/^drained/);
    // 64 MiB cannot drain within 30 ms: the close must release the waiter.
    const released = await linkCall(page, 'drainAcrossClose', 64 * 1024 * 1024, 30);
    expect(released.outcome).toMatch(/^released by close/);
    expect(released.ms).toBeLessThan(2_000);
    await page.close();
  });

  it('fallback: where a data channel cannot move to a worker, bulk stays on the page and the same allReduce is exact', async () => {
    const tabs = await room(2, true);
    for (const status of await Promise.all(tabs.map((p) => call(p, 'bulkStatus')))) {
      expect(status.inWorker).toBe(0);
      expect(status.onMainThread).toBe(2);
      expect(status.fallbackReason).toMatch(/cannot move a data channel to a worker.*DataCloneError/);
    }
    await expectExactSum(tabs, 51);
    await Promise.all(tabs.map((p) => call(p, 'statsExchange')));
    for (const page of tabs) await page.close();
  });
});
