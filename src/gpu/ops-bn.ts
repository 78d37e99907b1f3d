/** BatchNorm ops of the WebGPU backend (the argument checks both backends share, then passes). */
import type {
  BnBackwardResult, BnBorrowedBackwardResult, BnLayout, BnPartial, BnStats, Tensor,
} from '../backend/backend.ts';
import { assertBnTrainable, checkBnArgs, checkBnBackward, checkRunningUpdate } from '../backend/checks.ts';
import {
  BnApplyPass, BnColumnPartialPass, BnColumnPartialVec4Pass, BnColumnSumsPass, BnDxBorrowedPass, BnDxLocalPass, BnMergeStatsPass,
  BnMergeSumsPass, BnParamGradsPass, BnPilotPass, BnPlanePartialPass, BnRunningUpdatePass, BnStatsBackwardPass, columnGrid, statsGrid,
} from './passes/batchnorm.ts';
import { FillPass } from './passes/elementwise.ts';
import type { GpuRuntime } from './runtime.ts';
import type { GpuTensor } from './tensor.ts';

const F32_ONE_BITS = 0x3f800000;

/** Mean and M2 (or biased variance) per (group, channel): pilot, column partials, merge. */
function statistics(rt: GpuRuntime, op: string, x: Tensor, layout: BnLayout, wantVar: boolean): { mean: GpuTensor; second: GpuTensor } {
  const xb = rt.buf(op, x);
  checkBnArgs(op, layout, x, {});
  assertBnTrainable(layout);
  const grid = statsGrid(layout, rt.bnStatsThreads);
  const pilot = rt.temp(2 * layout.groups * layout.c); // [pilot·s | s] per (group, channel)
  rt.pass(BnPilotPass).run(xb, pilot, layout);
  const partMean = rt.temp(grid.partialSize);
  const partM2 = rt.temp(grid.partialSize);
  if (grid.kind === 'plane') rt.pass(BnPlanePartialPass).run(xb, pilot, partMean, partM2, layout, grid);
  else if (grid.kind === 'column4') rt.pass(BnColumnPartialVec4Pass).run(xb, pilot, partMean, partM2, layout, grid);
  else rt.pass(BnColumnPartialPass).run(xb, pilot, partMean, partM2, layout, grid);
  const mean = rt.alloc(op, [layout.groups, layout.c]);
  const second = rt.alloc(op, [layout.groups, layout.c]);
  rt.pass(BnMergeStatsPass).run(partMean, partM2, pilot, mean.buffer, second.buffer, layout, grid, wantVar);
  rt.releaseTemp(pilot);
  rt.releaseTemp(partMean);
  rt.releaseTemp(partM2);
  return { mean, second };
}

export function bnPartial(rt: GpuRuntime, x: Tensor, layout: BnLayout): BnPartial {
  const { mean, second } = statistics(rt, 'bnPartial', x, layout, false);
  return { count: layout.n * layout.hw, mean, m2: second };
}

export function bnStats(rt: GpuRuntime, x: Tensor, layout: BnLayout): BnStats {
  const { mean, second } = statistics(rt, 'bnStats', x, layout, true);
  return { count: layout.n * layout.hw, mean, var: second };
}

/**
 * gamma and beta buffers for a kernel: dummies without affine; when only one of them is given, the
 * other is materialised as ones / zeros (the caller releases `temps`).
 */
function affineBuffers(rt: GpuRuntime, op: string, c: number, gamma: Tensor | null, beta: Tensor | null): { gamma: GPUBuffer; beta: GPUBuffer; affine: boolean; temps: GPUBuffer[] } {
  if (!gamma && !beta) return { gamma: rt.dummy(1), beta: rt.dummy(2), affine: false, temps: [] };
  const temps: GPUBuffer[] = [];
  const filled = (bits: number): GPUBuffer => {
    const b = rt.temp(c);
    rt.pass(FillPass).run(b, c, bits);
    temps.push(b);
    return b;
  };
  return {
    gamma: gamma ? rt.buf(op, gamma) : filled(F32_ONE_BITS),
    beta: beta ? rt.buf(op, beta) : filled(0),
    affine: true,
    temps,
  };
}

export function bnApply(rt: GpuRuntime, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, beta: Tensor | null, eps: number): Tensor {
  const op = 'bnApply';
  const xb = rt.buf(op, x);
  checkBnArgs(op, layout, x, { mean, variance }, { gamma, beta });
  const aff = affineBuffers(rt, op, layout.c, gamma, beta);
  const y = rt.alloc(op, x.shape);
  rt.pass(BnApplyPass).run(xb, rt.buf(op, mean), rt.buf(op, variance), aff.gamma, aff.beta, y.buffer, layout, aff.affine, eps);
  aff.temps.forEach((b) => rt.releaseTemp(b));
  return y;
}

