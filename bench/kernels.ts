/**
 * Kernel benchmark: `bash scripts/in-netns.sh npx tsx bench/kernels.ts` (npm run bench:kernels).
 * Starts the dev server and headless Chromium, runs bench/lib/kernels.page.ts and
 * bench/lib/matmul-peers.page.ts in a page and prints tables: BN statistics against tf.moments (tfjs
 * WebGPU), a plain buffer copy, a read-only WGSL reduction of the same tensor and a float64 JS loop on
 * the same adapter; our matmuls (WebGPU and wasm) against tfjs matMul on the same adapter and on
 * tfjs-wasm, at the anchor's shapes; matmul GFLOP/s at the training shapes; per-op overhead.
 * Asserts nothing.
 */
import type { Page } from 'playwright-core';
import { harnessUrl, launchBrowser, openPage, startDevServer } from '../tests/helpers/browser.ts';
import type * as PageModule from './lib/kernels.page.ts';
import type * as PeersModule from './lib/matmul-peers.page.ts';
import os from 'node:os';
import { acceptNoArguments } from '../scripts/lib/cli.ts';

acceptNoArguments(`usage: npm run bench:kernels
  Times the BN statistics kernel against tf.moments, a buffer copy, a read-only reduction and a float64
  JS loop; our matmuls against tfjs matMul (WebGPU and wasm); matmul on the training shapes; in headless
  Chromium (WebGPU). Prints tables; asserts nothing. No options.`);

const PAGE_MODULE = '/bench/lib/kernels.page.ts';
const PEERS_MODULE = '/bench/lib/matmul-peers.page.ts';
/** BN shapes of the brief: [N, C] and [N, C, H, W]. */
const BN_SHAPES = [[4096, 256], [65536, 64], [256, 64, 16, 16]];
/**
 * Vite may re-optimise dependencies (tfjs) on first import — or another dev server sharing the
 * cache may — and answer 504 until it is done: retry that many times, RETRY_WAIT_MS apart.
 */
const IMPORT_ATTEMPTS = 6;
const RETRY_WAIT_MS = 2_000;

type Mod = typeof PageModule;

async function call<K extends keyof Mod>(page: Page, fn: K, ...args: Parameters<Mod[K]>): Promise<Awaited<ReturnType<Mod[K]>>> {
  const script = `import(${JSON.stringify(PAGE_MODULE)}).then((m) => m[${JSON.stringify(fn)}](...${JSON.stringify(args)}))`;
  return (await page.evaluate(script)) as Awaited<ReturnType<Mod[K]>>;
}

async function matmulPeers(page: Page): Promise<Awaited<ReturnType<typeof PeersModule.matmulPeers>>> {
  return (await page.evaluate(`import(${JSON.stringify(PEERS_MODULE)}).then((m) => m.matmulPeers())`)) as never;
}

/** The machine's load when a table's figures were taken (benchmarks here share 2 cores with other work). */
function load(): string {
  return `load average ${os.loadavg().map((v) => v.toFixed(1)).join(', ')}`;
}

function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((v) => (typeof v === 'number' ? fmt(v) : v)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) < 1e-3) return v.toExponential(2);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toPrecision(3);
}

