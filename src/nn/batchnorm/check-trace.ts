/**
 * Checks a measured BatchNorm trace entry from the log alone (pure, no backend): anyone holding a run
 * log can run it. Two properties, per worker w and channel:
 * 1. consistency of the output: meanOut[w] = (meanBefore[w] − meanAfter[w]) / √(varAfter[w] + ε);
 * 2. routing: the statistics used are the ones the mode promises, i.e. meanAfter/varAfter equal
 *    - shuffle: meanBefore/varBefore of sourceOf[w] (exactly: they are float32 copies),
 *    - sync: the merge of all workers' before-statistics (equal counts; float64 here, float32 there),
 *    - local: worker w's own before-statistics.
 */
import type { BnLayerTrace } from './types.ts';

/** Defaults: the relation to 1e-3 (float32 output, γ undone), routing to float32 rounding. */
export const TRACE_RELATION_TOLERANCE = 1e-3;
export const TRACE_ROUTING_TOLERANCE = 1e-5;

export interface TraceCheck {
  ok: boolean;
  /** Human-readable failures (first few). */
  problems: string[];
  /** Worst |meanOut − (before − after)/√(varAfter + ε)| / max(1, |rhs|). */
  worstRelation: number;
  /** Worst routing difference, relative to the channel's scale. */
  worstRouting: number;
}

const MAX_PROBLEMS = 8;

/** Checks one trace entry; `eps` defaults to the entry's own. */
export function checkBnTrace(
  record: BnLayerTrace,
  eps: number = record.eps,
  tolerance: { relation?: number; routing?: number } = {},
): TraceCheck {
  const relTol = tolerance.relation ?? TRACE_RELATION_TOLERANCE;
  const routeTol = tolerance.routing ?? TRACE_ROUTING_TOLERANCE;
  const problems: string[] = [];
  const fail = (message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(`layer ${record.layer}: ${message}`);
  };
  let worstRelation = 0;
  let worstRouting = 0;
  const W = record.meanBefore.length;
  const c = record.meanBefore[0]?.length ?? 0;
  const fields = [record.meanBefore, record.varBefore, record.meanAfter, record.varAfter, record.meanOut];
  if (W === 0 || c === 0 || record.sourceOf.length !== W || fields.some((f) => f.length !== W || f.some((row) => row.length !== c))) {
    return { ok: false, problems: [`layer ${record.layer}: fields do not all hold ${W} workers × ${c} channels`], worstRelation: Infinity, worstRouting: Infinity };
  }
  const expected = expectedAfter(record);
  for (let w = 0; w < W; w++) {
    for (let ch = 0; ch < c; ch++) {
      const before = record.meanBefore[w]![ch]!;
      const after = record.meanAfter[w]![ch]!;
      const varAfter = record.varAfter[w]![ch]!;
      const out = record.meanOut[w]![ch]!;
      const rhs = (before - after) / Math.sqrt(varAfter + eps);
      const relation = Math.abs(out - rhs) / Math.max(1, Math.abs(rhs));
      // NaN compares false: count it as the worst.
      const relationErr = Number.isFinite(relation) ? relation : Infinity;
      worstRelation = Math.max(worstRelation, relationErr);
      if (!(relationErr <= relTol)) fail(`worker ${w} channel ${ch}: meanOut ${out} but (before − after)/√(varAfter + ε) = ${rhs}`);

      const { mean: wantMean, variance: wantVar, meanScale, varScale } = expected(w, ch);
      const meanErr = Math.abs(after - wantMean) / meanScale;
      const varErr = Math.abs(varAfter - wantVar) / varScale;
      const routing = Number.isFinite(meanErr) && Number.isFinite(varErr) ? Math.max(meanErr, varErr) : Infinity;
      worstRouting = Math.max(worstRouting, routing);
      if (!(routing <= routeTol)) {
        fail(`worker ${w} channel ${ch}: used (mean ${after}, var ${varAfter}), ${record.kind} promises (${wantMean}, ${wantVar})${record.kind === 'shuffle' ? ` of worker ${record.sourceOf[w]}` : ''}`);
      }
    }
  }
  return { ok: problems.length === 0, problems, worstRelation, worstRouting };
}

/** Checks every entry of a step's trace; the problems of all entries together. */
export function checkBnTraces(trace: readonly BnLayerTrace[], eps?: number): TraceCheck {
  const checks = trace.map((r) => checkBnTrace(r, eps ?? r.eps));
  return {
    ok: checks.every((c) => c.ok),
    problems: checks.flatMap((c) => c.problems).slice(0, MAX_PROBLEMS),
    worstRelation: Math.max(0, ...checks.map((c) => c.worstRelation)),
    worstRouting: Math.max(0, ...checks.map((c) => c.worstRouting)),
  };
}

type Expected = (w: number, ch: number) => { mean: number; variance: number; meanScale: number; varScale: number };

/** What worker w's used statistics must be, with the scale its difference is measured against. */
function expectedAfter(record: BnLayerTrace): Expected {
  const { meanBefore, varBefore } = record;
  const W = meanBefore.length;
  // Scale of channel ch: float32 rounding is relative to the largest value involved.
  const meanScale = (ch: number) => Math.max(1e-6, ...meanBefore.map((m) => Math.abs(m[ch]!)), ...record.meanAfter.map((m) => Math.abs(m[ch]!)));
  const varScale = (ch: number) => Math.max(1e-6, ...varBefore.map((v) => Math.abs(v[ch]!)));
  if (record.kind !== 'sync') {
    return (w, ch) => {
      const source = record.kind === 'shuffle' ? record.sourceOf[w]! : w;
      const valid = Number.isInteger(source) && source >= 0 && source < W;
      return {
        mean: valid ? meanBefore[source]![ch]! : NaN,
        variance: valid ? varBefore[source]![ch]! : NaN,
        meanScale: meanScale(ch),
        varScale: varScale(ch),
      };
    };
  }
  // Equal counts: global mean = mean of means; global var = mean of (var + (mean − global mean)²).
  const c = meanBefore[0]!.length;
  const merged = Array.from({ length: c }, (_, ch) => {
    let mean = 0;
    for (let w = 0; w < W; w++) mean += meanBefore[w]![ch]!;
    mean /= W;
    let variance = 0;
    for (let w = 0; w < W; w++) variance += varBefore[w]![ch]! + (meanBefore[w]![ch]! - mean) ** 2;
    return { mean, variance: variance / W };
  });
  return (_w, ch) => ({ ...merged[ch]!, meanScale: meanScale(ch), varScale: Math.max(varScale(ch), merged[ch]!.variance) });
}
