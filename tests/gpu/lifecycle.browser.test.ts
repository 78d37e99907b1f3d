/** Backend selection, the GPU error surface and tensor lifetime of the WebGPU backend, in Chromium. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { harnessUrl, launchBrowser, openPage, startDevServer, type DevServer } from '../helpers/browser.ts';

type PageModule = typeof import('./lifecycle.page.ts');
const PAGE_MODULE = '/tests/gpu/lifecycle.page.ts';

let server: DevServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  server = await startDevServer();
  browser = await launchBrowser();
  page = await openPage(browser, harnessUrl(server));
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Calls an export of the page module in the tab. A string script: vitest rewrites `import()` in functions. */
async function call<K extends keyof PageModule>(fn: K): Promise<Awaited<ReturnType<PageModule[K]>>> {
  const script = `import(${JSON.stringify(PAGE_MODULE)}).then((m) => m[${JSON.stringify(fn)}]())`;
  return (await page.evaluate(script)) as Awaited<ReturnType<PageModule[K]>>;
}

function expectChecks(checks: { what: string; ok: boolean; detail: string }[], count: number): void {
  expect(checks.length).toBe(count);
  expect(checks.filter((c) => !c.ok).map((c) => `${c.what} (${c.detail})`)).toEqual([]);
}

describe('WebGPU backend lifecycle', () => {
  it('createBackend picks WebGPU, or the CPU backend with a reason when WebGPU is missing', async () => {
    expectChecks(await call('selection'), 4);
  });

  it('validation errors and device loss reach onError with stable codes', async () => {
    expectChecks(await call('errorSurface'), 4);
  });

  it('recycles buffers across steps and rejects use after dispose/destroy', async () => {
    expectChecks(await call('lifetime'), 5);
  });
});
