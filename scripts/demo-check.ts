/**
 * Re-measures the quick demo (QUICK_DEMO_CONFIG in src/app/presets.ts) on the CPU backend in this
 * process and prints its leak gaps and wall time:
 *   npm run demo:check [-- --workers 8]
 * The preset trains `shuffle` and `local` side by side (compare mode); the leak counts as unmistakable
 * when local's pretext accuracy is ≥ 40 points above shuffle's and shuffle's kNN accuracy ≥ 2 points
 * above local's at the last step. Exit code 0 when it is, 1 when not. A benchmark-style check: it
 * prints figures for the README, it is not part of the test suite.
 */
import { parseArgs } from 'node:util';
import { QUICK_DEMO_CONFIG as QUICK_DEMO } from '../src/app/presets.ts';
import { runOnCpu } from './lib/cpu-run.ts';
import { gapsLine, leakGaps } from './lib/leak-gaps.ts';

/** The world the preset was measured with: 2 tabs × QUICK_DEMO.workersPerTab. */
const MEASURED_WORKERS = 2 * QUICK_DEMO.workersPerTab;

const USAGE = `usage: npm run demo:check -- [options]
  --workers W       virtual workers in this process (the world)   [${MEASURED_WORKERS}]
  --print-every N   print every N steps                            [50]
  --help            this text
Trains the quick-demo preset (${QUICK_DEMO.mode} vs ${QUICK_DEMO.compareWith}, ${QUICK_DEMO.steps} steps, seed ${QUICK_DEMO.seed}) on the CPU backend and prints the leak gaps.`;

let values: { workers?: string; 'print-every'?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      workers: { type: 'string', default: String(MEASURED_WORKERS) },
      'print-every': { type: 'string', default: '50' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  console.error(`error: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const workers = Number(values.workers);
const printEvery = Number(values['print-every']);
if (!Number.isInteger(workers) || workers < 2 || !Number.isInteger(printEvery) || printEvery < 1) {
  console.error(`error: --workers must be an integer ≥ 2 and --print-every ≥ 1\n\n${USAGE}`);
  process.exit(2);
}

const config = { ...QUICK_DEMO, hiddenDims: [...QUICK_DEMO.hiddenDims], workersPerTab: workers };
console.log(`quick demo: ${config.mode} vs ${config.compareWith}, ${workers} workers × ${config.batchPerWorker}, ${config.steps} steps, seed ${config.seed}, kNN every ${config.knnEvery}, CPU backend, one process`);
const { log, wallSeconds } = await runOnCpu(config, { workers, features: 'hidden', printEvery });
const gaps = leakGaps(config, log.steps)!;
console.log(gapsLine(gaps));
console.log(`wall time ${wallSeconds.toFixed(0)} s for ${config.steps} steps of both models, kNN evaluations included (${((1000 * wallSeconds) / config.steps).toFixed(0)} ms per step)`);
process.exit(gaps.unmistakable ? 0 : 1);