async function main(): Promise<void> {
  const server = await startDevServer();
  const browser = await launchBrowser();
  try {
    const page = await openPage(browser, harnessUrl(server));
    let info: Awaited<ReturnType<Mod['adapter']>> | null = null;
    for (let attempt = 1; !info; attempt++) {
      try {
        info = await call(page, 'adapter');
      } catch (err) {
        if (attempt >= IMPORT_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, RETRY_WAIT_MS));
        await page.reload();
      }
    }
    console.log(`adapter: ${info.label} (fallback adapter: ${info.isFallbackAdapter}); tfjs backend: ${info.tfjsBackend}\n`);

    const bnRows = [];
    for (const shape of BN_SHAPES) bnRows.push(await call(page, 'bnStatsBench', shape));
    console.log(`BN statistics (mean + biased variance per channel), best of many repetitions; ${load()}`);
    console.log(table(
      ['shape', 'ours ms', 'ours GB/s', 'read-only GB/s', 'ours/read-only', 'copy GB/s', 'ours/copy', 'ours e2e ms', 'tf.moments e2e ms', 'speed-up vs tfjs', 'tfjs/read-only', 'JS f64 ms', 'JS GB/s', 'ours vs JS', 'max rel var err'],
      bnRows.map((r) => [
        r.shape, r.oursMs, r.oursGBs, r.readGBs, `${fmt(r.oursGBs / r.readGBs)}`, r.copyGBs, `${fmt(r.oursGBs / r.copyGBs)}`,
        r.oursE2eMs, r.tfjsMs, `${fmt(r.tfjsMs / r.oursE2eMs)}×`, `${fmt(r.tfjsMs / r.readMs)}×`, r.jsMs, r.jsGBs, `${fmt(r.jsMs / r.oursMs)}×`, r.maxRelVarErr,
      ]),
    ));
    console.log('(ours, read-only, copy: calls queued back to back; read-only: read_sum.wgsl reads the same tensor once, its sum checked against float64)');
    console.log('(e2e: one call at a time, each waiting for its variance to be read back, ours and tf.moments alike; tfjs/read-only: the speed-up a kernel as fast as the read-only reduction would show)');
    console.log('(targets: ours/read-only ≥ 0.5, [N, C, H, W] ≥ 150× tf.moments)');
    console.log('(ours vs JS > 1 means faster than the JavaScript float64 loop; max rel var err on 1000 + N(0, 1) against a float64 two-pass reference)\n');

    const peers = await matmulPeers(page);
    console.log(`Matmul peers at the anchor's shapes, every product checked against float64 first; tfjs-wasm ${peers.tfjsWasm}; ${load()}`);
    console.log(table(
      ['product', 'ours WebGPU ms', 'tfjs WebGPU ms', 'ours/tfjs (WebGPU)', 'ours wasm ms', 'ours wasm GFLOP/s', 'tfjs-wasm ms', 'tfjs-wasm GFLOP/s', 'ours wasm/tfjs-wasm'],
      peers.rows.map((r) => [
        r.name, r.oursGpuMs, r.tfjsGpuMs, `${fmt(r.tfjsGpuMs / r.oursGpuMs)}×`, r.oursWasmMs, r.flops / r.oursWasmMs / 1e6,
        r.tfjsWasmMs ?? '—', r.tfjsWasmMs ? r.flops / r.tfjsWasmMs / 1e6 : '—', r.tfjsWasmMs ? `${fmt(r.tfjsWasmMs / r.oursWasmMs)}×` : '—',
      ]),
    ));
    console.log('(ratios are speed-ups: > 1 means ours is faster; target on WebGPU ≥ 1.5×)\n');

    console.log(`Targets (issue 13), from the tables above; ${load()}`);
    const worstPeer = peers.rows.reduce((w, r) => (r.tfjsGpuMs / r.oursGpuMs < w.tfjsGpuMs / w.oursGpuMs ? r : w));
    console.log(`  WebGPU matmul vs tfjs matMul ≥ 1.5×: lowest ${fmt(worstPeer.tfjsGpuMs / worstPeer.oursGpuMs)}× (${worstPeer.name})`);
    for (const r of bnRows) console.log(`  BN statistics ${r.shape} vs read-only ≥ 0.5: ${fmt(r.oursGBs / r.readGBs)}`);
    const nchw = bnRows.find((r) => r.shape.split(',').length === 4);
    if (nchw) console.log(`  BN statistics ${nchw.shape} vs tf.moments ≥ 150×: ${fmt(nchw.tfjsMs / nchw.oursE2eMs)}× (a kernel as fast as the read-only reduction: ${fmt(nchw.tfjsMs / nchw.readMs)}×)`);
    console.log('');

    const mm = await call(page, 'matmulBench');
    console.log(`Matmul (Linear layer), ${info.isFallbackAdapter ? 'register-blocked kernel (fallback adapter)' : 'shared-memory tiled kernel'}; ${load()}`);
    console.log(table(['op', 'ms', 'GFLOP/s'], mm.map((r) => [r.name, r.ms, r.gflops])));
    console.log('');

    const train = await call(page, 'trainingOpsBench');
    console.log('Ops at training shapes (each timed alone, submit + wait included)');
    console.log(table(['op', 'µs'], train.map((r) => [r.what, r.usPerOp])));
    console.log('');

    const oh = await call(page, 'overheadBench');
    console.log('Per-op overhead (1000 small ops, shared encoder)');
    console.log(table(['what', 'µs per op'], oh.map((r) => [r.what, r.usPerOp])));
    await call(page, 'destroy');
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
