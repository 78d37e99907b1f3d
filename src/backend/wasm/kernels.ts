/**
 * The wasm backend's heavy kernels, with the signatures of the CPU backend's float64 kernels
 * (src/backend/cpu/kernel-table.ts), so each is tested against its reference one to one.
 *
 * - Dense products (linear forward and backward, InfoNCE logits and their gradient) run one float32
 *   SIMD GEMM (wasm/gemm.ts): float32 sums, as WebGPU and PyTorch's float32 CPU path.
 * - BatchNorm runs float64 column kernels (wasm/batchnorm.ts): the same shifted two-pass statistics and
 *   float64 arithmetic as the reference, so only the summation order differs.
 * - InfoNCE's softmax runs in wasm/softmax.ts: float32 SIMD exponentials summed in float64.
 * Operands are copied into the module's memory for each call and results copied out; the copies are
 * linear in size, the products they feed are not. With a thread pool (./pool.ts) the GEMM and the
 * softmax kernels are split by rows across threads, with results identical to one thread's.
 */
import type { BnLayout } from '../backend.ts';
import { affineGrads, invStd } from '../cpu/batchnorm.ts';
import type { HeavyKernels } from '../cpu/kernel-table.ts';
import type { Real } from '../cpu/tensor.ts';
import type { KernelExports, WasmHeap } from './memory.ts';

