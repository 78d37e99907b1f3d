/**
 * Page module for tests/gpu/kernels.browser.test.ts: builds the case lists and runs them in the page
 * against one WebGPU device. Each exported function returns plain JSON results.
 */
import type { BnLayout } from '../../src/backend/backend.ts';
import { bnCase, bnPrecisionCase, singleSampleCase, type DataKind } from './page/cases-bn.ts';
import { bnEdgeBackwardCase } from './page/cases-edges-backward.ts';
import { bnEdgeApplyCase, bnEdgeStatsCase, l2EdgeCase } from './page/cases-edges.ts';
import { infoNceCase, l2Case, linearCase, matmulNTCase } from './page/cases-dense.ts';
import { elementwiseCase, memoryCase } from './page/cases-misc.ts';
import { KernelHarness, runAll, type CaseFn, type CaseResult } from './page/harness.ts';
import { BN_MAX_ROWS_PER_STATS_THREAD, BN_ROWS_PER_THREAD, statsGrid, type StatsGrid } from '../../src/gpu/passes/batchnorm.ts';

export type { CaseResult };

let harness: KernelHarness | null = null;

async function main(): Promise<KernelHarness> {
  return (harness ??= await KernelHarness.create());
}

export async function adapterInfo(): Promise<{ label: string; isFallbackAdapter: boolean }> {
  const h = await main();
  return { label: h.gpu.label, isFallbackAdapter: h.gpu.isFallbackAdapter };
}

const BN_LAYOUTS: [string, BnLayout, DataKind][] = [
  ['N=2 C=1', { groups: 1, n: 2, c: 1, hw: 1 }, 'normal'],
  ['N=2 C=3 groups=2', { groups: 2, n: 2, c: 3, hw: 1 }, 'normal'],
  ['C=70 (not a multiple of the workgroup) groups=3', { groups: 3, n: 9, c: 70, hw: 1 }, 'normal'],
  ['N=37 (partial row chunk) C=5', { groups: 1, n: 37, c: 5, hw: 1 }, 'normal'],
  ['N=300 C=65 groups=2, offset data', { groups: 2, n: 300, c: 65, hw: 1 }, 'offset'],
  ['N=200 C=16, tiny variance', { groups: 1, n: 200, c: 16, hw: 1 }, 'tiny'],
  ['NCHW hw=9 groups=3', { groups: 3, n: 5, c: 7, hw: 9 }, 'normal'],
  ['NCHW hw=49 N=40, offset data', { groups: 1, n: 40, c: 4, hw: 49 }, 'offset'],
  ['NCHW N=1 hw=16 groups=2', { groups: 2, n: 1, c: 3, hw: 16 }, 'normal'],
  ['NCHW hw=8 N=150 (plane kernel, partial chunk) groups=2, offset data', { groups: 2, n: 150, c: 3, hw: 8 }, 'offset'],
  ['NCHW hw=12 N=70 (plane kernel, odd vec4 count per row), offset data', { groups: 1, n: 70, c: 5, hw: 12 }, 'offset'],
  ['NCHW hw=4 N=20 (plane kernel, one vec4 per row) groups=2', { groups: 2, n: 20, c: 3, hw: 4 }, 'normal'],
  ['C=64 N=130 (vec4 columns) groups=2, tiny variance', { groups: 2, n: 130, c: 64, hw: 1 }, 'tiny'],
];

export async function batchNormCases(): Promise<CaseResult[]> {
  const cases: [string, CaseFn][] = BN_LAYOUTS.map(([name, l, kind], i) => [`BN ${name}`, bnCase(l, kind, 100 + 10 * i)]);
  cases.push(['BN variance precision [8192, 8] 1000+N(0,1)', bnPrecisionCase({ groups: 1, n: 8192, c: 8, hw: 1 }, 1, 7)]);
  cases.push(['BN variance precision [64, 4, 16, 16] 1000+N(0,0.1)', bnPrecisionCase({ groups: 1, n: 64, c: 4, hw: 256 }, 0.1, 8)]);
  cases.push(['BN variance precision groups=4 1000+N(0,10)', bnPrecisionCase({ groups: 4, n: 1000, c: 33, hw: 1 }, 10, 9)]);
  cases.push(['BN one value per channel', singleSampleCase]);
  return runAll(await main(), cases);
}

