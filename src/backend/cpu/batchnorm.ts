/**
 * BatchNorm kernels. Input layout [groups, n, c, hw] row-major; statistics per (group, channel) over
 * n and hw; per-channel arrays are [groups, c]. All sums are float64 (JS numbers / Float64Array), and
 * the variance is computed in two passes (mean first, then Σ(x − mean)²), so it is stable for data
 * with a large mean and a small spread. A float64 sum of float32 values cannot overflow, so a
 * non-finite sum means a NaN or ±Inf in the channel: its mean and variance are then NaN (as on WebGPU).
 *
 * Loops run sample → channel → position so that x is read contiguously; the per-channel sums live in
 * small Float64Array accumulators.
 */
import type { BnLayout } from '../backend.ts';
import type { Real } from './tensor.ts';

/** Per-(group, channel) mean and M2 = Σ(x − mean)², both [groups, c]. */
export function bnPartialKernel(x: Real, layout: BnLayout, mean: Real, m2: Real): void {
  const { groups, n, c, hw } = layout;
  const count = n * hw;
  const acc = new Float64Array(c);
  for (let g = 0; g < groups; g++) {
    acc.fill(0);
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const base = ((g * n + i) * c + ch) * hw;
        let s = 0;
        for (let p = 0; p < hw; p++) s += x[base + p]!;
        acc[ch] += s;
      }
    }
    const means = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) means[ch] = Number.isFinite(acc[ch]!) ? acc[ch]! / count : NaN;
    acc.fill(0);
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const base = ((g * n + i) * c + ch) * hw;
        const mu = means[ch]!;
        let s = 0;
        for (let p = 0; p < hw; p++) {
          const d = x[base + p]! - mu;
          s += d * d;
        }
        acc[ch] += s;
      }
    }
    for (let ch = 0; ch < c; ch++) {
      mean[g * c + ch] = means[ch]!;
      m2[g * c + ch] = acc[ch]!;
    }
  }
}

/** 1 / sqrt(var + eps) per (group, channel), in float64. */
export function invStd(variance: Real, eps: number): Float64Array {
  const out = new Float64Array(variance.length);
  for (let k = 0; k < variance.length; k++) out[k] = 1 / Math.sqrt(variance[k]! + eps);
  return out;
}

/** y = (x − mean) / sqrt(var + eps) · gamma + beta; gamma/beta null = no affine. */
export function bnApplyKernel(
  x: Real, layout: BnLayout, mean: Real, variance: Real, gamma: Real | null, beta: Real | null, eps: number, out: Real,
): void {
  const { groups, n, c, hw } = layout;
  const inv = invStd(variance, eps);
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const k = g * c + ch;
        const mu = mean[k]!;
        const s = inv[k]! * (gamma ? gamma[ch]! : 1);
        const b = beta ? beta[ch]! : 0;
        const base = ((g * n + i) * c + ch) * hw;
        for (let p = 0; p < hw; p++) out[base + p] = (x[base + p]! - mu) * s + b;
      }
    }
  }
}

/**
 * Per (group, channel): sumDy = Σ dy and sumDyCentered = Σ dy·(x − mean), as [groups, c] float64.
 * Every BN backward is built from these two sums.
 */
function backwardSums(dy: Real, x: Real, layout: BnLayout, mean: Real): { sumDy: Float64Array; sumDyCentered: Float64Array } {
  const { groups, n, c, hw } = layout;
  const sumDy = new Float64Array(groups * c);
  const sumDyCentered = new Float64Array(groups * c);
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const k = g * c + ch;
        const mu = mean[k]!;
        const base = ((g * n + i) * c + ch) * hw;
        let s = 0;
        let sc = 0;
        for (let p = 0; p < hw; p++) {
          const d = dy[base + p]!;
          s += d;
          sc += d * (x[base + p]! - mu);
        }
        sumDy[k] += s;
        sumDyCentered[k] += sc;
      }
    }
  }
  return { sumDy, sumDyCentered };
}

/** dgamma[c] = Σ_g Σ dy·x̂, dbeta[c] = Σ_g Σ dy (summed over groups: γ, β are shared). */
export function affineGrads(
  sumDy: Float64Array, sumDyCentered: Float64Array, inv: Float64Array, groups: number, c: number,
  dgamma: Real | null, dbeta: Real | null,
): void {
  for (let ch = 0; ch < c; ch++) {
    let sg = 0;
    let sb = 0;
    for (let g = 0; g < groups; g++) {
      const k = g * c + ch;
      sg += sumDyCentered[k]! * inv[k]!;
      sb += sumDy[k]!;
    }
    if (dgamma) dgamma[ch] = sg;
    if (dbeta) dbeta[ch] = sb;
  }
}

