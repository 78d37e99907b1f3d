/**
 * The tensor-op interface that all model and training code is written against. Two implementations:
 * `webgpu` (WGSL kernels, src/gpu/) and `cpu` (plain TypeScript with float64 accumulation,
 * src/backend/cpu/), which is both the test oracle for every kernel and the fallback for browsers
 * without WebGPU. Model code must not know which one runs it.
 *
 * Conventions
 * - Tensors are float32, row-major. Shapes are given outermost first.
 * - Ops are issued in program order and return new tensors (or write in place where documented).
 *   On `webgpu` they are recorded and submitted asynchronously; `read()` waits for them.
 * - Every tensor returned by an op is owned by the caller and must be `dispose()`d (the WebGPU
 *   backend recycles buffers).
 * - Scalars that follow from shapes (counts) are plain numbers.
 * - Errors carry a stable `code` (see `BackendError`).
 */

export type BackendKind = 'webgpu' | 'cpu';
export type Shape = readonly number[];

/** Opaque handle to a float32 tensor living on one backend. */
export interface Tensor {
  readonly shape: Shape;
  /** Number of elements (product of shape). */
  readonly size: number;
  readonly backend: BackendKind;
}

/**
 * BatchNorm layout. The input is `[groups, n, c, hw]` row-major (for `[N, C]` data hw = 1; for
 * `[N, C, H, W]` hw = H·W). Statistics are per (group, channel), reducing over n and hw.
 * `groups` lets one tab run several virtual workers over one contiguous batch (like MoCo's
 * SplitBatchNorm): group g is worker g's samples. Per-channel tensors are shaped `[groups, c]`.
 */
export interface BnLayout {
  groups: number;
  n: number;
  c: number;
  hw: number;
}

/** Partial statistics per (group, channel): count = n·hw, mean, M2 = Σ(x − mean)². Mergeable exactly (Chan). */
export interface BnPartial {
  count: number;
  mean: Tensor; // [groups, c]
  m2: Tensor; // [groups, c]
}

/** Finished statistics per (group, channel): mean and biased variance (M2 / count). */
export interface BnStats {
  count: number;
  mean: Tensor; // [groups, c]
  var: Tensor; // [groups, c]
}

export interface BnBackwardResult {
  dx: Tensor; // same shape as x
  dgamma: Tensor | null; // [c], summed over groups; null when no affine
  dbeta: Tensor | null; // [c]
}

export interface BnBorrowedBackwardResult extends BnBackwardResult {
  /** Gradient w.r.t. the mean that was used (borrowed), [groups, c]: send it back to the producer. */
  dmean: Tensor;
  /** Gradient w.r.t. the biased variance that was used, [groups, c]. */
  dvar: Tensor;
}

export interface LinearBackwardResult {
  dx: Tensor | null; // [N, in], null when not requested
  dw: Tensor; // [out, in]
  db: Tensor | null; // [out], null when the layer has no bias
}

export interface InfoNceResult {
  /** Mean cross-entropy over the batch, shape [1]. */
  loss: Tensor;
  /** [N, 1 + K]: column 0 is q·k⁺ / T, columns 1..K are q·queueᵀ / T. */
  logits: Tensor;
  /** Number of rows whose positive logit is strictly the largest (pretext accuracy numerator), shape [1]. */
  correct: Tensor;
}

export interface SgdOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
}

export interface Backend {
  readonly kind: BackendKind;
  /** Human-readable device name (adapter description, or "CPU (float64 accumulation)"). */
  readonly label: string;
  /** True on a software/fallback adapter such as SwiftShader. */
  readonly isFallbackAdapter: boolean;

  // ---- memory ----
  fromArray(data: Float32Array | readonly number[], shape: Shape): Tensor;
  zeros(shape: Shape): Tensor;
  /** Copies the tensor's contents back to the host (waits for all queued work that writes it). */
  read(t: Tensor): Promise<Float32Array>;
  /** Overwrites the tensor's contents from the host. */
  write(t: Tensor, data: Float32Array): void;
  /** New tensor with a copy of `t`'s contents (optionally a new shape with the same size). */
  clone(t: Tensor, shape?: Shape): Tensor;
  /** Rows [start, start + count) of a tensor viewed as [rows, rowSize] (rowSize = size / shape[0]), as a new tensor. */
  sliceRows(t: Tensor, start: number, count: number): Tensor;
  /** Concatenation along the first axis. */
  concatRows(ts: readonly Tensor[]): Tensor;
  dispose(t: Tensor): void;
  /** Resolves when all work issued so far has finished. */
  flush(): Promise<void>;
  /** Frees every resource; idempotent. */
  destroy(): void;

