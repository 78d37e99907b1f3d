/**
 * Compare mode as the app records it (Node, CPU backend): a Run over a real TrainingSession grows one
 * curve per model, and its JSON and CSV exports carry both models, each equal to what a single-model
 * run of the same seed records. Also the room-config codec and the quick-demo preset.
 */
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { parseRunCsv, runToCsv, stepLines } from '../../src/app/format.ts';
import { PRESETS, QUICK_DEMO_CONFIG as QUICK_DEMO } from '../../src/app/presets.ts';
import { decodeRoomState, encodeRoomState, INITIAL_ROOM_STATE } from '../../src/app/room-config.ts';
import { Run, type RunUpdate } from '../../src/app/run.ts';
import type { SessionFactory } from '../../src/app/ports.ts';
import { RoomConfig } from '../../src/signaling/protocol.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { TrainingSession } from '../../src/train/session.ts';
import type { TrainConfig } from '../../src/train/types.ts';
import { SMALL_CONFIG } from '../train/harness.ts';

const dataset = createDataset({ seed: 1, trainPerClass: 20, testPerClass: 4 });
const backend = createCpuBackend();
const createSession: SessionFactory = ({ config, trace }) => new TrainingSession({ backend, config, trace, dataset });

/** Runs `config` to the end through the app's Run; resolves with the Run and its last update. */
function runToEnd(config: TrainConfig): Promise<{ run: Run; last: RunUpdate }> {
  return new Promise((resolve, reject) => {
    let last: RunUpdate | null = null;
    const run = new Run({
      id: `run-${config.mode}-${config.compareWith}`,
      config,
      backend,
      backendLabel: 'cpu',
      groups: null,
      createSession,
      callbacks: {
        onUpdate: (u) => (last = u),
        onState: (state) => {
          if (state === 'done') resolve({ run, last: last! });
          if (state === 'error') reject(new Error('session error'));
        },
        onError: reject,
      },
    });
    run.start();
  });
}

describe('compare mode in the app', () => {
  const config: TrainConfig = { ...SMALL_CONFIG, steps: 4, knnEvery: 2, mode: 'shuffle', compareWith: 'local' };

  it('grows one curve per model; each equals the single-model run’s; the exports keep both models', async () => {
    const { run, last } = await runToEnd(config);
    const shuffle = await runToEnd({ ...config, compareWith: null });
    const local = await runToEnd({ ...config, mode: 'local', compareWith: null });

    expect(run.compareSeries).not.toBeNull();
    expect(run.series.runId).toBe(run.compareSeries!.runId);
    expect(run.series.label).toBe(shuffle.run.series.label);
    expect(run.compareSeries!.label).toBe(local.run.series.label);
    for (const [mine, ref] of [
      [run.series, shuffle.run.series],
      [run.compareSeries!, local.run.series],
    ] as const) {
      expect(mine.steps).toEqual([0, 1, 2, 3]);
      expect(mine.loss).toEqual(ref.loss);
      expect(mine.pretextAcc).toEqual(ref.pretextAcc);
      expect(mine.knnSteps).toEqual([1, 3]);
      expect(mine.knnAcc).toEqual(ref.knnAcc);
    }
    // The shuffle view gets both models' statistics of the same step.
    expect(last.shuffle!.mode).toBe('shuffle');
    expect(last.shuffle!.compare!.mode).toBe('local');
    expect(last.shuffle!.compare!.step).toBe(last.shuffle!.step);
    expect(last.shuffle!.compare!.sourceOf).toEqual([0, 1, 2, 3]);

    // JSON export: both models' scalars, no BN traces; final kNN of both.
    const json = JSON.parse(JSON.stringify(run.log));
    expect(json.config.compareWith).toBe('local');
    expect(json.steps.map((s: { compare: { loss: number } }) => s.compare.loss)).toEqual(local.run.log.steps.map((s) => s.loss));
    expect(json.steps.every((s: { bn?: unknown; compare: { bn?: unknown } }) => s.bn === undefined && s.compare.bn === undefined)).toBe(true);
    expect(json.knnAcc).toBe(shuffle.run.log.knnAcc);
    expect(json.compareKnnAcc).toBe(local.run.log.knnAcc);

    // CSV export reads back with the second model's columns.
    const rows = parseRunCsv(runToCsv(run.log));
    expect(rows.map((r) => r.loss)).toEqual(shuffle.run.log.steps.map((s) => s.loss));
    expect(rows.map((r) => r.compare!.loss)).toEqual(local.run.log.steps.map((s) => s.loss));
    expect(rows.map((r) => r.compare!.mode)).toEqual(['local', 'local', 'local', 'local']);
    expect(rows[3]!.compare!.knnAcc).toBe(local.run.log.steps[3]!.knnAcc);

    // The log names the second model's loss line.
    expect(stepLines(run.log.steps[0]!, 4).at(-1)).toMatch(/^\[1\/4\] Loss \d+\.\d{4} {2}\(compare: local\)$/);
    for (const r of [run, shuffle.run, local.run]) r.destroy();
  });

  it('the room config carries compareWith through the server schema; a bad value is rejected by name', () => {
    const state = { ...INITIAL_ROOM_STATE, config: { ...INITIAL_ROOM_STATE.config, compareWith: 'sync' as const } };
    const wire = RoomConfig.parse(JSON.parse(JSON.stringify(encodeRoomState(state))));
    expect(decodeRoomState(wire).state.config.compareWith).toBe('sync');
    const off = RoomConfig.parse(JSON.parse(JSON.stringify(encodeRoomState(INITIAL_ROOM_STATE))));
    expect(decodeRoomState(off, state).state.config.compareWith).toBeNull();
    const bad = decodeRoomState({ ...wire, compareWith: 'bogus' }, state);
    expect(bad.rejected).toEqual(['compareWith']);
    expect(bad.state.config.compareWith).toBe('sync');
  });

  it('the quick-demo preset is a complete config comparing shuffle with local, and decodes unchanged', () => {
    expect(PRESETS.quick).toBe(QUICK_DEMO);
    expect([QUICK_DEMO.mode, QUICK_DEMO.compareWith]).toEqual(['shuffle', 'local']);
    const wire = RoomConfig.parse(JSON.parse(JSON.stringify(encodeRoomState({ ...INITIAL_ROOM_STATE, config: { ...QUICK_DEMO } }))));
    const { state, rejected } = decodeRoomState(wire);
    expect(rejected).toEqual([]);
    expect(state.config).toEqual(QUICK_DEMO);
  });
});
