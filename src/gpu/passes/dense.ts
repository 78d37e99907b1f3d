/** Dense passes: the tiled matmul (all transpose variants) and the column sum for bias gradients. */
import matmulWgsl from '../../../shaders/matmul.wgsl?raw';
import matmulDirectWgsl from '../../../shaders/matmul_direct.wgsl?raw';
import matmulDirectNtWgsl from '../../../shaders/matmul_direct_nt.wgsl?raw';
import matmulDirectKnWgsl from '../../../shaders/matmul_direct_kn.wgsl?raw';
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

/** A · Bᵀ with both operands read as vec4 along k (register-blocked; see matmul_direct_nt.wgsl). */
export class MatmulDirectNtPass extends ComputePass {
  constructor(ctx: PassContext, private readonly dummy: GPUBuffer) {
    super(ctx, { label: 'MatmulDirectNTVec4', code: matmulDirectNtWgsl, storage: ['read', 'read', 'read', 'write'], workgroupSize: 64 });
  }
  /** Whether `run` can take these arguments (A not transposed, B transposed, everything 4-aligned along k). */
  static fits(args: MatmulArgs, transA: boolean, transB: boolean): boolean {
    return !transA && transB && args.k % 4 === 0 && args.lda % 4 === 0 && args.ldb % 4 === 0 && (args.aOffset ?? 0) % 4 === 0;
  }
  run(args: MatmulArgs): void {
    if (args.m === 0 || args.n === 0) return;
    const blocksN = Math.ceil(args.n / 4);
    this.dispatch(
      [args.a, args.b, args.bias ?? this.dummy, args.c],
      this.groupsFor(Math.ceil(args.m / 4) * blocksN),
      [args.m, args.n, args.k / 4, args.lda / 4, args.ldb / 4, args.ldc, (args.aOffset ?? 0) / 4, args.cOffset ?? 0, args.bias ? 1 : 0, blocksN],
      [args.alpha ?? 1],
    );
  }
}

/**
 * op(A) · B with B row-major [k, n] read as vec4 along n (register-blocked; see matmul_direct_kn.wgsl):
 * 4×8 blocks when `wide` (n % 8 = 0), else 4×4.
 */
export class MatmulDirectKnPass extends ComputePass {
  constructor(ctx: PassContext, readonly transA: boolean, readonly wide: boolean, private readonly dummy: GPUBuffer) {
    super(ctx, { label: `MatmulDirectKN${transA ? 'T' : 'N'}${wide ? 'Wide' : ''}`, code: matmulDirectKnWgsl, storage: ['read', 'read', 'read', 'write'], workgroupSize: 64, constants: { TRANS_A: transA, WIDE: wide } });
  }
  /** Whether `run` can take these arguments (B not transposed, n and ldb divisible by 4). */
  static fits(args: MatmulArgs, transB: boolean): boolean {
    return !transB && args.n % 4 === 0 && args.ldb % 4 === 0;
  }
  /** Whether the 4×8 blocks fit (n divisible by 8). */
  static fitsWide(args: MatmulArgs): boolean {
    return args.n % 8 === 0;
  }
  run(args: MatmulArgs): void {
    if (args.m === 0 || args.n === 0) return;
    const blocksN = args.n / (this.wide ? 8 : 4);
    this.dispatch(
      [args.a, args.b, args.bias ?? this.dummy, args.c],
      this.groupsFor(Math.ceil(args.m / 4) * blocksN),
      [args.m, args.n, args.k, args.lda, args.ldb / 4, args.ldc, args.aOffset ?? 0, args.cOffset ?? 0, args.bias ? 1 : 0, blocksN],
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
