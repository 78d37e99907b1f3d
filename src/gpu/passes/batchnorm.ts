/**
 * BatchNorm passes over x [groups, n, c, hw]. Statistics (after a tiny pilot pass that picks a scale
 * and a shift per channel) and backward sums are two-stage column
 * reductions: stage 1 views x as [groups, n, c·hw] and gives each thread one column and a chunk of
 * rows (contiguous reads across a workgroup, many threads even for few channels); stage 2 merges the
 * partials of each (group, channel) in one thread. Backward chunks are BN_ROWS_PER_THREAD rows; the
 * statistics' chunks grow with the row count (statsGrid), summed in blocks of that many rows. For
 * [N, C, H, W] with hw % 4 = 0 the statistics use a plane kernel instead (one thread per channel
 * and row chunk, contiguous rows).
 */
import pilotWgsl from '../../../shaders/bn_pilot.wgsl?raw';
import columnPartialWgsl from '../../../shaders/bn_column_partial.wgsl?raw';
import columnPartialVec4Wgsl from '../../../shaders/bn_column_partial_vec4.wgsl?raw';
import planePartialWgsl from '../../../shaders/bn_plane_partial.wgsl?raw';
import mergeStatsWgsl from '../../../shaders/bn_merge_stats.wgsl?raw';
import columnSumsWgsl from '../../../shaders/bn_column_sums.wgsl?raw';
import mergeSumsWgsl from '../../../shaders/bn_merge_sums.wgsl?raw';
import paramGradsWgsl from '../../../shaders/bn_param_grads.wgsl?raw';
import applyWgsl from '../../../shaders/bn_apply.wgsl?raw';
import applyVec4Wgsl from '../../../shaders/bn_apply_vec4.wgsl?raw';
import dxLocalWgsl from '../../../shaders/bn_dx_local.wgsl?raw';
import dxBorrowedWgsl from '../../../shaders/bn_dx_borrowed.wgsl?raw';
import statsBackwardWgsl from '../../../shaders/bn_stats_backward.wgsl?raw';
import runningUpdateWgsl from '../../../shaders/bn_running_update.wgsl?raw';
import type { BnLayout } from '../../backend/backend.ts';
import { ComputePass, type PassContext } from '../compute-pass.ts';

/** Rows each stage-1 thread reduces sequentially in f32 before the exact (Chan) merges take over. */
export const BN_ROWS_PER_THREAD = 64;
/**
 * Stage-1 threads the column statistics aim for. Beyond it a thread takes more rows (in blocks of
 * BN_ROWS_PER_THREAD, merged exactly in the thread), so a tall tensor such as [65536, 64] leaves
 * stage 2 (one thread per channel, merging serially) a few dozen partials per channel instead of a
 * thousand. 4096 threads still fill a GPU's cores several times over.
 */
export const BN_STATS_THREADS = 4096;
/** Most rows one stage-1 statistics thread takes: 64 blocks, so a sum of block sums has ≤ 64 terms. */
export const BN_MAX_ROWS_PER_STATS_THREAD = 64 * BN_ROWS_PER_THREAD;
/** Threads per workgroup of the column (stage 1) and merge (stage 2) kernels. */
const COLUMN_WG = 64;
const MERGE_WG = 64; // threads over (group, channel)

/** Stage-1 geometry for a layout. */
export interface ColumnGrid {
  width: number;
  chunk: number;
  chunks: number;
  blocks: number;
  /** Floats per stage-1 output buffer: groups · chunks · width. */
  partialSize: number;
}

/** How stage 1 of the statistics covers a layout, and what stage 2 then merges. */
export interface StatsGrid extends ColumnGrid {
  /** plane: [N, C, H, W] with hw % 4 = 0; column4: c·hw % 4 = 0; column: anything else. */
  kind: 'plane' | 'column4' | 'column';
  /** Partials per (group, chunk, channel): hw for the column kernels, 1 for planes. */
  positions: number;
  /** Values behind one row of a partial: 1 for columns, hw for planes. */
  valuesPerRow: number;
}

/**
 * How stage 1 of the statistics covers a layout: the plane kernel for [N, C, H, W] with hw % 4 = 0,
 * else column kernels (vec4 when c·hw % 4 = 0) whose row chunk doubles from BN_ROWS_PER_THREAD while
 * there would be more than `maxThreads` threads (up to BN_MAX_ROWS_PER_STATS_THREAD rows).
 */
