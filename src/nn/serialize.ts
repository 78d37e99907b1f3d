/** Packing tensors into one Float32Array, to broadcast parameters or optimizer state between tabs. */
import type { Backend, Tensor } from '../backend/backend.ts';
import { NnError } from './errors.ts';

/** All tensors' contents back to back, in the given order. */
export async function flattenTensors(backend: Backend, tensors: readonly Tensor[]): Promise<Float32Array> {
  const parts = await Promise.all(tensors.map((t) => backend.read(t)));
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Overwrites the tensors, in order, from `data` (as produced by flattenTensors for the same shapes). */
export function unflattenInto(backend: Backend, tensors: readonly Tensor[], data: Float32Array): void {
  const total = tensors.reduce((n, t) => n + t.size, 0);
  if (data.length !== total) throw new NnError('ERR_SHAPE', `expected ${total} values for ${tensors.length} tensors, got ${data.length}`);
  let offset = 0;
  for (const t of tensors) {
    backend.write(t, data.slice(offset, offset + t.size));
    offset += t.size;
  }
}
