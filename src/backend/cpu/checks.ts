/** Argument checks shared by the CPU backend's ops: BatchNorm layouts and tensor ownership. */
import { BackendError, type BnLayout, type Tensor } from '../backend.ts';
import { CpuTensor, assertSize, fmt, shapeError } from './tensor.ts';

/** Returns the backing array of a live CPU tensor (ERR_DISPOSED if disposed, ERR_SHAPE if foreign). */
export function dataOf(op: string, t: Tensor): Float32Array {
  if (!(t instanceof CpuTensor)) {
    throw shapeError(op, `expected a cpu tensor, got a ${t?.backend ?? typeof t} tensor ${t?.shape ? fmt(t.shape) : ''}`);
  }
  return t.data;
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

/** Throws ERR_BN_SINGLE_SAMPLE when an unbiased variance would divide by zero. */
export function assertRunningCount(count: number): void {
  if (!(count > 1)) {
    throw new BackendError(
      'ERR_BN_SINGLE_SAMPLE',
      `bnRunningUpdate: the unbiased running variance needs more than 1 value per channel, got count ${count}`,
    );
  }
}