/**
 * Non-finite values, magnitudes to 3e38 and constant channels against float64 (cases-edges.ts), in
 * every statistics kernel: column (≤ 64 and > 64 rows per worker), vec4 column, plane.
 */
export const EDGE_BN_LAYOUTS: [string, BnLayout][] = [
  ['[N, C] n=16 c=12 groups=2 (vec4 columns, one row chunk)', { groups: 2, n: 16, c: 12, hw: 1 }],
  ['[N, C] n=40 c=13 (scalar columns, one row chunk)', { groups: 1, n: 40, c: 13, hw: 1 }],
  ['[N, C] n=150 c=13 groups=2 (scalar columns, 3 row chunks)', { groups: 2, n: 150, c: 13, hw: 1 }],
  ['[N, C] n=200 c=12 (vec4 columns, 4 row chunks)', { groups: 1, n: 200, c: 12, hw: 1 }],
  ['[N, C, H, W] n=8 hw=16 c=12 groups=2 (plane, one chunk)', { groups: 2, n: 8, c: 12, hw: 16 }],
  ['[N, C, H, W] n=100 hw=16 c=12 (plane, 2 chunks)', { groups: 1, n: 100, c: 12, hw: 16 }],
  ['[N, C, H, W] n=30 hw=12 c=12 (plane, odd vec4 count per row)', { groups: 1, n: 30, c: 12, hw: 12 }],
  ['[N, C, H, W] n=12 hw=9 c=13 (scalar columns over positions)', { groups: 1, n: 12, c: 13, hw: 9 }],
  ['[N, C, H, W] n=70 hw=9 c=12 (vec4 columns over positions, 2 chunks)', { groups: 1, n: 70, c: 12, hw: 9 }],
];

export async function edgeCases(): Promise<CaseResult[]> {
  const cases: [string, CaseFn][] = EDGE_BN_LAYOUTS.map(([name, l], i) => [`BN statistics edges ${name}`, bnEdgeStatsCase(l, 900 + 10 * i)]);
  cases.push(['bnApply edges [N, C] (vec4 over channels)', bnEdgeApplyCase({ groups: 2, n: 30, c: 12, hw: 1 }, 990)]);
  cases.push(['bnApply edges [N, C] c=13 (scalar)', bnEdgeApplyCase({ groups: 1, n: 30, c: 13, hw: 1 }, 992)]);
  cases.push(['bnApply edges [N, C, H, W] (vec4 over positions)', bnEdgeApplyCase({ groups: 1, n: 6, c: 12, hw: 16 }, 995)]);
  cases.push(['BN backward edges [N, C]', bnEdgeBackwardCase({ groups: 2, n: 30, c: 13, hw: 1 }, 1020)]);
  cases.push(['BN backward edges [N, C, H, W]', bnEdgeBackwardCase({ groups: 1, n: 6, c: 12, hw: 16 }, 1030)]);
  cases.push(['l2Normalize edges d=128', l2EdgeCase(128, 1000)]);
  cases.push(['l2Normalize edges d=5', l2EdgeCase(5, 1010)]);
  return runAll(await main(), cases);
}

/** Stage-1 threads the long-chunk cases run with: small tensors then take the long row chunks of tall ones. */
const FEW_STATS_THREADS = 8;

/** Fails the case unless statsGrid picks this path for the layout on this harness, then runs `inner`. */
function onGrid(l: BnLayout, kind: StatsGrid['kind'], chunk: number, inner: CaseFn): CaseFn {
  return async (h) => {
    const grid = statsGrid(l, h.gpu.runtime.bnStatsThreads);
    h.expect(`statsGrid picks ${kind} with ${chunk}-row chunks`, grid.kind === kind && grid.chunk === chunk, `${grid.kind}, ${grid.chunk} rows`);
    await inner(h);
  };
}