/** `k`: the kernels to call, by default the heap's own instance (one thread); a pool passes its split ones. */
export function wasmKernels(heap: WasmHeap, k: KernelExports = heap.k): HeavyKernels {

  /**
   * out[rows, cols] = a[rows, depth] · b[cols, depth]ᵀ (+ bias[cols]) with a and b already in memory;
   * returns the offset of out. The GEMM wants its B operand k-major, so one operand is transposed
   * first: the smaller one. With few rows (a batch against a weight matrix or the key queue) that is
   * a, and the product is formed as outᵀ = b·aᵀ, then transposed back (rows·cols copies, next to
   * rows·cols·depth multiply-adds).
   */
  function productNT(op: string, pa: number, pb: number, rows: number, cols: number, depth: number, bias: Real | null): number {
    const pc = heap.alloc(op, rows * cols * 4);
    if (rows >= cols) {
      const pbT = heap.alloc(op, cols * depth * 4);
      k.transpose(pb, cols, depth, pbT);
      k.gemm(rows, cols, depth, pa, depth, 1, pbT, cols, pc, cols, bias ? heap.putF32(op, bias) : 0);
      return pc;
    }
    const paT = heap.alloc(op, rows * depth * 4);
    k.transpose(pa, rows, depth, paT);
    const pcT = heap.alloc(op, cols * rows * 4);
    k.gemm(cols, rows, depth, pb, depth, 1, paT, rows, pcT, rows, 0);
    k.transpose(pcT, cols, rows, pc);
    if (bias) {
      const c = heap.f32;
      const base = pc >> 2;
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) c[base + i * cols + j] = c[base + i * cols + j]! + bias[j]!;
    }
    return pc;
  }

  function matmulNT(a: Real, b: Real, rows: number, cols: number, depth: number, bias: Real | null, out: Real): void {
    heap.reset();
    const op = 'matmulNT';
    const pc = productNT(op, heap.putF32(op, a), heap.putF32(op, b), rows, cols, depth, bias);
    heap.getF32(pc, out.subarray(0, rows * cols));
  }

  function linearDx(dy: Real, w: Real, rows: number, outDim: number, inDim: number, dx: Real): void {
    heap.reset();
    const op = 'linearBackward';
    const pdy = heap.putF32(op, dy);
    const pw = heap.putF32(op, w);
    const pdx = heap.alloc(op, rows * inDim * 4);
    k.gemm(rows, inDim, outDim, pdy, outDim, 1, pw, inDim, pdx, inDim, 0);
    heap.getF32(pdx, dx);
  }

  function linearDw(dy: Real, x: Real, rows: number, outDim: number, inDim: number, dw: Real, db: Real | null): void {
    heap.reset();
    const op = 'linearBackward';
    const pdy = heap.putF32(op, dy);
    const px = heap.putF32(op, x);
    const pdw = heap.alloc(op, outDim * inDim * 4);
    // dw[o, i] = Σ_r dy[r, o]·x[r, i]: A(o, r) = dy[r·outDim + o].
    k.gemm(outDim, inDim, rows, pdy, 1, outDim, px, inDim, pdw, inDim, 0);
    heap.getF32(pdw, dw);
    if (db) {
      for (let o = 0; o < outDim; o++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += dy[r * outDim + o]!;
        db[o] = s;
      }
    }
  }

  /** Per-column float64 array (length c·hw) of per-channel values: column l is channel l / hw. */
  function expand(op: string, perChannel: ArrayLike<number>, c: number, hw: number): number {
    const ptr = heap.alloc(op, c * hw * 8);
    const view = heap.f64;
    const base = ptr >> 3;
    if (hw === 1) view.set(perChannel, base);
    else for (let ch = 0; ch < c; ch++) view.fill(perChannel[ch]!, base + ch * hw, base + (ch + 1) * hw);
    return ptr;
  }

  /** Per-channel values f(ch) of one group, as float64. */
  function channels(c: number, f: (ch: number) => number): Float64Array {
    const out = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) out[ch] = f(ch);
    return out;
  }

  /** Column sums folded into channels: out[ch] = Σ_p sums[ch·hw + p]. */
  function fold(ptr: number, c: number, hw: number, out: Float64Array, at: number): void {
    const sums = heap.getF64(ptr, c * hw);
    for (let ch = 0; ch < c; ch++) {
      let s = 0;
      for (let p = 0; p < hw; p++) s += sums[ch * hw + p]!;
      out[at + ch] = s;
    }
  }

  function bnPartial(x: Real, layout: BnLayout, mean: Real, m2: Real): void {
    heap.reset();
    const op = 'bnPartial';
    const { groups, n, c, hw } = layout;
    const cols = c * hw;
    const count = n * hw;
    const px = heap.putF32(op, x);
    const pSums = heap.alloc(op, cols * 8);
    const groupMean = new Float64Array(c);
    const groupM2 = new Float64Array(c);
    for (let g = 0; g < groups; g++) {
      const pg = px + g * n * cols * 4;
      k.colSums(pg, n, cols, pSums);
      fold(pSums, c, hw, groupMean, 0);
      for (let ch = 0; ch < c; ch++) groupMean[ch] = groupMean[ch]! / count;
      const pMean = expand(op, groupMean, c, hw);
      k.colCenteredSquares(pg, n, cols, pMean, pSums);
      fold(pSums, c, hw, groupM2, 0);
      mean.set(groupMean, g * c);
      m2.set(groupM2, g * c);
    }
  }

  function bnApply(x: Real, layout: BnLayout, mean: Real, variance: Real, gamma: Real | null, beta: Real | null, eps: number, out: Real): void {
    heap.reset();
    const op = 'bnApply';
    const { groups, n, c, hw } = layout;
    const cols = c * hw;
    const inv = invStd(variance, eps);
    const px = heap.putF32(op, x);
    const pOut = heap.alloc(op, x.length * 4);
    for (let g = 0; g < groups; g++) {
      const at = g * c;
      const pShift = expand(op, channels(c, (ch) => mean[at + ch]!), c, hw);
      const pScale = expand(op, channels(c, (ch) => inv[at + ch]! * (gamma ? gamma[ch]! : 1)), c, hw);
      const pOffset = expand(op, channels(c, (ch) => (beta ? beta[ch]! : 0)), c, hw);
      const offset = g * n * cols * 4;
      k.colAffine(px + offset, n, cols, pShift, pScale, pOffset, pOut + offset);
    }
    heap.getF32(pOut, out);
  }

  /** Σdy and Σdy·(x − mean) per (group, channel), float64; leaves dy and x in memory for the caller. */
  function backwardSums(op: string, dy: Real, x: Real, layout: BnLayout, mean: Real) {
    const { groups, n, c, hw } = layout;
    const cols = c * hw;
    const pdy = heap.putF32(op, dy);
    const px = heap.putF32(op, x);
    const pSumDy = heap.alloc(op, cols * 8);
    const pSumDyCentered = heap.alloc(op, cols * 8);
    const sumDy = new Float64Array(groups * c);
    const sumDyCentered = new Float64Array(groups * c);
    const pMeans: number[] = [];
    for (let g = 0; g < groups; g++) {
      const offset = g * n * cols * 4;
      const pMean = expand(op, channels(c, (ch) => mean[g * c + ch]!), c, hw);
      pMeans.push(pMean);
      k.colBackwardSums(pdy + offset, px + offset, n, cols, pMean, pSumDy, pSumDyCentered);
      fold(pSumDy, c, hw, sumDy, g * c);
      fold(pSumDyCentered, c, hw, sumDyCentered, g * c);
    }
    return { pdy, px, pMeans, sumDy, sumDyCentered };
  }

  function bnBackward(
    dy: Real, x: Real, layout: BnLayout, mean: Real, variance: Real, gamma: Real | null, eps: number,
    dx: Real, dgamma: Real | null, dbeta: Real | null,
  ): void {
    heap.reset();
    const op = 'bnBackward';
    const { groups, n, c, hw } = layout;
    const cols = c * hw;
    const count = n * hw;
    const inv = invStd(variance, eps);
    const { pdy, px, pMeans, sumDy, sumDyCentered } = backwardSums(op, dy, x, layout, mean);
    const pdx = heap.alloc(op, x.length * 4);
    for (let g = 0; g < groups; g++) {
      const at = g * c;
      // dx = coef·(M·dy − Σdy − x̂·Σdy·x̂), coef = γσ⁻¹/M, distributed over the three terms.
      const coef = (ch: number) => ((gamma ? gamma[ch]! : 1) * inv[at + ch]!) / count;
      const pDyScale = expand(op, channels(c, (ch) => coef(ch) * count), c, hw);
      const pCentered = expand(op, channels(c, (ch) => coef(ch) * inv[at + ch]! * sumDyCentered[at + ch]! * inv[at + ch]!), c, hw);
      const pOffset = expand(op, channels(c, (ch) => coef(ch) * sumDy[at + ch]!), c, hw);
      const offset = g * n * cols * 4;
      k.colBnBackward(pdy + offset, px + offset, n, cols, pMeans[g]!, pDyScale, pCentered, pOffset, pdx + offset);
    }
    heap.getF32(pdx, dx);
    affineGrads(sumDy, sumDyCentered, inv, groups, c, dgamma, dbeta);
  }

  function bnBackwardBorrowed(
    dy: Real, x: Real, layout: BnLayout, mean: Real, variance: Real, gamma: Real | null, eps: number,
    dx: Real, dgamma: Real | null, dbeta: Real | null, dmean: Real, dvar: Real,
  ): void {
    heap.reset();
    const op = 'bnBackwardBorrowed';
    const { groups, n, c, hw } = layout;
    const cols = c * hw;
    const inv = invStd(variance, eps);
    const { pdy, sumDy, sumDyCentered } = backwardSums(op, dy, x, layout, mean);
    const pdx = heap.alloc(op, x.length * 4);
    const pZero = expand(op, new Float64Array(c), c, hw);
    for (let g = 0; g < groups; g++) {
      const at = g * c;
      const pScale = expand(op, channels(c, (ch) => (gamma ? gamma[ch]! : 1) * inv[at + ch]!), c, hw);
      const offset = g * n * cols * 4;
      k.colAffine(pdy + offset, n, cols, pZero, pScale, pZero, pdx + offset);
      for (let ch = 0; ch < c; ch++) {
        const gam = gamma ? gamma[ch]! : 1;
        const is = inv[at + ch]!;
        dmean[at + ch] = -gam * is * sumDy[at + ch]!;
        dvar[at + ch] = -0.5 * gam * is * is * is * sumDyCentered[at + ch]!;
      }
    }
    heap.getF32(pdx, dx);
    affineGrads(sumDy, sumDyCentered, inv, groups, c, dgamma, dbeta);
  }

  function bnStatsBackward(x: Real, layout: BnLayout, mean: Real, dmean: Real, dvar: Real, dx: Real): void {
    heap.reset();
    const op = 'bnStatsBackward';
    const { groups, n, c, hw } = layout;
    const cols = c * hw;
    const count = n * hw;
    const px = heap.putF32(op, x);
    const pdx = heap.alloc(op, x.length * 4);
    for (let g = 0; g < groups; g++) {
      const at = g * c;
      const pShift = expand(op, channels(c, (ch) => mean[at + ch]!), c, hw);
      const pScale = expand(op, channels(c, (ch) => (2 * dvar[at + ch]!) / count), c, hw);
      const pOffset = expand(op, channels(c, (ch) => dmean[at + ch]! / count), c, hw);
      const offset = g * n * cols * 4;
      k.colAffine(px + offset, n, cols, pShift, pScale, pOffset, pdx + offset);
    }
    heap.getF32(pdx, dx);
  }

  function infoNce(
    q: Real, kPos: Real, queue: Real, rows: number, dim: number, queueRows: number, temperature: number, logits: Real,
  ): { loss: number; correct: number } {
    heap.reset();
    const op = 'infoNce';
    const width = 1 + queueRows;
    const pNeg = productNT(op, heap.putF32(op, q), heap.putF32(op, queue), rows, queueRows, dim, null);
    const pLogits = heap.alloc(op, rows * width * 4);
    k.logitsFromNegatives(pNeg, rows, queueRows, temperature, pLogits);
    // Positives q·k⁺ in float64 (rows·dim products), rounded once as the reference rounds them.
    const f = heap.f32;
    for (let r = 0; r < rows; r++) {
      let pos = 0;
      for (let d = 0; d < dim; d++) pos += q[r * dim + d]! * kPos[r * dim + d]!;
      f[(pLogits >> 2) + r * width] = pos / temperature;
    }
    const pStats = heap.alloc(op, rows * 24);
    k.softmaxRowStats(pLogits, rows, width, pStats);
    heap.getF32(pLogits, logits.subarray(0, rows * width));
    // Cross-entropy with target 0 from each row's (max, Σ exp, largest negative), as crossEntropyTarget0.
    const stats = heap.getF64(pStats, rows * 3);
    let lossSum = 0;
    let correct = 0;
    for (let r = 0; r < rows; r++) {
      const positive = logits[r * width]!;
      lossSum += stats[3 * r]! + Math.log(stats[3 * r + 1]!) - positive;
      if (positive > stats[3 * r + 2]!) correct++;
    }
    return { loss: rows === 0 ? 0 : lossSum / rows, correct };
  }

  function infoNceBackward(
    logits: Real, kPos: Real, queue: Real, rows: number, dim: number, queueRows: number, temperature: number, dq: Real,
  ): void {
    heap.reset();
    const op = 'infoNceBackward';
    // Softmax gradients g = (p − e₀) / (N·T) per row, written straight into the GEMM's operand.
    const width = 1 + queueRows;
    const pLogits = heap.putF32(op, logits.subarray(0, rows * width));
    const pg = heap.alloc(op, rows * queueRows * 4);
    const pgPos = heap.alloc(op, rows * 8);
    k.softmaxGrads(pLogits, rows, width, 1 / (rows * temperature), pg, pgPos);
    const gPos = heap.getF64(pgPos, rows);
    const pQueue = heap.putF32(op, queue);
    const pdq = heap.alloc(op, rows * dim * 4);
    k.gemm(rows, dim, queueRows, pg, queueRows, 1, pQueue, dim, pdq, dim, 0);
    heap.getF32(pdq, dq);
    for (let r = 0; r < rows; r++) {
      const g0 = gPos[r]!;
      for (let d = 0; d < dim; d++) dq[r * dim + d] = dq[r * dim + d]! + g0 * kPos[r * dim + d]!;
    }
  }

  return Object.freeze({
    matmulNT, linearDx, linearDw, bnPartial, bnApply, bnBackward, bnBackwardBorrowed, bnStatsBackward, infoNce, infoNceBackward,
  });
}