/**
 * Standard training backward (mean/var are the biased batch statistics of this x):
 * dx = γ·invstd/M · (M·dy − Σdy − x̂·Σ dy·x̂), M = n·hw.
 */
export function bnBackwardKernel(
  dy: Real, x: Real, layout: BnLayout, mean: Real, variance: Real, gamma: Real | null, eps: number,
  dx: Real, dgamma: Real | null, dbeta: Real | null,
): void {
  const { groups, n, c, hw } = layout;
  const count = n * hw;
  const inv = invStd(variance, eps);
  const { sumDy, sumDyCentered } = backwardSums(dy, x, layout, mean);
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const k = g * c + ch;
        const mu = mean[k]!;
        const is = inv[k]!;
        const coef = (gamma ? gamma[ch]! : 1) * is / count;
        const sDy = sumDy[k]!;
        const sDyXhat = sumDyCentered[k]! * is;
        const base = ((g * n + i) * c + ch) * hw;
        for (let p = 0; p < hw; p++) {
          const xhat = (x[base + p]! - mu) * is;
          dx[base + p] = coef * (count * dy[base + p]! - sDy - xhat * sDyXhat);
        }
      }
    }
  }
  affineGrads(sumDy, sumDyCentered, inv, groups, c, dgamma, dbeta);
}

/**
 * Backward with borrowed (constant) statistics: dx = dy·γ·invstd, and the gradients w.r.t. the
 * statistics that were used, dmean = −γ·invstd·Σdy and dvar = −½·γ·invstd³·Σ dy·(x − mean).
 */
export function bnBackwardBorrowedKernel(
  dy: Real, x: Real, layout: BnLayout, mean: Real, variance: Real, gamma: Real | null, eps: number,
  dx: Real, dgamma: Real | null, dbeta: Real | null, dmean: Real, dvar: Real,
): void {
  const { groups, n, c, hw } = layout;
  const inv = invStd(variance, eps);
  const { sumDy, sumDyCentered } = backwardSums(dy, x, layout, mean);
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const s = (gamma ? gamma[ch]! : 1) * inv[g * c + ch]!;
        const base = ((g * n + i) * c + ch) * hw;
        for (let p = 0; p < hw; p++) dx[base + p] = dy[base + p]! * s;
      }
    }
  }
  for (let g = 0; g < groups; g++) {
    for (let ch = 0; ch < c; ch++) {
      const k = g * c + ch;
      const gam = gamma ? gamma[ch]! : 1;
      const is = inv[k]!;
      dmean[k] = -gam * is * sumDy[k]!;
      dvar[k] = -0.5 * gam * is * is * is * sumDyCentered[k]!;
    }
  }
  affineGrads(sumDy, sumDyCentered, inv, groups, c, dgamma, dbeta);
}

/** Producer side of borrowed statistics: dx = dmean/M + dvar·2(x − mean)/M, M = n·hw. */
export function bnStatsBackwardKernel(x: Real, layout: BnLayout, mean: Real, dmean: Real, dvar: Real, dx: Real): void {
  const { groups, n, c, hw } = layout;
  const count = n * hw;
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const k = g * c + ch;
        const mu = mean[k]!;
        const a = dmean[k]! / count;
        const b = (2 * dvar[k]!) / count;
        const base = ((g * n + i) * c + ch) * hw;
        for (let p = 0; p < hw; p++) dx[base + p] = a + b * (x[base + p]! - mu);
      }
    }
  }
}

/** PyTorch running statistics: running = (1 − m)·running + m·batch, running var from the unbiased variance. */
export function bnRunningUpdateKernel(
  runningMean: Real, runningVar: Real, mean: Real, variance: Real, count: number, momentum: number,
): void {
  const unbias = count / (count - 1);
  for (let ch = 0; ch < runningMean.length; ch++) {
    runningMean[ch] = (1 - momentum) * runningMean[ch]! + momentum * mean[ch]!;
    runningVar[ch] = (1 - momentum) * runningVar[ch]! + momentum * variance[ch]! * unbias;
  }
}
