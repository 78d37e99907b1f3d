/**
 * Argument checks of every `Backend` op, shared by both implementations (src/backend/cpu/ and
 * src/gpu/), so a bad call fails with the same code and message whichever backend runs it. Each
 * backend first checks that its inputs are live tensors of its own kind, then calls these; they look
 * at shapes and scalars only, never at data.
 */
import { BackendError, shapeSize, type BnLayout, type Shape, type Tensor } from './backend.ts';

/** Largest tensor either backend allocates, in elements (1 GiB of float32). */
export const MAX_TENSOR_ELEMENTS = 256 * 1024 * 1024;

/** Formats a shape as `[2, 3]` for messages. */
export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function shapeError(op: string, message: string): BackendError {
  return new BackendError('ERR_SHAPE', `${op}: ${message}`);
}

// ---- shapes ----

/** Validates a shape (non-negative integer dims, bounded size) and returns a frozen copy. */
export function checkShape(op: string, shape: Shape): Shape {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw shapeError(op, `invalid dimension ${d} in shape ${fmt(shape)}`);
  }
  const size = shapeSize(shape);
  if (size > MAX_TENSOR_ELEMENTS) {
    throw shapeError(op, `shape ${fmt(shape)} has ${size} elements, above the limit of ${MAX_TENSOR_ELEMENTS}`);
  }
  return Object.freeze([...shape]);
}

/** Throws ERR_SHAPE unless `a` and `b` have identical shapes. */
export function assertSameShape(op: string, a: Tensor, b: Tensor, names = ['a', 'b']): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw shapeError(op, `${names[0]} ${fmt(a.shape)} and ${names[1]} ${fmt(b.shape)} must have the same shape`);
  }
}

/** Throws ERR_SHAPE unless `t` is a 2-D tensor; returns [rows, cols]. */
export function assert2d(op: string, t: Tensor, name: string): [number, number] {
  if (t.shape.length !== 2) throw shapeError(op, `${name} must be 2-D, got ${fmt(t.shape)}`);
  return [t.shape[0]!, t.shape[1]!];
}

/** Throws ERR_SHAPE unless `t` has exactly `size` elements. */
export function assertSize(op: string, t: Tensor, size: number, name: string, expected: string): void {
  if (t.size !== size) {
    throw shapeError(op, `${name} ${fmt(t.shape)} must have ${size} elements (${expected})`);
  }
}

// ---- memory ----

/** fromArray: the data must fill the (checked) shape exactly. */
export function checkFill(op: string, length: number, shape: Shape): void {
  if (length !== shapeSize(shape)) {
    throw shapeError(op, `${length} values do not fill shape ${fmt(shape)} (${shapeSize(shape)} elements)`);
  }
}

/** write: as many values as the tensor holds. */
export function checkWrite(t: Tensor, length: number): void {
  if (length !== t.size) throw shapeError('write', `${length} values for tensor ${fmt(t.shape)}`);
}

/** clone: the new shape is a valid view of the same number of elements; returns it frozen. */
export function checkClone(t: Tensor, shape: Shape | undefined): Shape {
  const s = checkShape('clone', shape ?? t.shape);
  if (shapeSize(s) !== t.size) throw shapeError('clone', `cannot view ${fmt(t.shape)} as ${fmt(s)}`);
  return s;
}

/** sliceRows: rows [start, start + count) exist; returns the elements per row. */
export function checkSliceRows(t: Tensor, start: number, count: number): number {
  const rows = t.shape[0];
  if (rows === undefined) throw shapeError('sliceRows', `tensor ${fmt(t.shape)} has no rows`);
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > rows) {
    throw shapeError('sliceRows', `rows [${start}, ${start + count}) out of range for ${fmt(t.shape)}`);
  }
  return rows === 0 ? 0 : t.size / rows;
}

