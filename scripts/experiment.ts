/**
 * Headless experiment runner: starts the app server (with signaling), opens `--tabs` tabs in headless
 * Chromium that join one room over real WebRTC, trains on the real backend (WebGPU, SwiftShader here)
 * and writes the JSON run log. Prints the seed project's check lines:
 *   [r]mean before shuffle: [...]   [r]mean after shuffle: [...]   [step/steps] Loss x
 * where "after" is what each worker's normalisation consumed, read back (see src/nn/batchnorm/trace.ts).
 * Every traced record of the log is then verified with checkBnTrace (the measured output means agree
 * with the statistics used, and those are the ones the mode promises); a failure exits with code 1.
 * As root on Linux it re-runs itself inside a private network namespace (no traffic leaves the machine);
 * elsewhere it runs on the host network with a notice.
 *
 *   npm run experiment -- --tabs 2 --workers-per-tab 2 --mode shuffle --steps 300 --seed 1 --out run.json
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseExperimentArgs, UsageError, USAGE, type ExperimentArgs } from './lib/args.ts';
import { runHeadless } from './lib/headless-run.ts';
import { gapsLine, leakGaps } from './lib/leak-gaps.ts';
import { stepLines } from '../src/app/format.ts';
import { checkBnTrace } from '../src/nn/batchnorm/check-trace.ts';
import type { RunLog, StepLog } from '../src/train/types.ts';

function reexecInNetns(): never {
  const script = fileURLToPath(new URL('./in-netns.sh', import.meta.url));
  const res = spawnSync('bash', [script, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(res.status ?? 1);
}

/** Checks every traced record of the run; returns one summary line and whether all held. */
function verifyTraces(steps: readonly StepLog[]): { ok: boolean; lines: string[] } {
  let records = 0;
  let worstRelation = 0;
  let worstRouting = 0;
  const problems: string[] = [];
  for (const step of steps) {
    for (const record of step.bn ?? []) {
      const check = checkBnTrace(record);
      records++;
      worstRelation = Math.max(worstRelation, check.worstRelation);
      worstRouting = Math.max(worstRouting, check.worstRouting);
      for (const p of check.problems) if (problems.length < 10) problems.push(`step ${step.step}, ${p}`);
    }
  }
  const ok = problems.length === 0;
  const summary = `trace check: ${records} measured BN records on ${steps.filter((s) => s.bn).length} traced steps, worst relation error ${worstRelation.toExponential(2)}, worst routing error ${worstRouting.toExponential(2)}: ${ok ? 'ok' : 'FAILED'}`;
  return { ok, lines: [summary, ...problems.map((p) => `  ${p}`)] };
}

async function main(args: ExperimentArgs): Promise<void> {
  const { config } = args;
  const world = args.tabs * config.workersPerTab;
  const compare = config.compareWith ? ` compared with ${config.compareWith}` : '';
  console.log(`experiment: ${args.tabs} tab(s) × ${config.workersPerTab} worker(s) = ${world} workers, mode ${config.mode} (${config.permutation})${compare}, ${config.steps} steps, seed ${config.seed}`);
  const startedAt = new Date().toISOString();
  const result = await runHeadless({
    tabs: args.tabs,
    config,
    backend: args.backend,
    traceEvery: args.traceEvery,
    traceChannels: args.traceChannels,
    onStep: (log) => {
      if (log.step % args.printEvery === 0 || log.step + 1 === config.steps) {
        for (const line of stepLines(log, config.steps)) console.log(line);
      }
      if (log.knnAcc !== undefined) {
        console.log(`[${log.step + 1}/${config.steps}] pretext accuracy ${(100 * log.pretextAcc).toFixed(2)}%, kNN accuracy ${(100 * log.knnAcc).toFixed(2)}%`);
      }
      if (log.compare?.knnAcc !== undefined) {
        console.log(`[${log.step + 1}/${config.steps}] ${log.compare.mode}: pretext accuracy ${(100 * log.compare.pretextAcc).toFixed(2)}%, kNN accuracy ${(100 * log.compare.knnAcc).toFixed(2)}%`);
      }
    },
    onNotice: (line) => console.error(line),
  });
  const run: RunLog = { version: 1, config, worldSize: world, tabs: args.tabs, backend: result.backend, startedAt, steps: result.steps };
  const lastKnn = [...result.steps].reverse().find((s) => s.knnAcc !== undefined)?.knnAcc;
  if (lastKnn !== undefined) run.knnAcc = lastKnn;
  const lastCompareKnn = [...result.steps].reverse().find((s) => s.compare?.knnAcc !== undefined)?.compare?.knnAcc;
  if (lastCompareKnn !== undefined) run.compareKnnAcc = lastCompareKnn;
  const last = result.steps[result.steps.length - 1];
  if (last) console.log(`done in ${((Date.now() - Date.parse(startedAt)) / 1000).toFixed(0)} s: loss ${last.loss.toFixed(4)}, pretext accuracy ${(100 * last.pretextAcc).toFixed(1)}%${lastKnn !== undefined ? `, kNN ${(100 * lastKnn).toFixed(1)}%` : ''}; backend ${result.backend}`);
  if (last?.compare) {
    const c = last.compare;
    console.log(`      ${c.mode}: loss ${c.loss.toFixed(4)}, pretext accuracy ${(100 * c.pretextAcc).toFixed(1)}%${lastCompareKnn !== undefined ? `, kNN ${(100 * lastCompareKnn).toFixed(1)}%` : ''}`);
  }
  const gaps = leakGaps(config, result.steps);
  if (gaps) console.log(gapsLine(gaps));
  if (args.out) {
    writeFileSync(args.out, JSON.stringify(run));
    console.log(`run log written to ${args.out}`);
  }
  const verified = verifyTraces(result.steps);
  for (const line of verified.lines) (verified.ok ? console.log : console.error)(line);
  if (!verified.ok) throw new Error('the run log\'s measured BatchNorm traces do not check out (see above)');
}

let args: ExperimentArgs;
try {
  args = parseExperimentArgs(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`error: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  throw err;
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args.netns && process.env.SHUFFLEBN_NETNS !== '1' && process.getuid?.() === 0) reexecInNetns();
if (process.env.SHUFFLEBN_NETNS !== '1') console.error('notice: running on the host network (no private network namespace)');
main(args).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`experiment failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
