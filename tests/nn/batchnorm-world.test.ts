/**
 * BatchNorm across tabs: the same world of workers placed as 1 tab × 4, 2 tabs × 2 and 3 uneven tabs
 * (in-memory process groups) gives the same outputs, input gradients, summed parameter gradients,
 * traces and running statistics; shuffle/sync forwards match host references.
 */
import { describe, expect, it } from 'vitest';
import { buildEncoder } from '../../src/nn/encoder.ts';
import { BatchNorm } from '../../src/nn/layers/batchnorm.ts';
import { stepPermutation } from '../../src/nn/permutation.ts';
import { syncRunningStats } from '../../src/nn/batchnorm/running-stats.ts';
import { localWorld } from '../../src/nn/world.ts';
import { createRng } from '../../src/util/rng.ts';
import { checkBnTrace } from '../../src/nn/batchnorm/check-trace.ts';
import type { BnLayerTrace } from '../../src/nn/batchnorm/types.ts';
import { backend, concat, forwardBackward, makeCtx, makeWorlds, workerRows, worstError } from './helpers.ts';

const WORKERS = 4;
const PER_WORKER = 3;
const IN = 5;
const OUT = 4;
const SPLITS = [[4], [2, 2], [1, 2, 1]] as const;

interface WorldRun {
  y: Float32Array[]; // per global worker
  dx: Float32Array[];
  /** Parameter gradients summed over tabs (what the trainer's allReduce does). */
  grads: Float32Array[];
  traces: BnLayerTrace[][]; // per tab
  running: Float32Array[][]; // per tab: every buffer
}

function split(rows: Float32Array, perRow: number): Float32Array[] {
  return Array.from({ length: rows.length / (PER_WORKER * perRow) }, (_, g) => rows.slice(g * PER_WORKER * perRow, (g + 1) * PER_WORKER * perRow));
}

async function runWorld(placement: readonly number[], mode: 'local' | 'shuffle' | 'sync'): Promise<WorldRun> {
  const worlds = await makeWorlds(placement);
  const sourceOf = mode === 'shuffle' ? stepPermutation(3, 7, WORKERS, 'random') : null;
  const tabs = await Promise.all(
    worlds.map(async (world) => {
      const model = buildEncoder(backend, { inputDim: IN, hiddenDims: [6], outputDim: OUT, bnMode: mode }, createRng(11));
      const trace: BnLayerTrace[] = [];
      const ctx = makeCtx(world, sourceOf, { trace });
      const workers = Array.from({ length: world.localWorkers }, (_, g) => world.firstWorker + g);
      const x = concat(workers.map((w) => workerRows(2, w, PER_WORKER, IN)));
      const r = concat(workers.map((w) => workerRows(99, w, PER_WORKER, OUT)));
      const result = await forwardBackward(model, x, [workers.length * PER_WORKER, IN], ctx, r);
      await syncRunningStats(model, ctx);
      const running = await Promise.all(model.buffers().map((b) => backend.read(b.value)));
      model.dispose();
      return { result, trace, running };
    }),
  );
  const grads = tabs[0]!.result.grads.map((g, i) => {
    const sum = new Float32Array(g.length);
    for (const tab of tabs) tab.result.grads[i]!.forEach((v, k) => (sum[k]! += v));
    return sum;
  });
  return {
    y: tabs.flatMap((t) => split(t.result.y, OUT)),
    dx: tabs.flatMap((t) => split(t.result.dx, IN)),
    grads,
    traces: tabs.map((t) => t.trace),
    running: tabs.map((t) => t.running),
  };
}

function expectClose(a: readonly Float32Array[], b: readonly Float32Array[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(worstError(v, b[i]!, 1e-5, 1e-5)).toBeLessThan(1));
}