export function statsGrid(layout: BnLayout, maxThreads = BN_STATS_THREADS): StatsGrid {
  const grid = columnGrid(layout);
  if (layout.hw > 1 && layout.hw % 4 === 0) {
    return { ...grid, kind: 'plane', positions: 1, valuesPerRow: layout.hw, partialSize: layout.groups * grid.chunks * layout.c };
  }
  const kind = grid.width % 4 === 0 ? 'column4' : 'column';
  const threadsPerChunk = layout.groups * (kind === 'column4' ? grid.width / 4 : grid.width);
  let chunk = grid.chunk;
  while (chunk < layout.n && chunk < BN_MAX_ROWS_PER_STATS_THREAD && threadsPerChunk * Math.ceil(layout.n / chunk) > maxThreads) chunk *= 2;
  const chunks = Math.ceil(layout.n / chunk);
  return { ...grid, kind, chunk, chunks, partialSize: layout.groups * chunks * grid.width, positions: layout.hw, valuesPerRow: 1 };
}

export function columnGrid(layout: BnLayout): ColumnGrid {
  const width = layout.c * layout.hw;
  const chunk = Math.max(1, Math.min(BN_ROWS_PER_THREAD, layout.n));
  const chunks = Math.ceil(layout.n / chunk);
  return { width, chunk, chunks, blocks: Math.ceil(width / COLUMN_WG), partialSize: layout.groups * chunks * width };
}

function elementParams(layout: BnLayout): number[] {
  const groupSize = layout.n * layout.c * layout.hw;
  return [layout.groups * groupSize, layout.c, layout.hw, groupSize];
}

/** Stage 0 of statistics: per (group, channel) a power-of-two scale and a shift near its scaled mean. */
export class BnPilotPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnPilot', code: pilotWgsl, storage: ['read', 'write'], workgroupSize: 64 });
  }
  run(x: GPUBuffer, pilot: GPUBuffer, layout: BnLayout): void {
    const { groups, n, c, hw } = layout;
    this.dispatch([x, pilot], this.groupsFor(groups * c), [groups, n, c, hw]);
  }
}

/** Stage 1 of statistics for [N, C, H, W] with hw divisible by 4: one thread per (group, channel, chunk). */
export class BnPlanePartialPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnPlanePartial', code: planePartialWgsl, storage: ['read', 'read', 'write', 'write'], workgroupSize: COLUMN_WG });
  }
  run(x: GPUBuffer, pilot: GPUBuffer, partMean: GPUBuffer, partM2: GPUBuffer, layout: BnLayout, grid: StatsGrid): void {
    const { groups, n, c, hw } = layout;
    this.dispatch([x, pilot, partMean, partM2], this.groupsFor(groups * grid.chunks * c), [groups, n, c, hw / 4, grid.chunk, grid.chunks]);
  }
}

/** Stage 1 of statistics when c·hw is divisible by 4: four columns per thread as vec4. */
export class BnColumnPartialVec4Pass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnColumnPartialVec4', code: columnPartialVec4Wgsl, storage: ['read', 'read', 'write', 'write'], workgroupSize: COLUMN_WG, constants: { BLOCK_ROWS: BN_ROWS_PER_THREAD } });
  }
  run(x: GPUBuffer, pilot: GPUBuffer, partMean: GPUBuffer, partM2: GPUBuffer, layout: BnLayout, grid: ColumnGrid): void {
    const { groups, n, c, hw } = layout;
    const width4 = grid.width / 4;
    this.dispatch([x, pilot, partMean, partM2], this.groupsFor(groups * grid.chunks * width4), [groups, n, width4, grid.chunk, grid.chunks, c, hw]);
  }
}