/**
 * Statistics whose row chunks span several blocks of BN_ROWS_PER_THREAD rows (merged in the thread)
 * and end in a partial block, on vec4 and scalar columns, up to the BN_MAX_ROWS_PER_STATS_THREAD cap:
 * every BN op against the CPU backend, the float64 edges, and the variance precision on offset data.
 */
export async function longChunkStatsCases(): Promise<CaseResult[]> {
  const h = await KernelHarness.create({ bnStatsThreads: FEW_STATS_THREADS });
  const long = 4 * BN_ROWS_PER_THREAD;
  const cap = BN_MAX_ROWS_PER_STATS_THREAD;
  const cases: [string, BnLayout, StatsGrid['kind'], number, (l: BnLayout) => CaseFn][] = [
    ['column4 n=300 c=8 groups=2, offset data', { groups: 2, n: 300, c: 8, hw: 1 }, 'column4', long, (l) => bnCase(l, 'offset', 1100)],
    ['column n=300 c=7, one chunk of 5 blocks', { groups: 1, n: 300, c: 7, hw: 1 }, 'column', 2 * long, (l) => bnCase(l, 'normal', 1110)],
    ['column4 over positions n=200 c=4 hw=9, offset data', { groups: 1, n: 200, c: 4, hw: 9 }, 'column4', long, (l) => bnCase(l, 'offset', 1120)],
    ['edges column4 n=300 c=12 groups=2, one chunk', { groups: 2, n: 300, c: 12, hw: 1 }, 'column4', 2 * long, (l) => bnEdgeStatsCase(l, 1130)],
    ['edges column n=300 c=13', { groups: 1, n: 300, c: 13, hw: 1 }, 'column', 2 * long, (l) => bnEdgeStatsCase(l, 1140)],
    ['edges column at the row cap n=9000 c=13', { groups: 1, n: 9000, c: 13, hw: 1 }, 'column', cap, (l) => bnEdgeStatsCase(l, 1150)],
    ['variance precision column4 at the row cap [20000, 8] 1000+N(0,1)', { groups: 1, n: 20000, c: 8, hw: 1 }, 'column4', cap, (l) => bnPrecisionCase(l, 1, 1160)],
  ];
  try {
    return await runAll(h, cases.map(([name, l, kind, chunk, make]) => [`long chunks: ${name}`, onGrid(l, kind, chunk, make(l))]));
  } finally {
    h.destroy();
  }
}

export async function denseCases(): Promise<CaseResult[]> {
  return runAll(await main(), [
    ['linear 64×256 → 512 (training shape)', linearCase(64, 256, 512, 1)],
    ['linear 5×7 → 3 (smaller than a tile)', linearCase(5, 7, 3, 2)],
    ['linear 33×65 → 31 (ragged tiles)', linearCase(33, 65, 31, 3)],
    // Backward on CPU-backed adapters: dx and dw in 4×8 blocks (inDim % 8 = 0) or 4×4 (inDim % 8 = 4), ragged rows.
    ['linear 37×72 → 20 (backward 4×8 blocks)', linearCase(37, 72, 20, 9)],
    ['linear 37×68 → 20 (backward 4×4 blocks)', linearCase(37, 68, 20, 10)],
    ['matmulNT 17×40 · 50×40ᵀ', matmulNTCase(17, 50, 40, 4)],
    ['l2Normalize 9×128 with a zero row', l2Case(9, 128, 5)],
    ['l2Normalize 3×1000', l2Case(3, 1000, 6)],
    ['infoNce N=32 D=128 K=1024 T=0.1', infoNceCase(32, 128, 1024, 0.1, 7)],
    ['infoNce N=3 D=5 K=70 T=0.07', infoNceCase(3, 5, 70, 0.07, 8)],
  ]);
}

export async function miscCases(): Promise<CaseResult[]> {
  return runAll(await main(), [
    ['elementwise [7]', elementwiseCase([7], 1)],
    ['elementwise [33, 65]', elementwiseCase([33, 65], 2)],
    ['memory 10×3', memoryCase(10, 3, 3)],
    ['memory 40×17', memoryCase(40, 17, 4)],
  ]);
}

