/**
 * A trainer's full state as flat float32 arrays, so a joining tab can receive it in one broadcast:
 * query encoder (parameters then BN buffers), key encoder (same layout), SGD momentum buffers,
 * the key queue [K, D] and the counters.
 */
import { createRng } from '../util/rng.ts';

/** Stream tag of the initial queue. */
const TAG_QUEUE = 0x9e0e;

export interface TrainerState {
  /** Steps completed (the next step to run). */
  step: number;
  /** Next queue row to overwrite. */
  queuePtr: number;
  /** Query encoder: parameters() then buffers(), each flattened, in model order. */
  query: Float32Array;
  /** Key encoder, same layout as `query`. */
  key: Float32Array;
  /** SGD momentum buffers, aligned with the query encoder's parameters(). */
  velocities: Float32Array;
  /** L2-normalised keys [K, D] row-major. */
  queue: Float32Array;
}

/** Header words: format version, step, queuePtr, then the four section lengths. */
const HEADER_WORDS = 7;
const STATE_FORMAT = 1;
/** Largest integer a float32 holds exactly: counters and lengths must stay below it. */
const MAX_EXACT_FLOAT32_INT = 2 ** 24;

function stateError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_BAD_STATE' });
}

/** Packs a state into one Float32Array (header + sections), e.g. for ProcessGroup.broadcast. */
export function packState(s: TrainerState): Float32Array {
  const sections = [s.query, s.key, s.velocities, s.queue];
  const header = [STATE_FORMAT, s.step, s.queuePtr, ...sections.map((a) => a.length)];
  if (header.some((v) => v >= MAX_EXACT_FLOAT32_INT)) throw stateError('state counters or sizes exceed float32 integer range');
  const out = new Float32Array(HEADER_WORDS + sections.reduce((n, a) => n + a.length, 0));
  out.set(header, 0);
  let offset = HEADER_WORDS;
  for (const a of sections) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

/** Inverse of packState; throws ERR_BAD_STATE on a malformed buffer. */
export function unpackState(data: Float32Array): TrainerState {
  if (data.length < HEADER_WORDS || data[0] !== STATE_FORMAT) throw stateError('not a trainer state (bad header)');
  const lengths = Array.from(data.subarray(3, HEADER_WORDS));
  if (HEADER_WORDS + lengths.reduce((a, b) => a + b, 0) !== data.length) throw stateError('trainer state length does not match its header');
  const sections: Float32Array[] = [];
  let offset = HEADER_WORDS;
  for (const len of lengths) {
    sections.push(data.slice(offset, offset + len));
    offset += len;
  }
  const [query, key, velocities, queue] = sections as [Float32Array, Float32Array, Float32Array, Float32Array];
  return { step: data[1], queuePtr: data[2], query, key, velocities, queue };
}

/** MoCo's initial queue: Gaussian rows, L2-normalised (float64), the same on every tab. */
export function initialQueue(seed: number, rows: number, dim: number): Float32Array {
  const rng = createRng(seed, TAG_QUEUE);
  const out = new Float32Array(rows * dim);
  const row = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      row[d] = rng.normal();
      norm += row[d] * row[d];
    }
    norm = Math.sqrt(norm);
    for (let d = 0; d < dim; d++) out[r * dim + d] = row[d] / norm;
  }
  return out;
}
