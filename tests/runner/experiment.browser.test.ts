/**
 * The experiment runner end to end: real tabs, real mesh, real WebGPU. The run log's traces are
 * measured (statistics read back from the apply kernel's buffers, output means from its output): for
 * every record the output means agree with the statistics used and those are the source's, and the
 * printed check lines show those measured values.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkBnTrace } from '../../src/nn/batchnorm/check-trace.ts';
import { formatVector } from '../../src/app/format.ts';
import type { RunLog } from '../../src/train/types.ts';

const root = new URL('../../', import.meta.url).pathname;

function experiment(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'scripts/experiment.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 200_000 });
}

describe('npm run experiment', () => {
  it('runs 2 tabs × 2 workers in shuffle mode and writes a run log whose shuffles check out', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'sbn-')), 'run.json');
    const res = experiment(['--tabs', '2', '--workers-per-tab', '2', '--mode', 'shuffle', '--steps', '5', '--seed', '3', '--hidden', '32', '--queue', '64', '--knn-every', '5', '--trace-channels', '8', '--out', out]);
    expect(res.status, res.stderr).toBe(0);
    const run = JSON.parse(readFileSync(out, 'utf8')) as RunLog;
    expect(run.worldSize).toBe(4);
    expect(run.steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4]);
    for (const step of run.steps) {
      expect(Number.isFinite(step.loss)).toBe(true);
      expect([...step.sourceOf].sort()).toEqual([0, 1, 2, 3]);
      step.sourceOf.forEach((src, w) => expect(src).not.toBe(w));
      expect(step.bn!.length).toBe(2);
      for (const layer of step.bn!) {
        expect(layer.kind).toBe('shuffle');
        expect(layer.sourceOf).toEqual(step.sourceOf);
        expect(layer.meanOut[0]).toHaveLength(8);
        const check = checkBnTrace(layer);
        expect(check.problems).toEqual([]);
        expect(check.worstRelation).toBeLessThan(1e-3);
      }
    }
    // The printed after-shuffle line of the last step is the measured meanAfter of the log.
    const last = run.steps[4]!.bn![0]!;
    expect(res.stdout).toContain(`[3]mean after shuffle: ${formatVector(last.meanAfter[3]!)}`);
    expect(res.stdout).toMatch(/^trace check: 10 measured BN records on 5 traced steps, .*: ok$/m);
    expect(run.knnAcc).toBeGreaterThan(0);
    expect(res.stdout).toMatch(/^\[0\]mean before shuffle: \[/m);
    expect(res.stdout).toMatch(/^\[3\]mean after shuffle: \[/m);
    expect(res.stdout).toMatch(/^\[5\/5\] Loss \d+\.\d+$/m);
  });

  it('refuses bad arguments with a clear message and exit code 2', () => {
    for (const [args, message] of [
      [['--mode', 'shufle'], /--mode must be one of local, shuffle, sync, samples/],
      [['--tabs', '0'], /--tabs must be an integer from 1 to 16/],
      [['--tabs', '1', '--workers-per-tab', '1', '--mode', 'shuffle'], /needs at least 2 workers/],
      [['--steps'], /--steps needs a value/],
      [['--bogus', '1'], /unknown option --bogus/],
      [['--compare', 'shufle'], /--compare must be one of local, shuffle, sync, samples/],
      [['--tabs', '1', '--workers-per-tab', '1', '--mode', 'local', '--compare', 'sync'], /--compare sync needs at least 2 workers/],
    ] as const) {
      const res = experiment([...args]);
      expect(res.status).toBe(2);
      expect(res.stderr).toMatch(message);
    }
  });
});