/** concatRows: at least one non-scalar tensor, all equal beyond the first axis; returns the output shape. */
export function checkConcatRows(ts: readonly Tensor[]): Shape {
  const first = ts[0];
  if (!first) throw shapeError('concatRows', 'needs at least one tensor');
  if (first.shape.length === 0) throw shapeError('concatRows', 'cannot concatenate scalars');
  let rows = 0;
  for (const t of ts) {
    if (t.shape.length !== first.shape.length || t.shape.some((d, i) => i > 0 && d !== first.shape[i])) {
      throw shapeError('concatRows', `${fmt(t.shape)} does not match ${fmt(first.shape)} beyond the first axis`);
    }
    rows += t.shape[0]!;
  }
  return [rows, ...first.shape.slice(1)];
}

// ---- BatchNorm ----

/** Throws the PyTorch-style error for a BatchNorm in training with one value per channel. */
export function assertBnTrainable(layout: BnLayout): void {
  if (layout.n * layout.hw <= 1) {
    throw new BackendError(
      'ERR_BN_SINGLE_SAMPLE',
      `Expected more than 1 value per channel when training, got input of ${layout.n} sample(s) × ${layout.hw} position(s) per worker; use a per-worker batch of at least 2`,
    );
  }
}

/** Validates a BatchNorm layout against x (and dy), per-(group, channel) stats and per-channel affine params. */
export function checkBnArgs(
  op: string,
  layout: BnLayout,
  x: Tensor,
  stats: Record<string, Tensor | null>,
  perChannel: Record<string, Tensor | null> = {},
): void {
  const { groups, n, c, hw } = layout;
  for (const [k, v] of Object.entries({ groups, n, c, hw })) {
    if (!Number.isInteger(v) || v < 1) throw shapeError(op, `layout.${k} must be a positive integer, got ${v}`);
  }
  const desc = `layout [groups ${groups}, n ${n}, c ${c}, hw ${hw}]`;
  assertSize(op, x, groups * n * c * hw, 'x', desc);
  for (const [name, t] of Object.entries(stats)) {
    if (t) assertSize(op, t, groups * c, name, `[groups, c] for ${desc}`);
  }
  for (const [name, t] of Object.entries(perChannel)) {
    if (t) assertSize(op, t, c, name, `[c] for ${desc}`);
  }
}

/** bnBackward / bnBackwardBorrowed: dy like x, stats and γ fit the layout, more than one value per channel. */
export function checkBnBackward(op: string, dy: Tensor, x: Tensor, layout: BnLayout, mean: Tensor, variance: Tensor, gamma: Tensor | null): void {
  assertSameShape(op, dy, x, ['dy', 'x']);
  checkBnArgs(op, layout, x, { mean, variance }, { gamma });
  assertBnTrainable(layout);
}

/** bnRunningUpdate: four [c] tensors and a count that makes the unbiased variance defined. */
export function checkRunningUpdate(runningMean: Tensor, runningVar: Tensor, mean: Tensor, variance: Tensor, count: number): void {
  const op = 'bnRunningUpdate';
  const c = runningMean.size;
  for (const [name, t] of Object.entries({ runningVar, mean, variance })) assertSize(op, t, c, name, `[c] like runningMean ${fmt(runningMean.shape)}`);
  if (!(count > 1)) {
    throw new BackendError(
      'ERR_BN_SINGLE_SAMPLE',
      `bnRunningUpdate: the unbiased running variance needs more than 1 value per channel, got count ${count}`,
    );
  }
}

// ---- dense, normalisation, loss ----

export interface LinearDims {
  rows: number;
  inDim: number;
  outDim: number;
}

/** linear: x [N, in], w [out, in], b [out] or null. */
export function checkLinear(x: Tensor, w: Tensor, b: Tensor | null): LinearDims {
  const op = 'linear';
  const [rows, inDim] = assert2d(op, x, 'x');
  const [outDim, wIn] = assert2d(op, w, 'w');
  if (wIn !== inDim) throw shapeError(op, `x ${fmt(x.shape)} and w ${fmt(w.shape)}: w must be [out, ${inDim}]`);
  if (b) assertSize(op, b, outDim, 'b', `[out] for w ${fmt(w.shape)}`);
  return { rows, inDim, outDim };
}

