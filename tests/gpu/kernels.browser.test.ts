/**
 * Every WebGPU kernel against the CPU backend, in headless Chromium (SwiftShader here). One browser
 * and one page for the whole file; the cases run in the page (tests/gpu/kernels.page.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHarness, pageModuleCaller, type Harness } from '../helpers/browser.ts';
import type { CaseResult } from './kernels.page.ts';

type PageModule = typeof import('./kernels.page.ts');
type Entry = 'batchNormCases' | 'longChunkStatsCases' | 'edgeCases' | 'denseCases' | 'otherAdapterShapeCases' | 'miscCases' | 'splitDispatchCases' | 'bigDispatchCases';

/** Served by Vite to the page. */
const PAGE_MODULE = '/tests/gpu/kernels.page.ts';

let harness: Harness;
const call = pageModuleCaller<PageModule>(() => harness.page, PAGE_MODULE);

beforeAll(async () => {
  harness = await openHarness();
});

afterAll(async () => {
  if (harness) await call('destroy').catch(() => {});
  await harness?.close();
});

async function run(entry: Entry): Promise<CaseResult[]> {
  return call(entry);
}

/** One line per failing comparison, so a failure says which op, where, and by how much. */
function failures(results: CaseResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    if (r.ok) continue;
    if (r.thrown) lines.push(`${r.name}: threw ${r.thrown}`);
    for (const e of r.gpuErrors) lines.push(`${r.name}: GPU error ${e}`);
    if (r.leaked) lines.push(`${r.name}: ${r.leaked} tensor(s) leaked`);
    if (r.comparisons.length === 0) lines.push(`${r.name}: no comparisons ran`);
    for (const c of r.comparisons) {
      if (c.ok) continue;
      lines.push(`${r.name} / ${c.what}: ${c.unwritten ? `${c.unwritten} unwritten element(s); ` : ''}${c.lengthMismatch ? 'length mismatch; ' : ''}worst ratio ${c.worstRatio.toPrecision(3)} at [${c.worstIndex}] got ${c.got} want ${c.want}`);
    }
  }
  return lines;
}

function expectAllPass(results: CaseResult[], minCases: number): void {
  expect(results.length).toBeGreaterThanOrEqual(minCases);
  expect(failures(results)).toEqual([]);
  for (const r of results) expect(r.comparisons.length, r.name).toBeGreaterThan(0);
}

describe('WebGPU backend vs CPU backend', () => {
  it('runs on a WebGPU adapter (SwiftShader accepted)', async () => {
    const info = await call('adapterInfo');
    expect(info.label.length).toBeGreaterThan(0);
    console.log(`adapter: ${info.label} (fallback: ${info.isFallbackAdapter})`);
  });

  it('BatchNorm: statistics, apply, backward (local and borrowed), stats backward, running update', async () => {
    const results = await run('batchNormCases');
    for (const r of results) for (const c of r.comparisons) if (c.what.startsWith('max relative variance')) console.log(`${r.name}: ${c.what}`);
    expectAllPass(results, 13);
  });

  it('BN statistics in long row chunks (tall tensors: blocks merged in the thread, up to the row cap) against the CPU backend and float64', async () => {
    const results = await run('longChunkStatsCases');
    for (const r of results) for (const c of r.comparisons) if (c.what.startsWith('max relative variance')) console.log(`${r.name}: ${c.what}`);
    expectAllPass(results, 7);
  });

  it('edges against float64: NaN/Inf give NaN, magnitudes to 3e38 stay right, constant channels have variance 0', async () => {
    expectAllPass(await run('edgeCases'), 12);
  });

  it('dense, L2 normalisation and InfoNCE', async () => {
    expectAllPass(await run('denseCases'), 10);
  });

  it('dense and row kernels with the other adapter class shapes (tiled vs register-blocked matmul, 64 vs 4 threads per row)', async () => {
    expectAllPass(await run('otherAdapterShapeCases'), 6);
  });

  it('elementwise, optimiser and memory ops', async () => {
    expectAllPass(await run('miscCases'), 4);
  });

  it('dispatches split across y when the workgroup count exceeds the per-dimension limit', async () => {
    expectAllPass(await run('splitDispatchCases'), 6);
  });

  it('a dispatch beyond 65535 workgroups, and a 16.8M-element tensor', async () => {
    expectAllPass(await run('bigDispatchCases'), 2);
  });
});
