/**
 * `CpuBackend`: the whole `Backend` interface in plain TypeScript over Float32Array storage, with
 * float64 accumulation in every reduction. It is the oracle every WGSL kernel is tested against and
 * the fallback when WebGPU is missing. Each op validates its arguments, then calls a kernel from this
 * folder (kernels work on plain arrays, so tests can also run them in float64).
 */
import {
  type Backend, type BnBackwardResult, type BnBorrowedBackwardResult, type BnLayout, type BnPartial,
  type BnStats, type InfoNceResult, type LinearBackwardResult, type SgdOptions, type Tensor,
} from '../backend.ts';
import { bnRunningUpdateKernel } from './batchnorm.ts';
import {
  assertBnTrainable, assertSameShape, assert2d, checkBnArgs, checkBnBackward, checkEnqueue, checkInfoNce, checkInfoNceBackward,
  checkL2NormalizeBackward, checkLinear, checkLinearBackward, checkMatmulNT, checkRunningUpdate,
} from '../checks.ts';
import { addKernel, addScaledKernel, reluBackwardKernel, reluKernel, scaleKernel } from './elementwise.ts';
import { FLOAT64_KERNELS, type HeavyKernels } from './kernel-table.ts';
import { l2NormalizeBackwardKernel, l2NormalizeKernel } from './loss.ts';
import { emaKernel, enqueueKernel, sgdKernel } from './optim.ts';
import { MemoryOps } from './memory.ts';

export class CpuBackend extends MemoryOps implements Backend {
  readonly kind = 'cpu' as const;
  readonly isFallbackAdapter = false;

  /**
   * `kernels` runs the heavy ops (FLOAT64_KERNELS: this folder's float64 reference; the wasm backend
   * passes its own). Everything else, checks included, is this class's.
   */
  constructor(
    protected readonly kernels: HeavyKernels = FLOAT64_KERNELS,
    readonly label: string = 'CPU (float64 accumulation)',
  ) {
    super();
  }

  // ---- elementwise ----
  add(a: Tensor, b: Tensor): Tensor {
    this.inputs('add', a, b);
    assertSameShape('add', a, b);
    const out = this.alloc('add', a.shape);
    addKernel(this.d('add', a), this.d('add', b), out.data);
    return out;
  }

  addScaledInPlace(a: Tensor, b: Tensor, alpha: number): void {
    this.inputs('addScaledInPlace', a, b);
    assertSameShape('addScaledInPlace', a, b);
    addScaledKernel(this.d('addScaledInPlace', a), this.d('addScaledInPlace', b), alpha);
  }

  scale(a: Tensor, s: number): Tensor {
    this.inputs('scale', a);
    const out = this.alloc('scale', a.shape);
    scaleKernel(this.d('scale', a), s, out.data);
    return out;
  }

  relu(x: Tensor): Tensor {
    this.inputs('relu', x);
    const out = this.alloc('relu', x.shape);
    reluKernel(this.d('relu', x), out.data);
    return out;
  }

  reluBackward(dy: Tensor, y: Tensor): Tensor {
    this.inputs('reluBackward', dy, y);
    assertSameShape('reluBackward', dy, y, ['dy', 'y']);
    const out = this.alloc('reluBackward', dy.shape);
    reluBackwardKernel(this.d('reluBackward', dy), this.d('reluBackward', y), out.data);
    return out;
  }

  // ---- BatchNorm ----
  bnPartial(x: Tensor, layout: BnLayout): BnPartial {
    this.inputs('bnPartial', x);
    checkBnArgs('bnPartial', layout, x, {});
    assertBnTrainable(layout);
    const mean = this.alloc('bnPartial', [layout.groups, layout.c]);
    const m2 = this.alloc('bnPartial', [layout.groups, layout.c]);
    this.kernels.bnPartial(this.d('bnPartial', x), layout, mean.data, m2.data);
    return { count: layout.n * layout.hw, mean, m2 };
  }