describe('placement independence of BatchNorm modes', () => {
  for (const mode of ['local', 'shuffle', 'sync'] as const) {
    it(`${mode}: 1×4, 2×2 and 1+2+1 tabs agree on outputs, gradients, traces and running stats`, async () => {
      const runs = await Promise.all(SPLITS.map((s) => runWorld(s, mode)));
      const [single, ...multi] = runs;
      for (const run of multi) {
        expectClose(run.y, single!.y);
        expectClose(run.dx, single!.dx);
        expectClose(run.grads, single!.grads);
        for (const tabRunning of run.running) expectClose(tabRunning, single!.running[0]!);
        // Within one world every tab holds bit-identical running stats and traces.
        for (const tabRunning of run.running) expect(tabRunning).toEqual(run.running[0]);
        for (const trace of run.traces) expect(trace).toEqual(run.traces[0]);
      }
      // Running statistics moved away from their (0, 1) initial values.
      expect(single!.running[0]![0]!.some((v) => v !== 0)).toBe(true);
    });
  }

  for (const mode of ['shuffle', 'sync', 'local'] as const) {
    it(`${mode} trace over 2 tabs: every layer's measured statistics and output means pass checkBnTrace`, async () => {
      const run = await runWorld([2, 2], mode);
      const trace = run.traces[0]!;
      expect(trace.map((t) => [t.layer, t.kind])).toEqual([
        [0, mode],
        [1, mode],
      ]);
      for (const layer of trace) {
        expect(layer.meanBefore).toHaveLength(WORKERS);
        expect(layer.sourceOf).toEqual(mode === 'shuffle' ? stepPermutation(3, 7, WORKERS, 'random') : [0, 1, 2, 3]);
        // meanAfter is read back from the tensors bnApply consumed and meanOut from the output, so a
        // worker normalised with the wrong statistics fails here (see bn-trace.test.ts for each kind).
        expect(checkBnTrace(layer).problems).toEqual([]);
        // A worker that borrowed another's statistics has normalised means away from 0.
        if (mode === 'shuffle') for (let w = 0; w < WORKERS; w++) expect(Math.max(...layer.meanOut[w]!.map(Math.abs))).toBeGreaterThan(0.05);
      }
    });
  }
});

/** Host float64 statistics of worker w's rows of x [W·n, c]. */
function hostStats(x: Float32Array, w: number, n: number, c: number): { mean: number[]; variance: number[] } {
  const mean = Array.from({ length: c }, (_, ch) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[(w * n + i) * c + ch]!;
    return s / n;
  });
  const variance = mean.map((mu, ch) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (x[(w * n + i) * c + ch]! - mu) ** 2;
    return s / n;
  });
  return { mean, variance };
}

describe('BatchNorm against host references', () => {
  const c = 3;
  const n = 4;
  const gamma = Float32Array.of(0.7, 1.3, 1.1);
  const beta = Float32Array.of(0.2, -0.4, 0.05);
  const x = concat(Array.from({ length: WORKERS }, (_, w) => workerRows(8, w, n, c)));

  function makeBn(mode: 'local' | 'shuffle' | 'sync'): BatchNorm {
    const bn = new BatchNorm(backend, c, { mode });
    backend.write(bn.weight!.value, gamma);
    backend.write(bn.bias!.value, beta);
    return bn;
  }

  function normalise(w: number, stats: { mean: number[]; variance: number[] }): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        out.push(((x[(w * n + i) * c + ch]! - stats.mean[ch]!) / Math.sqrt(stats.variance[ch]! + 1e-5)) * gamma[ch]! + beta[ch]!);
      }
    }
    return out;
  }

  it('shuffle: worker w is normalised with worker sourceOf[w]\'s mean and biased variance; running stats average all workers', async () => {
    const sourceOf = stepPermutation(1, 2, WORKERS, 'random');
    const bn = makeBn('shuffle');
    const ctx = makeCtx(localWorld(WORKERS), sourceOf);
    const xt = backend.fromArray(x, [WORKERS * n, c]);
    const y = await backend.read(await bn.forward(xt, ctx));
    const expected = Array.from({ length: WORKERS }, (_, w) => normalise(w, hostStats(x, sourceOf[w]!, n, c))).flat();
    expect(worstError(y, expected, 1e-5, 1e-5)).toBeLessThan(1);

    await syncRunningStats(bn, ctx);
    const stats = Array.from({ length: WORKERS }, (_, w) => hostStats(x, w, n, c));
    const runningMean = await backend.read(bn.runningMean.value);
    const runningVar = await backend.read(bn.runningVar.value);
    const avg = (f: (s: (typeof stats)[number], ch: number) => number) => Array.from({ length: c }, (_, ch) => stats.reduce((sum, s) => sum + f(s, ch), 0) / WORKERS);
    expect(worstError(runningMean, avg((s, ch) => 0.1 * s.mean[ch]!), 1e-6, 1e-5)).toBeLessThan(1);
    expect(worstError(runningVar, avg((s, ch) => 0.9 + 0.1 * s.variance[ch]! * (n / (n - 1))), 1e-6, 1e-5)).toBeLessThan(1);

    // Eval mode normalises every row with the running statistics.
    const yEval = await backend.read(await bn.forward(xt, { ...ctx, training: false }));
    const evalStats = { mean: Array.from(runningMean), variance: Array.from(runningVar) };
    const expectedEval = Array.from({ length: WORKERS }, (_, w) => normalise(w, evalStats)).flat();
    expect(worstError(yEval, expectedEval, 1e-5, 1e-5)).toBeLessThan(1);
  });

  it('sync equals plain BatchNorm over the concatenated batch (outputs, dx, dγ, dβ) and traces the global stats', async () => {
    const r = concat(Array.from({ length: WORKERS }, (_, w) => workerRows(4, w, n, c)));
    const trace: BnLayerTrace[] = [];
    const synced = await forwardBackward(makeBn('sync'), x, [WORKERS * n, c], makeCtx(localWorld(WORKERS), null, { trace }), r);
    const plain = await forwardBackward(makeBn('local'), x, [WORKERS * n, c], makeCtx(localWorld(1), null), r);
    expect(worstError(synced.y, plain.y, 1e-5, 1e-5)).toBeLessThan(1);
    expect(worstError(synced.dx, plain.dx, 1e-5, 1e-4)).toBeLessThan(1);
    synced.grads.forEach((g, i) => expect(worstError(g, plain.grads[i]!, 1e-5, 1e-4)).toBeLessThan(1));
    const global = hostStats(x, 0, WORKERS * n, c);
    for (let w = 0; w < WORKERS; w++) {
      expect(worstError(trace[0]!.meanAfter[w]!, global.mean, 1e-6, 1e-6)).toBeLessThan(1);
      expect(worstError(trace[0]!.varAfter[w]!, global.variance, 1e-6, 1e-5)).toBeLessThan(1);
      expect(worstError(trace[0]!.meanBefore[w]!, hostStats(x, w, n, c).mean, 1e-6, 1e-5)).toBeLessThan(1);
    }
  });
});