/** Stage 1 of statistics: per (group, chunk, column) shifted mean and M2. */
export class BnColumnPartialPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnColumnPartial', code: columnPartialWgsl, storage: ['read', 'read', 'write', 'write'], workgroupSize: COLUMN_WG, constants: { BLOCK_ROWS: BN_ROWS_PER_THREAD } });
  }
  run(x: GPUBuffer, pilot: GPUBuffer, partMean: GPUBuffer, partM2: GPUBuffer, layout: BnLayout, grid: ColumnGrid): void {
    const { groups, n, c, hw } = layout;
    this.dispatch([x, pilot, partMean, partM2], this.groupsFor(groups * grid.chunks * grid.width), [groups, n, grid.width, grid.chunk, grid.chunks, c, hw]);
  }
}

/** Stage 2 of statistics: per (group, channel) mean and M2 (or the biased variance). */
export class BnMergeStatsPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnMergeStats', code: mergeStatsWgsl, storage: ['read', 'read', 'read', 'write', 'write'], workgroupSize: MERGE_WG });
  }
  run(partMean: GPUBuffer, partM2: GPUBuffer, pilot: GPUBuffer, mean: GPUBuffer, m2OrVar: GPUBuffer, layout: BnLayout, grid: StatsGrid, wantVar: boolean): void {
    const { groups, n, c } = layout;
    this.dispatch([partMean, partM2, pilot, mean, m2OrVar], this.groupsFor(groups * c), [groups, n, c, grid.positions, grid.chunk, grid.chunks, wantVar ? 1 : 0, grid.valuesPerRow]);
  }
}

/** Stage 1 of the backward sums: per (group, chunk, column) Σdy and Σdy·(x − mean). */
export class BnColumnSumsPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnColumnSums', code: columnSumsWgsl, storage: ['read', 'read', 'read', 'write', 'write'], workgroupSize: COLUMN_WG });
  }
  run(dy: GPUBuffer, x: GPUBuffer, mean: GPUBuffer, partDy: GPUBuffer, partDyx: GPUBuffer, layout: BnLayout, grid: ColumnGrid): void {
    const { groups, n, c, hw } = layout;
    this.dispatch([dy, x, mean, partDy, partDyx], grid.blocks * grid.chunks * groups, [groups, n, grid.width, grid.chunk, grid.chunks, grid.blocks, c, hw]);
  }
}

/** Stage 2 of the backward sums: sums [2, groups, c] = [Σdy | Σdy·(x − mean)]. */
export class BnMergeSumsPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnMergeSums', code: mergeSumsWgsl, storage: ['read', 'read', 'write'], workgroupSize: MERGE_WG });
  }
  run(partDy: GPUBuffer, partDyx: GPUBuffer, sums: GPUBuffer, layout: BnLayout, grid: ColumnGrid): void {
    const { groups, c, hw } = layout;
    this.dispatch([partDy, partDyx, sums], this.groupsFor(groups * c), [groups, c, hw, grid.chunks]);
  }
}

/** dγ, dβ per channel and, for borrowed statistics, dmean/dvar per (group, channel). */
export class BnParamGradsPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnParamGrads', code: paramGradsWgsl, storage: ['read', 'read', 'read', 'write', 'write', 'write', 'write'], workgroupSize: 64 });
  }
  run(
    buffers: { sums: GPUBuffer; variance: GPUBuffer; gamma: GPUBuffer; dgamma: GPUBuffer; dbeta: GPUBuffer; dmean: GPUBuffer; dvar: GPUBuffer },
    layout: BnLayout,
    flags: { affine: boolean; borrowed: boolean },
    eps: number,
  ): void {
    const b = buffers;
    this.dispatch([b.sums, b.variance, b.gamma, b.dgamma, b.dbeta, b.dmean, b.dvar], this.groupsFor(layout.c), [layout.groups, layout.c, flags.affine ? 1 : 0, flags.borrowed ? 1 : 0], [eps]);
  }
}

/**
 * bnApply, four elements per thread when every aligned vec4 of x stays in one channel (hw % 4 = 0) or
 * spans four channels of one row (hw = 1, c % 4 = 0); one element per thread otherwise.
 */
