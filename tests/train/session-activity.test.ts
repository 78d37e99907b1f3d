/**
 * What a session says it is doing is what it is doing: `waiting` while the other tab has not joined
 * the group, `exchanging` while its gradient all-reduce is held up by the network, `done` at the end.
 * Two in-memory tabs (CPU backends, memory process groups); one tab's all-reduce is held at a gate.
 */
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { createMemoryGroups } from '../../src/mesh/memory.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { TrainingSession } from '../../src/train/session.ts';
import { SMALL_CONFIG } from './harness.ts';

const config = { ...SMALL_CONFIG, mode: 'shuffle' as const, workersPerTab: 2, steps: 2 };

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * `group` whose allReduce waits for `gate` once `armed()` says so (after the world is built); every
 * collective called after a held one waits too, so this tab still calls them in the room's order.
 */
function gated(group: ProcessGroup, armed: () => boolean, gate: Promise<void>, reached: () => void): ProcessGroup {
  const collectives = new Set<PropertyKey>(['allReduce', 'allGather', 'broadcast', 'exchange', 'barrier']);
  let holding = false;
  return new Proxy(group, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function') return value;
      const bound = (value as (...a: unknown[]) => unknown).bind(target);
      if (!collectives.has(key)) return bound;
      return async (...args: unknown[]) => {
        if (key === 'allReduce' && armed()) {
          reached();
          holding = true;
        }
        if (holding) await gate;
        return bound(...args);
      };
    },
  });
}

describe('TrainingSession.activity', () => {
  it('reports waiting, exchanging and done as they happen', async () => {
    const dataset = createDataset({ seed: 1, trainPerClass: 20, testPerClass: 1 });
    const [g0, g1] = createMemoryGroups(2);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let built = false;
    let held = false;
    const s0 = new TrainingSession({ backend: createCpuBackend(), config, group: g0!, dataset });
    const s1 = new TrainingSession({ backend: createCpuBackend(), config, group: gated(g1!, () => built, gate, () => (held = true)), dataset });
    s1.addEventListener('world', () => (built = true));
    expect(s0.activity).toBe('idle');

    const run0 = s0.start();
    // Tab 1 has not started: tab 0 cannot form the world.
    await new Promise((r) => setTimeout(r, 200));
    expect(s0.activity).toBe('waiting');

    const run1 = s1.start();
    await until(() => held, 'tab 1 to reach its all-reduce');
    // The first gradient bucket is held while backward computes on; then the step waits for it.
    await until(() => s1.activity === 'exchanging', 'tab 1 to wait for its held gradient buckets');
    // Tab 0 has sent its part and waits for tab 1's in the same collective.
    await until(() => s0.activity === 'exchanging', 'tab 0 to wait in the all-reduce');
    expect(s0.logs).toHaveLength(0);

    open();
    await Promise.all([run0, run1]);
    expect([s0.activity, s1.activity]).toEqual(['done', 'done']);
    expect(s0.logs.map((l) => l.loss)).toEqual(s1.logs.map((l) => l.loss));
    expect(s0.logs[0]!.tabComputeMs).toEqual(s1.logs[0]!.tabComputeMs);
    s0.destroy();
    s1.destroy();
  });
});
