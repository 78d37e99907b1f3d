/**
 * Measured BatchNorm traces: the statistics each worker's normalisation consumed and its normalised
 * output's means, read back from what ran, against a float64 host reference computed from the input
 * alone; the pure checker catches every deliberate mis-routing and a broken apply.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, BnLayout, Tensor } from '../../src/backend/backend.ts';
import { checkBnTrace } from '../../src/nn/batchnorm/check-trace.ts';
import { MISROUTE_VARIANTS, setBnMisrouteForTests, type MisrouteVariant } from '../../src/nn/batchnorm/exchange.ts';
import type { BnLayerTrace, BnStatsKind } from '../../src/nn/batchnorm/types.ts';
import { BatchNorm } from '../../src/nn/layers/batchnorm.ts';
import { stepPermutation } from '../../src/nn/permutation.ts';
import { syncRunningStats } from '../../src/nn/batchnorm/running-stats.ts';
import { backend, concat, makeCtx, makeWorlds, workerRows, worstError } from './helpers.ts';

const WORKERS = 4;
const N = 4;
const C = 3;
const EPS = 1e-5;
const GAMMA = Float32Array.of(0.7, 1.3, -1.1);
const BETA = Float32Array.of(0.2, -0.4, 0.05);
const SOURCE_OF = stepPermutation(3, 7, WORKERS, 'random');
/** Worker w's rows [N, C] (per-worker offset 0.3·w, so workers' statistics differ). */
const rowsOf = (w: number) => workerRows(8, w, N, C);

afterEach(() => setBnMisrouteForTests(undefined));

/** Float64 mean and biased variance of the given workers' rows pooled. */
function hostStats(workers: readonly number[]): { mean: number[]; variance: number[] } {
  const rows = workers.flatMap((w) => Array.from({ length: N }, (_, i) => Array.from(rowsOf(w).subarray(i * C, (i + 1) * C))));
  const mean = Array.from({ length: C }, (_, ch) => rows.reduce((s, r) => s + r[ch]!, 0) / rows.length);
  const variance = mean.map((m, ch) => rows.reduce((s, r) => s + (r[ch]! - m) ** 2, 0) / rows.length);
  return { mean, variance };
}

/** What worker w must normalise with in `kind`, from the input alone. */
function hostUsed(kind: BnStatsKind, w: number) {
  if (kind === 'shuffle') return hostStats([SOURCE_OF[w]!]);
  if (kind === 'sync') return hostStats([...Array(WORKERS).keys()]);
  return hostStats([w]);
}

/** One forward of a bare BatchNorm per tab over `placement`; every tab's trace entry. */
async function traceWorld(kind: BnStatsKind, placement: readonly number[], be: Backend = backend): Promise<BnLayerTrace[]> {
  const worlds = await makeWorlds(placement);
  return Promise.all(
    worlds.map(async (world) => {
      const bn = new BatchNorm(be, C, { mode: kind });
      be.write(bn.weight!.value, GAMMA);
      be.write(bn.bias!.value, BETA);
      const trace: BnLayerTrace[] = [];
      const ctx = { ...makeCtx(world, kind === 'shuffle' ? SOURCE_OF : null, { trace, step: 7 }), backend: be };
      const workers = Array.from({ length: world.localWorkers }, (_, g) => world.firstWorker + g);
      const x = be.fromArray(concat(workers.map(rowsOf)), [workers.length * N, C]);
      be.dispose(await bn.forward(x, ctx));
      await syncRunningStats(bn, ctx);
      be.dispose(x);
      bn.dispose();
      expect(trace).toHaveLength(1);
      return trace[0]!;
    }),
  );
}

