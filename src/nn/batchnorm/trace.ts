/**
 * Measured traces of a BatchNorm layer (traced steps only: this is the only extra cost, one set of
 * readbacks and one gather of trace rows per layer). Every value comes from what ran:
 * - before: this tab's own statistics as the exchange read them back (shuffle, sync) or, in local
 *   mode, as the backend computed them (the very tensors bnApply then consumed);
 * - after: read back from the `mean`/`variance` tensors given to bnApply (on WebGPU the buffers
 *   bound to the apply kernel);
 * - out: per-channel mean of each worker's rows of the layer's output y, with γ, β undone in float64:
 *   mean(x̂) = (mean(y) − β)/γ. A broken apply kernel therefore shows in `meanOut` (a channel with
 *   γ = 0 carries no information about x̂ and reads as ±Inf/NaN, which the checker reports).
 */
import type { Backend, BnLayout, Tensor } from '../../backend/backend.ts';
import { NnError } from '../errors.ts';
import type { WorkerWorld } from '../world.ts';
import { packTraceRows, splitTraceRows } from './rows.ts';
import type { BnLayerTrace, BnStatsKind } from './types.ts';

export interface TraceInput {
  backend: Backend;
  world: WorkerWorld;
  layout: BnLayout;
  kind: BnStatsKind;
  layer: number;
  step?: number;
  eps: number;
  /** The tensors given to bnApply, [groups, c]. */
  mean: Tensor;
  variance: Tensor;
  /** This tab's own statistics as already read back by the exchange; null: `mean`/`variance` are own. */
  own: { mean: Float32Array; variance: Float32Array } | null;
  /** bnApply's output, [groups·n, c, …hw]. */
  y: Tensor;
  gamma: Tensor | null;
  beta: Tensor | null;
  sourceOf: readonly number[] | null;
}

/** Reads back what layer `layer` used and produced, gathers it from every worker, returns the entry. */
export async function measureTrace(t: TraceInput): Promise<BnLayerTrace> {
  const { backend, world, layout } = t;
  const { groups, n, c, hw } = layout;
  const none = Promise.resolve(null);
  const [meanAfter, varAfter, y, gamma, beta] = await Promise.all([
    backend.read(t.mean),
    backend.read(t.variance),
    backend.read(t.y),
    t.gamma ? backend.read(t.gamma) : none,
    t.beta ? backend.read(t.beta) : none,
  ]);
  const own = t.own ?? { mean: meanAfter, variance: varAfter };
  const meanOut = new Float64Array(groups * c);
  for (let g = 0; g < groups; g++) {
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const base = ((g * n + i) * c + ch) * hw;
        for (let p = 0; p < hw; p++) sum += y[base + p]!;
      }
      const meanY = sum / (n * hw);
      meanOut[g * c + ch] = gamma ? (meanY - (beta ? beta[ch]! : 0)) / gamma[ch]! : meanY;
    }
  }
  const rows = packTraceRows({ meanBefore: own.mean, varBefore: own.variance, meanAfter, varAfter, meanOut }, groups, c);
  // Gather first, throw after: a tab that stopped here would leave its peers waiting in the collective.
  const gathered = await world.gatherRows(rows, 5 * c);
  const bad = [own.mean, own.variance, meanAfter, varAfter].findIndex((a) => a.some((v) => !Number.isFinite(v)));
  if (bad >= 0) {
    const what = ['own mean', 'own variance', 'mean used', 'variance used'][bad];
    throw new NnError('ERR_NONFINITE_STATS', `BatchNorm layer ${t.layer}${t.step !== undefined ? ` at step ${t.step}` : ''}: a ${what} of this tab is not finite`, {
      layer: t.layer,
      ...(t.step !== undefined ? { step: t.step } : {}),
    });
  }
  const fields = splitTraceRows(gathered, world.worldSize, c);
  return {
    layer: t.layer,
    kind: t.kind,
    sourceOf: t.kind === 'shuffle' && t.sourceOf ? [...t.sourceOf] : Array.from({ length: world.worldSize }, (_, w) => w),
    count: n * hw,
    eps: t.eps,
    ...fields,
  };
}

/** The same entries with only the first `channels` channels (run logs keep a few). */
export function truncateBnTrace(trace: readonly BnLayerTrace[], channels: number): BnLayerTrace[] {
  const cut = (rows: number[][]) => rows.map((r) => r.slice(0, channels));
  return trace.map((l) => ({
    ...l,
    sourceOf: [...l.sourceOf],
    meanBefore: cut(l.meanBefore),
    varBefore: cut(l.varBefore),
    meanAfter: cut(l.meanAfter),
    varAfter: cut(l.varAfter),
    meanOut: cut(l.meanOut),
  }));
}
