/**
 * A hostile tab for fault tests: the group source its TrainingSession follows, with what this tab
 * contributes to two kinds of gather rewritten; everything else passes through untouched. Used in
 * Node (tests/train/session-faults.test.ts) and in real tabs (tests/runner/faulty-tab.page.ts), so
 * the spec is plain JSON.
 */
import type { ProcessGroup } from '../../src/mesh/types.ts';
import type { GroupSource } from '../../src/train/session.ts';

export interface GatherFault {
  /**
   * Sync-mode BatchNorm rows (count, mean[c], M2[c] per worker) of the first gather of width
   * `channels` from `step` on, i.e. the query encoder's first layer: 'nan' puts NaN in every mean;
   * 'negative-variance' keeps the declared count (so the variance check is what trips) and sends
   * mean 1e6, M2 −1e36, the row of issue 9.
   */
  syncRows?: { step: number; channels: number; kind: 'nan' | 'negative-variance' };
  /**
   * From `step` on, this tab declares `claim` workers in the worker-count exchange of every world it
   * builds; at `step` (> 0) it forces the room to re-form first, so the claim arrives mid-run.
   */
  workerCount?: { step: number; claim: number };
}

/** `source` as a hostile tab would follow it; `stepOf` is the step this tab is on (below 0: hold off). */
export function hostileGroups(source: GroupSource, fault: GatherFault, stepOf: () => number): GroupSource {
  let rowsSent = false;
  let reformed = false;

  function forge(group: ProcessGroup, data: Float32Array, opts: Parameters<ProcessGroup['allGather']>[1]): Float32Array {
    const step = stepOf();
    const claim = fault.workerCount;
    // The worker-count exchange is the one gather of a single value on the stats channel.
    if (claim && step >= claim.step && data.length === 1 && opts?.priority === 'stats') return Float32Array.of(claim.claim);
    if (claim && claim.step > 0 && step >= claim.step && !reformed) {
      reformed = true;
      source.restart?.(group, new Error(`a hostile tab re-forms the room at step ${step}`));
    }
    const rows = fault.syncRows;
    const rowLen = rows ? 2 * rows.channels + 1 : 0;
    if (!rows || rowsSent || step < rows.step || data.length === 0 || data.length % rowLen !== 0) return data;
    rowsSent = true;
    const forged = data.slice();
    for (let row = 0; row < data.length / rowLen; row++) {
      const mean = forged.subarray(row * rowLen + 1, row * rowLen + 1 + rows.channels);
      const m2 = forged.subarray(row * rowLen + 1 + rows.channels, (row + 1) * rowLen);
      if (rows.kind === 'nan') mean.fill(NaN);
      else {
        mean.fill(1e6);
        m2.fill(-1e36);
      }
    }
    return forged;
  }

  const wrap = (group: ProcessGroup | null): ProcessGroup | null =>
    group &&
    new Proxy(group, {
      get(target, prop) {
        if (prop === 'allGather') return (data: Float32Array, opts?: Parameters<ProcessGroup['allGather']>[1]) => target.allGather(forge(target, data, opts), opts);
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });

  return {
    ...source,
    current: () => wrap(source.current()),
    subscribe: (listener) => source.subscribe((group, complete) => listener(wrap(group), complete)),
  };
}
