/**
 * The kernels behind a CpuBackend's heavy ops (dense products, BatchNorm, InfoNCE), as one swappable
 * table with the signatures of this folder's float64 kernels. The CPU backend runs FLOAT64_KERNELS; the
 * WebAssembly backend (src/backend/wasm/) is the same class with its own table, so both share every
 * argument check, allocation and lifetime rule and differ only in arithmetic.
 */
import {
  bnApplyKernel, bnBackwardBorrowedKernel, bnBackwardKernel, bnPartialKernel, bnStatsBackwardKernel,
} from './batchnorm.ts';
import { linearDwKernel, linearDxKernel, matmulNTKernel } from './dense.ts';
import { infoNceBackwardKernel, infoNceKernel } from './loss.ts';

export interface HeavyKernels {
  matmulNT: typeof matmulNTKernel;
  linearDx: typeof linearDxKernel;
  linearDw: typeof linearDwKernel;
  bnPartial: typeof bnPartialKernel;
  bnApply: typeof bnApplyKernel;
  bnBackward: typeof bnBackwardKernel;
  bnBackwardBorrowed: typeof bnBackwardBorrowedKernel;
  bnStatsBackward: typeof bnStatsBackwardKernel;
  infoNce: typeof infoNceKernel;
  infoNceBackward: typeof infoNceBackwardKernel;
}

export const FLOAT64_KERNELS: HeavyKernels = Object.freeze({
  matmulNT: matmulNTKernel,
  linearDx: linearDxKernel,
  linearDw: linearDwKernel,
  bnPartial: bnPartialKernel,
  bnApply: bnApplyKernel,
  bnBackward: bnBackwardKernel,
  bnBackwardBorrowed: bnBackwardBorrowedKernel,
  bnStatsBackward: bnStatsBackwardKernel,
  infoNce: infoNceKernel,
  infoNceBackward: infoNceBackwardKernel,
});
