/**
 * Once-per-step update of BatchNorm running statistics, identical on every tab.
 *
 * During a training forward each BatchNorm only records the statistics this tab's workers used.
 * `syncRunningStats` gathers the records of ALL BatchNorm layers of a model in ONE gatherRows call,
 * averages each statistic over all world workers (float64, worker order) and applies PyTorch's
 * update `running = (1 − momentum)·running + momentum·batch` (unbiased variance) once per record.
 * Averaging what was *used* means: local → mean of per-worker statistics, shuffle → the same set
 * (a permutation only reassigns it), sync → the global statistics. The result depends neither on the
 * tab placement nor on the tab computing it.
 */
import type { Tensor } from '../backend/backend.ts';
import { NnError } from './errors.ts';
import { BatchNorm } from './layers/batchnorm.ts';
import type { ForwardContext, Layer } from './layers/types.ts';

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
export async function syncRunningStats(model: Layer | readonly Layer[], ctx: Pick<ForwardContext, 'backend' | 'world'>): Promise<void> {
  const { backend, world } = ctx;
  const models: readonly Layer[] = Array.isArray(model) ? model : [model as Layer];
  const records = models.flatMap(findBatchNorms).flatMap((layer) => layer.takeRunningStatsRecords().map((record) => ({ layer, record })));
  // All reads issued together: on WebGPU that is one wait for the queue, not one per record.
  const work = await Promise.all(
    records.map(async ({ layer, record }) => {
      const [mean, variance] = await Promise.all([backend.read(record.mean), backend.read(record.variance)]);
      return { layer, record, mean, variance };
    }),
  );
  if (work.length === 0) return;
  const groups = world.localWorkers;
  // Row per worker: for each record, [count, mean[0..c), var[0..c)].
  const rowLen = work.reduce((sum, w) => sum + 1 + 2 * w.layer.numFeatures, 0);
  const rows = new Float32Array(groups * rowLen);
  for (let g = 0; g < groups; g++) {
    let offset = g * rowLen;
    for (const { layer, record, mean, variance } of work) {
      const c = layer.numFeatures;
      rows[offset] = record.count;
      rows.set(mean.subarray(g * c, g * c + c), offset + 1);
      rows.set(variance.subarray(g * c, g * c + c), offset + 1 + c);
      offset += 1 + 2 * c;
    }
  }
  const gathered = await world.gatherRows(rows, rowLen);
  let offset = 0;
  for (const { layer, record } of work) {
    const c = layer.numFeatures;
    const meanSum = new Float64Array(c);
    const varSum = new Float64Array(c);
    for (let w = 0; w < world.worldSize; w++) {
      const base = w * rowLen + offset;
      if (gathered[base] !== record.count) {
        throw new NnError('ERR_SHAPE', `worker ${w} normalised over ${gathered[base]} values, this tab over ${record.count}: per-worker batches must match`);
      }
      for (let ch = 0; ch < c; ch++) {
        meanSum[ch]! += gathered[base + 1 + ch]!;
        varSum[ch]! += gathered[base + 1 + c + ch]!;
      }
    }
    const meanT: Tensor = backend.fromArray(Float32Array.from(meanSum, (v) => v / world.worldSize), [c]);
    const varT: Tensor = backend.fromArray(Float32Array.from(varSum, (v) => v / world.worldSize), [c]);
    backend.bnRunningUpdate(layer.runningMean.value, layer.runningVar.value, meanT, varT, record.count, layer.momentum);
    for (const t of [meanT, varT, record.mean, record.variance]) backend.dispose(t);
    offset += 1 + 2 * c;
  }
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
