/**
 * Once-per-step update of BatchNorm running statistics, identical on every tab.
 *
 * During a training forward each BatchNorm only records the statistics this tab's workers used.
 * `syncRunningStats` gathers the records of ALL BatchNorm layers of a model in ONE gatherRows call
 * (running rows, see rows.ts), averages each statistic over all world workers (float64, worker
 * order) and applies PyTorch's update `running = (1 − momentum)·running + momentum·batch` (unbiased
 * variance) once per record. Averaging what was *used* means: local → mean of per-worker statistics,
 * shuffle → the same set (a permutation only reassigns it), sync → the global statistics. The result
 * depends neither on the tab placement nor on the tab computing it.
 *
 * The statistics are read back here every step in every mode anyway, so this is where a non-finite
 * statistic of `local` mode is caught on untraced steps (ERR_NONFINITE_STATS naming the layer and the
 * step), before the optimizer and the momentum encoder take anything in: no extra readback needed.
 */
import type { Tensor } from '../../backend/backend.ts';
import { BatchNorm } from '../layers/batchnorm.ts';
import type { ForwardContext, Layer } from '../layers/types.ts';
import { packRunningRows, sumRunningRows } from './rows.ts';

/** Every BatchNorm in a model, depth first in forward order (through `children` of containers). */
export function findBatchNorms(model: Layer): BatchNorm[] {
  if (model instanceof BatchNorm) return [model];
  const children = (model as { children?: unknown }).children;
  if (!Array.isArray(children)) return [];
  return (children as Layer[]).flatMap(findBatchNorms);
}

/**
 * Applies every recorded forward of every BatchNorm in `model` (or in several models, with one
 * gather). Call it once per step on every tab, after the forwards (it is a collective when any layer
 * recorded something).
 */
export async function syncRunningStats(model: Layer | readonly Layer[], ctx: Pick<ForwardContext, 'backend' | 'world' | 'step'>): Promise<void> {
  const { backend, world } = ctx;
  const models: readonly Layer[] = Array.isArray(model) ? model : [model as Layer];
  // A layer is named by its index in its own model's forward order (as in traces) and the model's index.
  const records = models.flatMap((m, modelIndex) =>
    findBatchNorms(m).flatMap((layer, index) => layer.takeRunningStatsRecords().map((record) => ({ layer, index, modelIndex, record }))),
  );
  // All reads issued together: on WebGPU that is one wait for the queue, not one per record.
  const work = await Promise.all(
    records.map(async ({ layer, index, modelIndex, record }) => {
      const [mean, variance] = await Promise.all([backend.read(record.mean), backend.read(record.variance)]);
      const what = models.length > 1 ? `running statistics of model ${modelIndex}` : 'running statistics';
      return { layer, record, c: layer.numFeatures, count: record.count, mean, variance, index, what };
    }),
  );
  if (work.length === 0) return;
  const { rows, rowLen } = packRunningRows(work, world.localWorkers);
  const gathered = await world.gatherRows(rows, rowLen);
  let sums: ReturnType<typeof sumRunningRows>;
  try {
    const at = ctx.step !== undefined ? { step: ctx.step } : {};
    sums = sumRunningRows(gathered, work.map((w) => ({ c: w.c, count: w.count, layer: w.index, what: w.what })), { world, what: 'running statistics', ...at });
  } catch (err) {
    for (const { record } of work) for (const t of [record.mean, record.variance]) backend.dispose(t);
    throw err;
  }
  work.forEach(({ layer, record, c }, i) => {
    const { meanSum, varSum } = sums[i]!;
    const meanT: Tensor = backend.fromArray(Float32Array.from(meanSum, (v) => v / world.worldSize), [c]);
    const varT: Tensor = backend.fromArray(Float32Array.from(varSum, (v) => v / world.worldSize), [c]);
    backend.bnRunningUpdate(layer.runningMean.value, layer.runningVar.value, meanT, varT, record.count, layer.momentum);
    for (const t of [meanT, varT, record.mean, record.variance]) backend.dispose(t);
  });
}

/** Drops the unsynced records of every BatchNorm in `model` (forwards that must not count). */
export function discardRunningStats(model: Layer): void {
  for (const layer of findBatchNorms(model)) {
    for (const record of layer.takeRunningStatsRecords()) {
      layer.backend.dispose(record.mean);
      layer.backend.dispose(record.variance);
    }
  }
}
