/**
 * The nn layers run unchanged on WebGPU (SwiftShader in headless Chromium here): every BatchNorm mode
 * trained for 3 steps over 4 virtual workers agrees with the CPU backend, raises no GPU error and
 * leaks no GPU tensor. (Step timings are measured by `npm run bench:train`.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { harnessUrl, launchBrowser, openPage, startDevServer, type DevServer } from '../helpers/browser.ts';

type PageModule = typeof import('./layers-gpu.page.ts');
const PAGE_MODULE = '/tests/nn/layers-gpu.page.ts';
/** float32 GPU reductions vs float64-accumulating CPU reductions, after 3 SGD steps. */
const MAX_REL_DIFF = 2e-3;

let server: DevServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  server = await startDevServer();
  browser = await launchBrowser();
  page = await openPage(browser, harnessUrl(server));
});

afterAll(async () => {
  if (page) await call('destroy').catch(() => {});
  await browser?.close();
  await server?.close();
});

/** Calls an export of the page module in the tab (a string script: vitest rewrites `import()` in functions). */
async function call<K extends keyof PageModule>(fn: K, ...args: unknown[]): Promise<Awaited<ReturnType<PageModule[K]>>> {
  return page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m[${JSON.stringify(fn)}](...${JSON.stringify(args)}))`) as never;
}

describe('nn layers on WebGPU', () => {
  for (const mode of ['local', 'shuffle', 'sync'] as const) {
    it(`${mode}: 3 training steps match the CPU backend`, async () => {
      const r = await call('compareMode', mode);
      expect(r.gpuErrors).toEqual([]);
      expect(r.leakedGpuTensors).toBe(0);
      expect(r.traceExact).toBe(true);
      for (const key of ['y', 'dx', 'params', 'running'] as const) expect(r[key], key).toBeLessThan(MAX_REL_DIFF);
    });
  }
});