/** linearBackward: dy [N, out], x [N, in], w [out, in]. */
export function checkLinearBackward(dy: Tensor, x: Tensor, w: Tensor): LinearDims {
  const op = 'linearBackward';
  const [rows, inDim] = assert2d(op, x, 'x');
  const [outDim, wIn] = assert2d(op, w, 'w');
  const [dyRows, dyCols] = assert2d(op, dy, 'dy');
  if (wIn !== inDim || dyRows !== rows || dyCols !== outDim) {
    throw shapeError(op, `dy ${fmt(dy.shape)}, x ${fmt(x.shape)}, w ${fmt(w.shape)} do not fit dy [N, out], x [N, in], w [out, in]`);
  }
  return { rows, inDim, outDim };
}

/** matmulNT: a [N, D], b [M, D]. */
export function checkMatmulNT(a: Tensor, b: Tensor): { rows: number; cols: number; depth: number } {
  const op = 'matmulNT';
  const [rows, depth] = assert2d(op, a, 'a');
  const [cols, bDepth] = assert2d(op, b, 'b');
  if (bDepth !== depth) throw shapeError(op, `a ${fmt(a.shape)} and b ${fmt(b.shape)} must share the last dimension`);
  return { rows, cols, depth };
}

/** l2NormalizeBackward: x [rows, dim] and dy of the same shape. */
export function checkL2NormalizeBackward(dy: Tensor, x: Tensor): [number, number] {
  const dims = assert2d('l2NormalizeBackward', x, 'x');
  assertSameShape('l2NormalizeBackward', dy, x, ['dy', 'x']);
  return dims;
}

export interface InfoNceDims {
  rows: number;
  dim: number;
  queueRows: number;
}

/** infoNce: q and kPos [N, D], queue [K, D]. */
export function checkInfoNce(op: string, q: Tensor, kPos: Tensor, queue: Tensor): InfoNceDims {
  const [rows, dim] = assert2d(op, q, 'q');
  assertSameShape(op, q, kPos, ['q', 'kPos']);
  const [queueRows, queueDim] = assert2d(op, queue, 'queue');
  if (queueDim !== dim) throw shapeError(op, `queue ${fmt(queue.shape)} must be [K, ${dim}] for q ${fmt(q.shape)}`);
  return { rows, dim, queueRows };
}

/** infoNceBackward: kPos [N, D], queue [K, D], logits [N, 1 + K]. */
export function checkInfoNceBackward(logits: Tensor, kPos: Tensor, queue: Tensor): InfoNceDims {
  const op = 'infoNceBackward';
  const dims = checkInfoNce(op, kPos, kPos, queue);
  const [lRows, lCols] = assert2d(op, logits, 'logits');
  if (lRows !== dims.rows || lCols !== 1 + dims.queueRows) {
    throw shapeError(op, `logits ${fmt(logits.shape)} must be [${dims.rows}, ${1 + dims.queueRows}] for kPos ${fmt(kPos.shape)}, queue ${fmt(queue.shape)}`);
  }
  return dims;
}

// ---- optimisation ----

/** enqueue: keys [B ≤ K, D] into queue [K, D] at an integer ptr; returns [queueRows, dim, batch]. */
export function checkEnqueue(queue: Tensor, keys: Tensor, ptr: number): [number, number, number] {
  const [queueRows, dim] = assert2d('enqueue', queue, 'queue');
  const [batch, keyDim] = assert2d('enqueue', keys, 'keys');
  if (keyDim !== dim || batch > queueRows || !Number.isInteger(ptr)) {
    throw shapeError('enqueue', `keys ${fmt(keys.shape)} into queue ${fmt(queue.shape)} at ptr ${ptr}: need keys [B ≤ K, D] and an integer ptr`);
  }
  return [queueRows, dim, batch];
}