  // ---- elementwise ----
  /** a + b (same shape). */
  add(a: Tensor, b: Tensor): Tensor;
  /** In place: a += alpha · b. */
  addScaledInPlace(a: Tensor, b: Tensor, alpha: number): void;
  /** a · s. */
  scale(a: Tensor, s: number): Tensor;
  relu(x: Tensor): Tensor;
  /** dx = dy where y > 0, else 0. */
  reluBackward(dy: Tensor, y: Tensor): Tensor;

  // ---- BatchNorm ----
  /** Per (group, channel) count, mean, M2, numerically stable in f32 (never E[x²] − E[x]²). */
  bnPartial(x: Tensor, layout: BnLayout): BnPartial;
  /** Per (group, channel) mean and biased variance. */
  bnStats(x: Tensor, layout: BnLayout): BnStats;
  /**
   * y = (x − mean[g,c]) / sqrt(var[g,c] + eps) · gamma[c] + beta[c]. `mean`/`var` are [groups, c]
   * (the statistics actually used, own or borrowed). gamma/beta null means no affine.
   */
  bnApply(x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, beta: Tensor | null, eps: number): Tensor;
  /** Backward when the statistics came from this same x (standard BatchNorm training backward). */
  bnBackward(dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, eps: number): BnBackwardResult;
  /**
   * Backward when mean/var were borrowed (constants w.r.t. x): dx = dy·γ/σ, plus dγ, dβ, and the
   * gradients w.r.t. the borrowed mean and variance, to be sent back to the worker that produced them.
   */
  bnBackwardBorrowed(dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null, eps: number): BnBorrowedBackwardResult;
  /**
   * The producer's side: given dmean/dvar for the statistics computed from x (mean = batch mean,
   * var = biased batch variance), returns the input-gradient contribution
   * dx[i] = dmean/M + dvar · 2(x[i] − mean)/M, M = n·hw.
   */
  bnStatsBackward(x: Tensor, layout: BnLayout, mean: Tensor, dmean: Tensor, dvar: Tensor): Tensor;
  /**
   * In place, as PyTorch: running = (1 − momentum)·running + momentum·batch, where runningVar uses the
   * unbiased variance var·count/(count − 1). `mean`/`variance` are [c] (one group's, or merged).
   */
  bnRunningUpdate(runningMean: Tensor, runningVar: Tensor, mean: Tensor, variance: Tensor, count: number, momentum: number): void;

  // ---- dense ----
  /** y[N, out] = x[N, in] · w[out, in]ᵀ + b[out] (PyTorch Linear layout). */
  linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor;
  linearBackward(dy: Tensor, x: Tensor, w: Tensor, opts: { needDx: boolean; hasBias: boolean }): LinearBackwardResult;
  /** c[N, M] = a[N, D] · b[M, D]ᵀ (e.g. similarities against a feature bank). */
  matmulNT(a: Tensor, b: Tensor): Tensor;

  // ---- normalisation and loss ----
  /** Row-wise y = x / max(‖x‖₂, 1e-12) for x [N, D]. */
  l2Normalize(x: Tensor): Tensor;
  l2NormalizeBackward(dy: Tensor, x: Tensor): Tensor;
  /** MoCo InfoNCE: logits [q·k⁺, q·queueᵀ] / T, cross-entropy with target 0, mean over N. */
  infoNce(q: Tensor, kPos: Tensor, queue: Tensor, temperature: number): InfoNceResult;
  /** dq of the mean loss (keys get no gradient: the key encoder is momentum-updated). */
  infoNceBackward(logits: Tensor, kPos: Tensor, queue: Tensor, temperature: number): Tensor;

  // ---- optimisation ----
  /** In place, PyTorch SGD: g = grad + wd·p; v = momentum·v + g; p −= lr·v. */
  sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, opts: SgdOptions): void;
  /** In place: target = m·target + (1 − m)·source (momentum encoder). */
  ema(target: Tensor, source: Tensor, m: number): void;
  /** In place: queue rows (ptr + i) mod K = keys[i] for keys [B, D], queue [K, D]. */
  enqueue(queue: Tensor, keys: Tensor, ptr: number): void;
}

export type BackendErrorCode =
  | 'ERR_NO_WEBGPU'
  | 'ERR_DEVICE_LOST'
  | 'ERR_GPU_VALIDATION'
  | 'ERR_SHAPE'
  | 'ERR_BN_SINGLE_SAMPLE'
  | 'ERR_DISPOSED'
  /** A helper thread of the wasm backend's pool stopped answering (src/backend/wasm/pool.ts). */
  | 'ERR_WASM_THREADS';

export class BackendError extends Error {
  constructor(readonly code: BackendErrorCode, message: string) {
    super(message);
    this.name = 'BackendError';
  }
}

/** Re-exported for callers that predate src/backend/checks.ts, where every argument check lives. */
export { assertBnTrainable } from './checks.ts';

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
