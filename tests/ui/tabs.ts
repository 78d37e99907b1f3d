/**
 * App tabs for the UI browser tests: each in a context of its own (its own storage, like another
 * browser), with room for a slow first page load. The first load on a fresh dev server transforms the
 * whole app (4.7 s against 2.0 s warm at load 8 here), and in a full `npm test` on the shared 2 cores
 * page.goto has exceeded Playwright's default 30 s (reload and e2e, both passing on their retry, when
 * the transforms were warm).
 */
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { openPage } from '../helpers/browser.ts';

/** Navigation timeout of a tab (page.goto, page.reload). */
export const PAGE_LOAD_TIMEOUT_MS = 90_000;

/** Opens `url` in a new tab of its own context (1280 × 900 unless `options` say otherwise). */
export async function newAppTab(browser: Browser, url: string, options: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  context.setDefaultNavigationTimeout(PAGE_LOAD_TIMEOUT_MS);
  return openPage(context, url);
}