/**
 * The dense and row cases again with the kernel shapes of the other adapter class (CPU-backed:
 * register-blocked matmul, 4 threads per row; GPU: shared-memory tiled matmul, 64 threads per row).
 */
export async function otherAdapterShapeCases(): Promise<CaseResult[]> {
  const h = await KernelHarness.create({ cpuAdapter: !(await main()).gpu.runtime.cpuAdapter });
  const tag = h.gpu.runtime.cpuAdapter ? 'CPU-adapter shapes' : 'GPU shapes';
  try {
    return await runAll(h, [
      [`${tag}: linear 64×256 → 512`, linearCase(64, 256, 512, 11)],
      [`${tag}: linear 33×65 → 31`, linearCase(33, 65, 31, 12)],
      [`${tag}: matmulNT 17×40 · 50×40ᵀ`, matmulNTCase(17, 50, 40, 13)],
      [`${tag}: l2Normalize 9×128 with a zero row`, l2Case(9, 128, 14)],
      [`${tag}: l2Normalize edges d=128`, l2EdgeCase(128, 17)],
      [`${tag}: infoNce N=3 D=5 K=70`, infoNceCase(3, 5, 70, 0.07, 15)],
      [`${tag}: infoNce N=32 D=128 K=1024`, infoNceCase(32, 128, 1024, 0.1, 16)],
    ]);
  } finally {
    h.destroy();
  }
}

/** Every op on a backend limited to 3 workgroups per dimension, so each dispatch is split across y. */
export async function splitDispatchCases(): Promise<CaseResult[]> {
  const h = await KernelHarness.create({ maxWorkgroupsPerDim: 3 });
  try {
    return await runAll(h, [
      ['split: BN C=70 groups=3', bnCase({ groups: 3, n: 40, c: 70, hw: 1 }, 'normal', 500)],
      ['split: BN NCHW hw=49', bnCase({ groups: 2, n: 6, c: 5, hw: 49 }, 'offset', 510)],
      ['split: linear 70×100 → 90', linearCase(70, 100, 90, 520)],
      ['split: l2Normalize 9×128', l2Case(9, 128, 530)],
      ['split: infoNce N=10 K=200', infoNceCase(10, 16, 200, 0.1, 540)],
      ['split: elementwise [1000, 3]', elementwiseCase([1000, 3], 550)],
    ]);
  } finally {
    h.destroy();
  }
}

/**
 * A real dispatch beyond 65535 workgroups: bnApply over [266 305, 63] (c not a multiple of 4, so one
 * element per thread: 65 540 workgroups of 256); relu over 16.8M elements, a large vec4 dispatch.
 */
export async function bigDispatchCases(): Promise<CaseResult[]> {
  const rows = 65535 * 4 + 16;
  return runAll(await main(), [
    ['relu on 16.8M elements', elementwiseBig(rows * 64)],
    ['bnApply beyond 65535 workgroups', bnApplyBig({ groups: 1, n: 266_305, c: 63, hw: 1 })],
  ]);
}

function elementwiseBig(n: number): CaseFn {
  return async (h) => {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = ((i * 2654435761) % 1000) / 500 - 1;
    const x = h.pair(data, [n]);
    await h.check('relu', h.gpu.relu(x.g), h.cpu.relu(x.c), { rtol: 0, atolFrac: 0 });
  };
}

function bnApplyBig(l: BnLayout): CaseFn {
  return async (h) => {
    const n = l.groups * l.n * l.c * l.hw;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = ((i * 2654435761) % 997) / 100;
    const x = h.pair(data, [l.n, l.c]);
    const mean = h.pair(Float32Array.from({ length: l.c }, (_, i) => i / 10), [1, l.c]);
    const variance = h.pair(Float32Array.from({ length: l.c }, (_, i) => 1 + i / 7), [1, l.c]);
    await h.check('bnApply', h.gpu.bnApply(x.g, l, mean.g, variance.g, null, null, 1e-5), h.cpu.bnApply(x.c, l, mean.c, variance.c, null, null, 1e-5), { rtol: 1e-5, atolFrac: 1e-6 });
  };
}

export function destroy(): void {
  harness?.destroy();
  harness = null;
}
