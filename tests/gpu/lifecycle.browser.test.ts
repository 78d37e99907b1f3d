/** Backend selection, the GPU error surface and tensor lifetime of the WebGPU backend, in Chromium. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHarness, pageModuleCaller, type Harness } from '../helpers/browser.ts';

type PageModule = typeof import('./lifecycle.page.ts');
const PAGE_MODULE = '/tests/gpu/lifecycle.page.ts';

let harness: Harness;
const call = pageModuleCaller<PageModule>(() => harness.page, PAGE_MODULE);

beforeAll(async () => {
  harness = await openHarness();
});

afterAll(async () => {
  await harness?.close();
});

function expectChecks(checks: { what: string; ok: boolean; detail: string }[], count: number): void {
  expect(checks.length).toBe(count);
  expect(checks.filter((c) => !c.ok).map((c) => `${c.what} (${c.detail})`)).toEqual([]);
}

describe('WebGPU backend lifecycle', () => {
  it('createBackend picks WebGPU, or the WebAssembly SIMD CPU backend (agreeing with float64) with a reason when WebGPU is missing', async () => {
    expectChecks(await call('selection'), 6);
  });

  it('validation errors and device loss reach onError with stable codes', async () => {
    expectChecks(await call('errorSurface'), 4);
  });

  it('recycles buffers across steps and rejects use after dispose/destroy', async () => {
    expectChecks(await call('lifetime'), 5);
  });
});