describe('measured BatchNorm traces', () => {
  for (const kind of ['local', 'shuffle', 'sync'] as const) {
    it(`${kind}: before, after and normalised-output means equal a float64 host reference, on 1×4, 2×2 and 1+2+1 tabs`, async () => {
      for (const placement of [[4], [2, 2], [1, 2, 1]]) {
        const traces = await traceWorld(kind, placement);
        for (const t of traces) expect(t).toEqual(traces[0]); // every tab logs the same world
        const t = traces[0]!;
        expect(checkBnTrace(t, EPS).problems).toEqual([]);
        for (let w = 0; w < WORKERS; w++) {
          const own = hostStats([w]);
          const used = hostUsed(kind, w);
          expect(worstError(t.meanBefore[w]!, own.mean, 1e-6, 1e-5)).toBeLessThan(1);
          expect(worstError(t.varBefore[w]!, own.variance, 1e-6, 1e-5)).toBeLessThan(1);
          expect(worstError(t.meanAfter[w]!, used.mean, 1e-6, 1e-5)).toBeLessThan(1);
          expect(worstError(t.varAfter[w]!, used.variance, 1e-6, 1e-5)).toBeLessThan(1);
          // x̂ = (x − mean_used)/√(var_used + ε) averaged over worker w's rows, from the input alone.
          const out = own.mean.map((m, ch) => (m - used.mean[ch]!) / Math.sqrt(used.variance[ch]! + EPS));
          expect(worstError(t.meanOut[w]!, out, 1e-5, 1e-4)).toBeLessThan(1);
        }
        if (kind === 'shuffle') for (let w = 0; w < WORKERS; w++) expect(t.meanOut[w]!.some((v) => Math.abs(v) > 0.05)).toBe(true);
      }
    });
  }
});

describe('the checker catches deliberate mis-routing (test-only hook)', () => {
  /** Placement per variant: `offset` only shows where a tab's first worker is not 0. */
  const placementOf = (v: MisrouteVariant) => (v === 'offset' ? [2, 2] : [4]);

  for (const variant of MISROUTE_VARIANTS) {
    it(`shuffle, '${variant}': the measured trace fails the check; with the hook off it passes`, async () => {
      setBnMisrouteForTests(variant);
      const broken = await traceWorld('shuffle', placementOf(variant));
      const check = checkBnTrace(broken[0]!, EPS);
      expect(check.ok).toBe(false);
      expect(check.worstRouting).toBeGreaterThan(1e-3);
      // The output was normalised with what was read back: the relation itself still holds.
      expect(check.worstRelation).toBeLessThan(1e-3);
      setBnMisrouteForTests(null);
      expect(checkBnTrace((await traceWorld('shuffle', placementOf(variant)))[0]!, EPS).problems).toEqual([]);
    });
  }

  it("sync, 'own': workers that skip the merge fail the check", async () => {
    setBnMisrouteForTests('own');
    expect(checkBnTrace((await traceWorld('sync', [2, 2]))[0]!, EPS).ok).toBe(false);
  });

  it('an apply that ignores the statistics it is given shows in meanOut', async () => {
    setBnMisrouteForTests(null);
    // A kernel reading the wrong binding: normalises with the batch's own statistics.
    const broken = new Proxy(backend, {
      get(target, prop) {
        if (prop === 'bnApply') {
          return (x: Tensor, layout: BnLayout, _mean: Tensor, _variance: Tensor, gamma: Tensor | null, beta: Tensor | null, eps: number) => {
            const own = target.bnStats(x, layout);
            const y = target.bnApply(x, layout, own.mean, own.var, gamma, beta, eps);
            target.dispose(own.mean);
            target.dispose(own.var);
            return y;
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const check = checkBnTrace((await traceWorld('shuffle', [4], broken))[0]!, EPS);
    expect(check.ok).toBe(false);
    expect(check.worstRelation).toBeGreaterThan(1e-2);
    expect(check.worstRouting).toBeLessThan(1e-5);
  });

  it('rejects a malformed or non-finite entry', () => {
    const t: BnLayerTrace = {
      layer: 0,
      kind: 'local',
      sourceOf: [0, 1],
      count: 2,
      eps: EPS,
      meanBefore: [[1], [2]],
      varBefore: [[1], [1]],
      meanAfter: [[1], [2]],
      varAfter: [[1], [1]],
      meanOut: [[0], [0]],
    };
    expect(checkBnTrace(t).ok).toBe(true);
    expect(checkBnTrace({ ...t, meanOut: [[0], [NaN]] }).ok).toBe(false);
    expect(checkBnTrace({ ...t, meanOut: [[0]] }).ok).toBe(false);
    expect(checkBnTrace({ ...t, kind: 'shuffle', sourceOf: [1, 0] }).ok).toBe(false);
  });
});