  bnStats(x: Tensor, layout: BnLayout): BnStats {
    this.inputs('bnStats', x);
    checkBnArgs('bnStats', layout, x, {});
    assertBnTrainable(layout);
    const count = layout.n * layout.hw;
    const mean = this.alloc('bnStats', [layout.groups, layout.c]);
    const variance = this.alloc('bnStats', [layout.groups, layout.c]);
    // Keep M2 in float64 until the division so the variance is rounded to float32 only once.
    const m2 = new Float64Array(layout.groups * layout.c);
    this.kernels.bnPartial(this.d('bnStats', x), layout, mean.data, m2);
    for (let k = 0; k < m2.length; k++) variance.data[k] = m2[k]! / count;
    return { count, mean, var: variance };
  }

  bnApply(x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, beta: Tensor | null, eps: number): Tensor {
    this.inputs('bnApply', x, mean, variance, gamma, beta);
    const op = 'bnApply';
    checkBnArgs(op, layout, x, { mean, variance }, { gamma, beta });
    const out = this.alloc(op, x.shape);
    this.kernels.bnApply(this.d(op, x), layout, this.d(op, mean), this.d(op, variance), this.opt(op, gamma), this.opt(op, beta), eps, out.data);
    return out;
  }

  bnBackward(dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, eps: number): BnBackwardResult {
    this.inputs('bnBackward', dy, x, mean, variance, gamma);
    const op = 'bnBackward';
    checkBnBackward(op, dy, x, layout, mean, variance, gamma);
    const dx = this.alloc(op, x.shape);
    const dgamma = gamma ? this.alloc(op, [layout.c]) : null;
    const dbeta = gamma ? this.alloc(op, [layout.c]) : null;
    this.kernels.bnBackward(
      this.d(op, dy), this.d(op, x), layout, this.d(op, mean), this.d(op, variance), this.opt(op, gamma), eps,
      dx.data, dgamma?.data ?? null, dbeta?.data ?? null,
    );
    return { dx, dgamma, dbeta };
  }

  bnBackwardBorrowed(
    dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, eps: number,
  ): BnBorrowedBackwardResult {
    this.inputs('bnBackwardBorrowed', dy, x, mean, variance, gamma);
    const op = 'bnBackwardBorrowed';
    checkBnBackward(op, dy, x, layout, mean, variance, gamma);
    const dx = this.alloc(op, x.shape);
    const dgamma = gamma ? this.alloc(op, [layout.c]) : null;
    const dbeta = gamma ? this.alloc(op, [layout.c]) : null;
    const dmean = this.alloc(op, [layout.groups, layout.c]);
    const dvar = this.alloc(op, [layout.groups, layout.c]);
    this.kernels.bnBackwardBorrowed(
      this.d(op, dy), this.d(op, x), layout, this.d(op, mean), this.d(op, variance), this.opt(op, gamma), eps,
      dx.data, dgamma?.data ?? null, dbeta?.data ?? null, dmean.data, dvar.data,
    );
    return { dx, dgamma, dbeta, dmean, dvar };
  }

  bnStatsBackward(x: Tensor, layout: BnLayout, mean: Tensor, dmean: Tensor, dvar: Tensor): Tensor {
    this.inputs('bnStatsBackward', x, mean, dmean, dvar);
    const op = 'bnStatsBackward';
    checkBnArgs(op, layout, x, { mean, dmean, dvar });
    assertBnTrainable(layout);
    const dx = this.alloc(op, x.shape);
    this.kernels.bnStatsBackward(this.d(op, x), layout, this.d(op, mean), this.d(op, dmean), this.d(op, dvar), dx.data);
    return dx;
  }

  bnRunningUpdate(runningMean: Tensor, runningVar: Tensor, mean: Tensor, variance: Tensor, count: number, momentum: number): void {
    this.inputs('bnRunningUpdate', runningMean, runningVar, mean, variance);
    const op = 'bnRunningUpdate';
    checkRunningUpdate(runningMean, runningVar, mean, variance, count);
    bnRunningUpdateKernel(this.d(op, runningMean), this.d(op, runningVar), this.d(op, mean), this.d(op, variance), count, momentum);
  }