/** sums [2, groups, c] = [Σdy | Σdy·(x − mean)] in a scratch buffer (two dispatches). */
function backwardSums(rt: GpuRuntime, dy: GPUBuffer, x: GPUBuffer, mean: GPUBuffer, layout: BnLayout): GPUBuffer {
  const grid = columnGrid(layout);
  const partDy = rt.temp(grid.partialSize);
  const partDyx = rt.temp(grid.partialSize);
  rt.pass(BnColumnSumsPass).run(dy, x, mean, partDy, partDyx, layout, grid);
  const sums = rt.temp(2 * layout.groups * layout.c);
  rt.pass(BnMergeSumsPass).run(partDy, partDyx, sums, layout, grid);
  rt.releaseTemp(partDy);
  rt.releaseTemp(partDyx);
  return sums;
}

interface BackwardInputs {
  dyb: GPUBuffer;
  xb: GPUBuffer;
  meanb: GPUBuffer;
  varb: GPUBuffer;
  gammab: GPUBuffer;
}

function checkBackward(rt: GpuRuntime, op: string, dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null): BackwardInputs {
  const inputs = { dyb: rt.buf(op, dy), xb: rt.buf(op, x), meanb: rt.buf(op, mean), varb: rt.buf(op, variance), gammab: gamma ? rt.buf(op, gamma) : rt.dummy(2) };
  checkBnBackward(op, dy, x, layout, mean, variance, gamma);
  return inputs;
}

export function bnBackward(rt: GpuRuntime, dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, eps: number): BnBackwardResult {
  const op = 'bnBackward';
  const i = checkBackward(rt, op, dy, x, layout, mean, variance, gamma);
  const sums = backwardSums(rt, i.dyb, i.xb, i.meanb, layout);
  const dx = rt.alloc(op, x.shape);
  rt.pass(BnDxLocalPass).run(i.dyb, i.xb, i.meanb, i.varb, i.gammab, sums, dx.buffer, layout, gamma !== null, eps);
  let dgamma: GpuTensor | null = null;
  let dbeta: GpuTensor | null = null;
  if (gamma) {
    dgamma = rt.alloc(op, [layout.c]);
    dbeta = rt.alloc(op, [layout.c]);
    rt.pass(BnParamGradsPass).run(
      { sums, variance: i.varb, gamma: i.gammab, dgamma: dgamma.buffer, dbeta: dbeta.buffer, dmean: rt.dummy(5), dvar: rt.dummy(6) },
      layout, { affine: true, borrowed: false }, eps,
    );
  }
  rt.releaseTemp(sums);
  return { dx, dgamma, dbeta };
}

export function bnBackwardBorrowed(rt: GpuRuntime, dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, eps: number): BnBorrowedBackwardResult {
  const op = 'bnBackwardBorrowed';
  const i = checkBackward(rt, op, dy, x, layout, mean, variance, gamma);
  const sums = backwardSums(rt, i.dyb, i.xb, i.meanb, layout);
  const dx = rt.alloc(op, x.shape);
  rt.pass(BnDxBorrowedPass).run(i.dyb, i.varb, i.gammab, dx.buffer, layout, gamma !== null, eps);
  const dgamma = gamma ? rt.alloc(op, [layout.c]) : null;
  const dbeta = gamma ? rt.alloc(op, [layout.c]) : null;
  const dmean = rt.alloc(op, [layout.groups, layout.c]);
  const dvar = rt.alloc(op, [layout.groups, layout.c]);
  rt.pass(BnParamGradsPass).run(
    { sums, variance: i.varb, gamma: i.gammab, dgamma: dgamma?.buffer ?? rt.dummy(3), dbeta: dbeta?.buffer ?? rt.dummy(4), dmean: dmean.buffer, dvar: dvar.buffer },
    layout, { affine: gamma !== null, borrowed: true }, eps,
  );
  rt.releaseTemp(sums);
  return { dx, dgamma, dbeta, dmean, dvar };
}

export function bnStatsBackward(rt: GpuRuntime, x: Tensor, layout: BnLayout, mean: Tensor, dmean: Tensor, dvar: Tensor): Tensor {
  const op = 'bnStatsBackward';
  const bufs = [rt.buf(op, x), rt.buf(op, mean), rt.buf(op, dmean), rt.buf(op, dvar)] as const;
  checkBnArgs(op, layout, x, { mean, dmean, dvar });
  assertBnTrainable(layout);
  const dx = rt.alloc(op, x.shape);
  rt.pass(BnStatsBackwardPass).run(bufs[0], bufs[1], bufs[2], bufs[3], dx.buffer, layout);
  return dx;
}

export function bnRunningUpdate(rt: GpuRuntime, runningMean: Tensor, runningVar: Tensor, mean: Tensor, variance: Tensor, count: number, momentum: number): void {
  const op = 'bnRunningUpdate';
  const bufs = [rt.buf(op, runningMean), rt.buf(op, runningVar), rt.buf(op, mean), rt.buf(op, variance)] as const;
  checkRunningUpdate(runningMean, runningVar, mean, variance, count);
  rt.pass(BnRunningUpdatePass).run(bufs[0], bufs[1], bufs[2], bufs[3], runningMean.size, momentum, count / (count - 1));
}
