/** SGD with momentum and weight decay (PyTorch semantics), and parameter copy / EMA for MoCo. */
import type { Backend, SgdOptions, Tensor } from '../backend/backend.ts';
import { NnError } from './errors.ts';
import type { Layer, Parameter } from './layers/types.ts';

/** PyTorch's SGD (momentum, weight decay) over a fixed list of parameters, one velocity buffer each. */
export class SGD {
  /** Mutable: change `options.lr` for a schedule. */
  readonly options: SgdOptions;
  private readonly velocities: Tensor[];
  private destroyed = false;

  constructor(
    private readonly backend: Backend,
    readonly params: Parameter[],
    options: SgdOptions,
  ) {
    this.options = { ...options };
    // Zero velocity makes the first step v = g, as PyTorch's lazily created momentum buffer.
    this.velocities = params.map((p) => backend.zeros(p.value.shape));
  }

  /** p −= lr·v with v = momentum·v + (grad + wd·p); parameters without a gradient are skipped. */
  step(): void {
    this.params.forEach((p, i) => {
      if (p.grad) this.backend.sgdStep(p.value, p.grad, this.velocities[i]!, this.options);
    });
  }

  zeroGrad(): void {
    for (const p of this.params) {
      if (p.grad) this.backend.dispose(p.grad);
      p.grad = null;
    }
  }

  /** The momentum buffers, aligned with `params` (for broadcasting optimizer state to a new tab). */
  state(): Tensor[] {
    return [...this.velocities];
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const v of this.velocities) this.backend.dispose(v);
  }
}

type ParamSource = Layer | Parameter[];

function paramsOf(source: ParamSource): Parameter[] {
  return Array.isArray(source) ? source : source.parameters();
}

function pairUp(target: ParamSource, source: ParamSource): [Parameter, Parameter][] {
  const t = paramsOf(target);
  const s = paramsOf(source);
  if (t.length !== s.length) throw new NnError('ERR_SHAPE', `parameter lists differ: ${t.length} vs ${s.length}`);
  return t.map((tp, i) => {
    const sp = s[i]!;
    if (tp.value.size !== sp.value.size || tp.name !== sp.name) {
      throw new NnError('ERR_SHAPE', `parameter ${i} differs: ${tp.name}[${tp.value.shape.join(', ')}] vs ${sp.name}[${sp.value.shape.join(', ')}]`);
    }
    return [tp, sp];
  });
}

/**
 * Copies parameter values `from` → `to` (models: their `parameters()`, not buffers, as MoCo
 * initialises the key encoder; pass `[...m.parameters(), ...m.buffers()]` to include buffers).
 */
export function copyParams(from: ParamSource, to: ParamSource): void {
  for (const [target, source] of pairUp(to, from)) {
    // A fresh copy rather than ema(·, ·, 0): exact even if the target held NaN (0·NaN = NaN).
    const old = target.value;
    target.value = target.backend.clone(source.value);
    target.backend.dispose(old);
  }
}

/** MoCo momentum update: target = m·target + (1 − m)·source, parameter by parameter. */
export function emaParams(target: ParamSource, source: ParamSource, m: number): void {
  for (const [t, s] of pairUp(target, source)) t.backend.ema(t.value, s.value, m);
}