describe('refusals', () => {
  const x = () => backend.fromArray(new Float32Array(8 * 2).map((_, i) => Math.sin(i)), [8, 2]);

  it('shuffle and sync refuse a world of one worker (ERR_WORLD_TOO_SMALL)', async () => {
    for (const mode of ['shuffle', 'sync'] as const) {
      const bn = new BatchNorm(backend, 2, { mode });
      await expect(bn.forward(x(), makeCtx(localWorld(1), [0]))).rejects.toMatchObject({ code: 'ERR_WORLD_TOO_SMALL' });
    }
    expect(() => stepPermutation(1, 0, 1, 'random')).toThrow(expect.objectContaining({ code: 'ERR_WORLD_TOO_SMALL' }));
  });

  it('one sample per worker in training is refused (ERR_BN_SINGLE_SAMPLE), in every mode', async () => {
    for (const mode of ['local', 'samples', 'shuffle', 'sync'] as const) {
      const bn = new BatchNorm(backend, 2, { mode });
      await expect(bn.forward(x(), makeCtx(localWorld(8), stepPermutation(1, 0, 8, 'cyclic')))).rejects.toMatchObject({ code: 'ERR_BN_SINGLE_SAMPLE' });
    }
  });

  it('shuffle without a valid sourceOf is refused (ERR_BAD_PERMUTATION)', async () => {
    const bn = new BatchNorm(backend, 2, { mode: 'shuffle' });
    await expect(bn.forward(x(), makeCtx(localWorld(2), null))).rejects.toMatchObject({ code: 'ERR_BAD_PERMUTATION' });
    await expect(bn.forward(x(), makeCtx(localWorld(2), [1, 2]))).rejects.toMatchObject({ code: 'ERR_BAD_PERMUTATION' });
  });

  it('backward without a training forward is refused (ERR_NO_FORWARD)', async () => {
    const bn = new BatchNorm(backend, 2);
    await bn.forward(x(), { ...makeCtx(localWorld(2), null), training: false });
    await expect(bn.backward(x(), makeCtx(localWorld(2), null))).rejects.toMatchObject({ code: 'ERR_NO_FORWARD' });
  });

  it('forwards piling up without syncRunningStats are refused (ERR_RUNNING_STATS_UNSYNCED)', async () => {
    const bn = new BatchNorm(backend, 2);
    const ctx = makeCtx(localWorld(2), null, { noGrad: true });
    const input = x();
    let error: unknown = null;
    for (let i = 0; i < 100 && !error; i++) {
      try {
        backend.dispose(await bn.forward(input, ctx));
      } catch (e) {
        error = e;
      }
    }
    expect(error).toMatchObject({ code: 'ERR_RUNNING_STATS_UNSYNCED' });
    await syncRunningStats(bn, ctx);
    backend.dispose(await bn.forward(input, ctx));
  });
});