  // ---- dense ----
  linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
    this.inputs('linear', x, w, b);
    const { rows, inDim, outDim } = checkLinear(x, w, b);
    const out = this.alloc('linear', [rows, outDim]);
    this.kernels.matmulNT(this.d('linear', x), this.d('linear', w), rows, outDim, inDim, this.opt('linear', b), out.data);
    return out;
  }

  linearBackward(dy: Tensor, x: Tensor, w: Tensor, opts: { needDx: boolean; hasBias: boolean }): LinearBackwardResult {
    this.inputs('linearBackward', dy, x, w);
    const op = 'linearBackward';
    const { rows, inDim, outDim } = checkLinearBackward(dy, x, w);
    const dyData = this.d(op, dy);
    const dx = opts.needDx ? this.alloc(op, [rows, inDim]) : null;
    if (dx) this.kernels.linearDx(dyData, this.d(op, w), rows, outDim, inDim, dx.data);
    const dw = this.alloc(op, [outDim, inDim]);
    const db = opts.hasBias ? this.alloc(op, [outDim]) : null;
    this.kernels.linearDw(dyData, this.d(op, x), rows, outDim, inDim, dw.data, db?.data ?? null);
    return { dx, dw, db };
  }

  matmulNT(a: Tensor, b: Tensor): Tensor {
    this.inputs('matmulNT', a, b);
    const { rows, cols, depth } = checkMatmulNT(a, b);
    const out = this.alloc('matmulNT', [rows, cols]);
    this.kernels.matmulNT(this.d('matmulNT', a), this.d('matmulNT', b), rows, cols, depth, null, out.data);
    return out;
  }

  // ---- normalisation and loss ----
  l2Normalize(x: Tensor): Tensor {
    this.inputs('l2Normalize', x);
    const [rows, dim] = assert2d('l2Normalize', x, 'x');
    const out = this.alloc('l2Normalize', x.shape);
    l2NormalizeKernel(this.d('l2Normalize', x), rows, dim, out.data);
    return out;
  }

  l2NormalizeBackward(dy: Tensor, x: Tensor): Tensor {
    this.inputs('l2NormalizeBackward', dy, x);
    const [rows, dim] = checkL2NormalizeBackward(dy, x);
    const out = this.alloc('l2NormalizeBackward', x.shape);
    l2NormalizeBackwardKernel(this.d('l2NormalizeBackward', dy), this.d('l2NormalizeBackward', x), rows, dim, out.data);
    return out;
  }

  infoNce(q: Tensor, kPos: Tensor, queue: Tensor, temperature: number): InfoNceResult {
    this.inputs('infoNce', q, kPos, queue);
    const op = 'infoNce';
    const { rows, dim, queueRows } = checkInfoNce(op, q, kPos, queue);
    const logits = this.alloc(op, [rows, 1 + queueRows]);
    const r = this.kernels.infoNce(this.d(op, q), this.d(op, kPos), this.d(op, queue), rows, dim, queueRows, temperature, logits.data);
    return { loss: this.fromArray([r.loss], [1]), logits, correct: this.fromArray([r.correct], [1]) };
  }

  infoNceBackward(logits: Tensor, kPos: Tensor, queue: Tensor, temperature: number): Tensor {
    this.inputs('infoNceBackward', logits, kPos, queue);
    const op = 'infoNceBackward';
    const { rows, dim, queueRows } = checkInfoNceBackward(logits, kPos, queue);
    const dq = this.alloc(op, [rows, dim]);
    this.kernels.infoNceBackward(this.d(op, logits), this.d(op, kPos), this.d(op, queue), rows, dim, queueRows, temperature, dq.data);
    return dq;
  }

  // ---- optimisation ----
  sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, opts: SgdOptions): void {
    this.inputs('sgdStep', param, grad, velocity);
    assertSameShape('sgdStep', param, grad, ['param', 'grad']);
    assertSameShape('sgdStep', param, velocity, ['param', 'velocity']);
    sgdKernel(this.d('sgdStep', param), this.d('sgdStep', grad), this.d('sgdStep', velocity), opts.lr, opts.momentum, opts.weightDecay);
  }

  ema(target: Tensor, source: Tensor, m: number): void {
    this.inputs('ema', target, source);
    assertSameShape('ema', target, source, ['target', 'source']);
    emaKernel(this.d('ema', target), this.d('ema', source), m);
  }

  enqueue(queue: Tensor, keys: Tensor, ptr: number): void {
    this.inputs('enqueue', queue, keys);
    const [queueRows, dim] = checkEnqueue(queue, keys, ptr);
    enqueueKernel(this.d('enqueue', queue), this.d('enqueue', keys), queueRows, dim, ptr);
  }
}