export class BnApplyPass {
  private readonly scalar: BnApplyScalarPass;
  private readonly sameChannel: BnApplyVec4Pass;
  private readonly fourChannels: BnApplyVec4Pass;
  constructor(ctx: PassContext) {
    this.scalar = new BnApplyScalarPass(ctx);
    this.sameChannel = new BnApplyVec4Pass(ctx, false);
    this.fourChannels = new BnApplyVec4Pass(ctx, true);
  }
  run(x: GPUBuffer, mean: GPUBuffer, variance: GPUBuffer, gamma: GPUBuffer, beta: GPUBuffer, y: GPUBuffer, layout: BnLayout, affine: boolean, eps: number): void {
    const pass = layout.hw % 4 === 0 ? this.sameChannel : layout.hw === 1 && layout.c % 4 === 0 ? this.fourChannels : this.scalar;
    pass.run(x, mean, variance, gamma, beta, y, layout, affine, eps);
  }
}

class BnApplyVec4Pass extends ComputePass {
  constructor(ctx: PassContext, fourChannels: boolean) {
    super(ctx, { label: fourChannels ? 'BnApplyVec4Channels' : 'BnApplyVec4Positions', code: applyVec4Wgsl, storage: ['read', 'read', 'read', 'read', 'read', 'write'], constants: { FOUR_CHANNELS: fourChannels } });
  }
  run(x: GPUBuffer, mean: GPUBuffer, variance: GPUBuffer, gamma: GPUBuffer, beta: GPUBuffer, y: GPUBuffer, layout: BnLayout, affine: boolean, eps: number): void {
    const p = elementParams(layout);
    const total4 = p[0]! / 4;
    this.dispatch([x, mean, variance, gamma, beta, y], this.groupsFor(total4), [total4, p[1]!, p[2]!, p[3]!, affine ? 1 : 0], [eps]);
  }
}

class BnApplyScalarPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnApply', code: applyWgsl, storage: ['read', 'read', 'read', 'read', 'read', 'write'] });
  }
  run(x: GPUBuffer, mean: GPUBuffer, variance: GPUBuffer, gamma: GPUBuffer, beta: GPUBuffer, y: GPUBuffer, layout: BnLayout, affine: boolean, eps: number): void {
    const p = elementParams(layout);
    this.dispatch([x, mean, variance, gamma, beta, y], this.groupsFor(p[0]), [...p, affine ? 1 : 0], [eps]);
  }
}

export class BnDxLocalPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnDxLocal', code: dxLocalWgsl, storage: ['read', 'read', 'read', 'read', 'read', 'read', 'write'] });
  }
  run(dy: GPUBuffer, x: GPUBuffer, mean: GPUBuffer, variance: GPUBuffer, gamma: GPUBuffer, sums: GPUBuffer, dx: GPUBuffer, layout: BnLayout, affine: boolean, eps: number): void {
    const p = elementParams(layout);
    this.dispatch([dy, x, mean, variance, gamma, sums, dx], this.groupsFor(p[0]), [...p, layout.groups * layout.c, affine ? 1 : 0], [layout.n * layout.hw, eps]);
  }
}

export class BnDxBorrowedPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnDxBorrowed', code: dxBorrowedWgsl, storage: ['read', 'read', 'read', 'write'] });
  }
  run(dy: GPUBuffer, variance: GPUBuffer, gamma: GPUBuffer, dx: GPUBuffer, layout: BnLayout, affine: boolean, eps: number): void {
    const p = elementParams(layout);
    this.dispatch([dy, variance, gamma, dx], this.groupsFor(p[0]), [...p, affine ? 1 : 0], [eps]);
  }
}

export class BnStatsBackwardPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnStatsBackward', code: statsBackwardWgsl, storage: ['read', 'read', 'read', 'read', 'write'] });
  }
  run(x: GPUBuffer, mean: GPUBuffer, dmean: GPUBuffer, dvar: GPUBuffer, dx: GPUBuffer, layout: BnLayout): void {
    const p = elementParams(layout);
    this.dispatch([x, mean, dmean, dvar, dx], this.groupsFor(p[0]), p, [layout.n * layout.hw]);
  }
}

export class BnRunningUpdatePass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'BnRunningUpdate', code: runningUpdateWgsl, storage: ['write', 'write', 'read', 'read'], workgroupSize: 64 });
  }
  run(runningMean: GPUBuffer, runningVar: GPUBuffer, mean: GPUBuffer, variance: GPUBuffer, c: number, momentum: number, unbias: number): void {
    this.dispatch([runningMean, runningVar, mean, variance], this.groupsFor(c), [c], [momentum, unbias]);
  }
}
