/** Dense passes: the tiled matmul (all transpose variants) and the column sum for bias gradients. */
import matmulWgsl from '../../../shaders/matmul.wgsl?raw';
import matmulDirectWgsl from '../../../shaders/matmul_direct.wgsl?raw';
import columnSumWgsl from '../../../shaders/column_sum.wgsl?raw';
import { ComputePass, type PassContext } from '../compute-pass.ts';

const MATMUL_TILE = 32;

export interface MatmulArgs {
  a: GPUBuffer;
  b: GPUBuffer;
  /** Bias [n] added to every row, or null. */
  bias: GPUBuffer | null;
  c: GPUBuffer;
  m: number;
  n: number;
  k: number;
  /** Row strides (elements) of A and B as stored, and of C. */
  lda: number;
  ldb: number;
  ldc: number;
  aOffset?: number;
  cOffset?: number;
  alpha?: number;
}

/**
 * `tiled`: 32×32 output tiles staged through workgroup memory (matmul.wgsl), for real GPUs.
 * `direct`: 4×4 register blocks straight from memory (matmul_direct.wgsl), for CPU-backed adapters
 * such as SwiftShader, where each workgroup barrier costs a fiber switch per invocation group.
 */
export type MatmulKernel = 'tiled' | 'direct';

/** C = alpha · op(A) · op(B) (+ bias); one pipeline per (kernel, transA, transB). */
export class MatmulPass extends ComputePass {
  constructor(ctx: PassContext, readonly kernel: MatmulKernel, readonly transA: boolean, readonly transB: boolean, private readonly dummy: GPUBuffer) {
    super(ctx, {
      label: `Matmul${kernel === 'tiled' ? 'Tiled' : 'Direct'}${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`,
      code: kernel === 'tiled' ? matmulWgsl : matmulDirectWgsl,
      storage: ['read', 'read', 'read', 'write'],
      workgroupSize: 64,
      constants: { TRANS_A: transA, TRANS_B: transB },
    });
  }
  run(args: MatmulArgs): void {
    if (args.m === 0 || args.n === 0) return;
    const block = this.kernel === 'tiled' ? MATMUL_TILE : 4;
    const blocksN = Math.ceil(args.n / block);
    const blocksM = Math.ceil(args.m / block);
    const workgroups = this.kernel === 'tiled' ? blocksM * blocksN : this.groupsFor(blocksM * blocksN);
    this.dispatch(
      [args.a, args.b, args.bias ?? this.dummy, args.c],
      workgroups,
      [args.m, args.n, args.k, args.lda, args.ldb, args.ldc, args.aOffset ?? 0, args.cOffset ?? 0, args.bias ? 1 : 0, blocksN],
      [args.alpha ?? 1],
    );
  }
}

/** out[j] = Σ_i a[i, j]. */
export class ColumnSumPass extends ComputePass {
  constructor(ctx: PassContext) {
    super(ctx, { label: 'ColumnSum', code: columnSumWgsl, storage: ['read', 'write'], workgroupSize: 64 });
  }
  run(a: GPUBuffer, out: GPUBuffer, rows: number, cols: number): void {
    this.dispatch([a, out], this.groupsFor(cols), [rows, cols]);
  }
}
