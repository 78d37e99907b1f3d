/**
 * The nn layers run unchanged on WebGPU (SwiftShader in headless Chromium here): every BatchNorm mode
 * trained for 3 steps over 4 virtual workers agrees with the CPU backend, raises no GPU error and
 * leaks no GPU tensor. (Step timings are measured by `npm run bench:train`.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHarness, pageModuleCaller, type Harness } from '../helpers/browser.ts';

type PageModule = typeof import('./layers-gpu.page.ts');
const PAGE_MODULE = '/tests/nn/layers-gpu.page.ts';
/** float32 GPU reductions vs float64-accumulating CPU reductions, after 3 SGD steps. */
const MAX_REL_DIFF = 2e-3;

let harness: Harness;
const call = pageModuleCaller<PageModule>(() => harness.page, PAGE_MODULE);

beforeAll(async () => {
  harness = await openHarness();
});

afterAll(async () => {
  if (harness) await call('destroy').catch(() => {});
  await harness?.close();
});

describe('nn layers on WebGPU', () => {
  for (const mode of ['local', 'shuffle', 'sync'] as const) {
    it(`${mode}: 3 training steps match the CPU backend`, async () => {
      const r = await call('compareMode', mode);
      expect(r.gpuErrors).toEqual([]);
      expect(r.leakedGpuTensors).toBe(0);
      expect(r.traceLayers).toBe(2);
      expect(r.traceProblems).toEqual([]);
      expect(r.traceVsCpu).toBeLessThan(MAX_REL_DIFF);
      for (const key of ['y', 'dx', 'params', 'running'] as const) expect(r[key], key).toBeLessThan(MAX_REL_DIFF);
    });
  }
});
