/**
 * The wasm kernels' memory as the host sees it: the module is instantiated once (per thread, over one
 * shared memory, when a pool runs: ./pool.ts), and each op lays out
 * its operands from `heapBase` upwards (a bump arena reset at the start of every op, since ops run one
 * at a time and copy their results out before returning). The memory grows on demand and never
 * shrinks; typed-array views are re-made after a growth, which detaches the old ones.
 */
import { BackendError } from '../backend.ts';
import type { Real } from '../cpu/tensor.ts';
import { KERNELS_SHARED_WASM_BASE64, KERNELS_WASM_BASE64 } from './kernels.generated.ts';

/** WebAssembly page size, bytes. */
const PAGE_BYTES = 64 * 1024;
/** Largest memory the arena asks for, bytes: 2 GiB, the most every wasm32 engine grants (4 GiB is not universal). */
export const MAX_WASM_MEMORY_BYTES = 2 * 1024 * 1024 * 1024;
/**
 * Largest shared memory, bytes: 1 GiB (scripts/lib/wasm-kernels.ts SHARED_MAX_PAGES). A shared memory
 * never moves, so engines reserve its maximum address space when it is created; 1 GiB is far above
 * any model here and leaves room on devices with little address space.
 */
export const MAX_SHARED_MEMORY_BYTES = 1024 * 1024 * 1024;
/** Pages a shared memory starts with (it grows on demand like the other). */
const SHARED_INITIAL_PAGES = 16;
/** Operand alignment, bytes: one SIMD vector. */
const ALIGN = 16;

/** The functions of wasm/index.ts (pointers are byte offsets; see the AssemblyScript sources). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  gemm(m: number, n: number, depth: number, a: number, strideI: number, strideK: number, b: number, ldb: number, c: number, ldc: number, bias: number): void;
  transpose(src: number, rows: number, cols: number, dst: number): void;
  colSums(x: number, rows: number, cols: number, sums: number): void;
  colCenteredSquares(x: number, rows: number, cols: number, mean: number, m2: number): void;
  colBackwardSums(dy: number, x: number, rows: number, cols: number, mean: number, sumDy: number, sumDyCentered: number): void;
  colAffine(x: number, rows: number, cols: number, shift: number, scale: number, offset: number, out: number): void;
  colBnBackward(dy: number, x: number, rows: number, cols: number, mean: number, dyScale: number, centeredScale: number, offset: number, dx: number): void;
  logitsFromNegatives(neg: number, rows: number, queueRows: number, temperature: number, logits: number): void;
  softmaxRowStats(logits: number, rows: number, width: number, out: number): void;
  softmaxGrads(logits: number, rows: number, width: number, scale: number, g: number, gPos: number): void;
}

function kernelBytes(base64 = KERNELS_WASM_BASE64): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** True when this engine runs the kernels (WebAssembly with 128-bit SIMD and bulk memory). */
export function wasmKernelsSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(kernelBytes());
  } catch {
    return false;
  }
}

export async function instantiateKernels(): Promise<KernelExports> {
  const module = await WebAssembly.compile(kernelBytes());
  const instance = await WebAssembly.instantiate(module, {});
  return instance.exports as unknown as KernelExports;
}

/** The pool's build over a shared memory: the module (each thread instantiates it) and that memory. */
export interface SharedKernels {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  exports: KernelExports;
}

/** Instantiates the shared-memory build; throws where shared memory cannot be made (a page not cross-origin isolated). */
export async function instantiateSharedKernels(): Promise<SharedKernels> {
  const module = await WebAssembly.compile(kernelBytes(KERNELS_SHARED_WASM_BASE64));
  const memory = new WebAssembly.Memory({ initial: SHARED_INITIAL_PAGES, maximum: MAX_SHARED_MEMORY_BYTES / PAGE_BYTES, shared: true });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return { module, memory, exports: instance.exports as unknown as KernelExports };
}

/** Bump arena over the module's memory, with typed-array access that survives growth. */
export class WasmHeap {
  private readonly base: number;
  private top: number;
  private f32View = new Float32Array(0);
  private f64View = new Float64Array(0);

  /** `limitBytes`: the memory's maximum (2 GiB, or 1 GiB for a shared memory). */
  constructor(readonly k: KernelExports, private readonly limitBytes = MAX_WASM_MEMORY_BYTES) {
    this.base = alignUp(k.heapBase());
    this.top = this.base;
  }

  /** Frees everything the previous op laid out. */
  reset(): void {
    this.top = this.base;
  }

  /** Reserves `bytes` (16-byte aligned) and returns the byte offset. */
  alloc(op: string, bytes: number): number {
    const ptr = this.top;
    const end = alignUp(ptr + bytes);
    if (end > this.limitBytes) {
      throw new BackendError('ERR_SHAPE', `${op}: operands need ${end} bytes of WebAssembly memory, above the limit of ${this.limitBytes}; use smaller tensors`);
    }
    const have = this.k.memory.buffer.byteLength;
    if (end > have) this.k.memory.grow(Math.ceil((end - have) / PAGE_BYTES));
    this.top = end;
    return ptr;
  }

  get f32(): Float32Array {
    if (this.f32View.buffer !== this.k.memory.buffer) this.f32View = new Float32Array(this.k.memory.buffer);
    return this.f32View;
  }

  get f64(): Float64Array {
    if (this.f64View.buffer !== this.k.memory.buffer) this.f64View = new Float64Array(this.k.memory.buffer);
    return this.f64View;
  }

  /** Copies `data` in as float32; returns its offset. */
  putF32(op: string, data: Real): number {
    const ptr = this.alloc(op, data.length * 4);
    this.f32.set(data, ptr >> 2);
    return ptr;
  }

  /** Copies `data` in as float64; returns its offset. */
  putF64(op: string, data: ArrayLike<number>): number {
    const ptr = this.alloc(op, data.length * 8);
    this.f64.set(data, ptr >> 3);
    return ptr;
  }

  /** Copies `out.length` float32 values at `ptr` out into `out`. */
  getF32(ptr: number, out: Real): void {
    out.set(this.f32.subarray(ptr >> 2, (ptr >> 2) + out.length));
  }

  /** A copy of `length` float64 values at `ptr`. */
  getF64(ptr: number, length: number): Float64Array {
    return this.f64.slice(ptr >> 3, (ptr >> 3) + length);
  }
}

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
