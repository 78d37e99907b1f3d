/**
 * Every faulty-peer case of issue 9 over real tabs (headless Chromium, WebRTC, the real backend), one
 * room of three each: Inf, finite-but-huge and wrong-length gradients, NaN and negative-variance
 * BatchNorm sync rows, 16,000,000 workers claimed, chunks declaring 512 MiB, 10,000 future-step
 * messages. Prints, per case, the reason the honest tabs excluded the faulty one with, their heap
 * growth, the time from the fault to training resuming and whether their models are finite, then a
 * table of all cases; exits non-zero when a property fails (the faulty tab not excluded by name, a
 * step lost, diverging losses, a non-finite model, heap growth over HEAP_GROWTH_BOUND).
 *
 *   bash scripts/in-netns.sh npx tsx scripts/fault-room.ts [case …]
 */
import { launchBrowser, startDevServer } from './lib/browser.ts';
import { exitOnHelp, usageError } from './lib/cli.ts';
import { FAULT_CONFIG, runFaultyPeerCase, type FaultCase, type FaultCaseResult } from './lib/fault-room.ts';

/** Faults while training strike at this step: after the honest tabs' heap baseline (taken after 2 steps). */
const FAULT_STEP = 5;
const CHANNELS = FAULT_CONFIG.hiddenDims[0]!;

const CASES: Record<string, FaultCase> = {
  'inf-gradient': { faults: { gradient: { step: FAULT_STEP, kind: 'inf' } } },
  'huge-gradient': { faults: { gradient: { step: FAULT_STEP, kind: 'huge' } } },
  'wrong-length-gradient': { faults: { gradient: { step: FAULT_STEP, kind: 'wrong-length' } } },
  'nan-sync-rows': { mode: 'sync', gatherFault: { syncRows: { step: FAULT_STEP, channels: CHANNELS, kind: 'nan' } } },
  'negative-variance-sync-rows': { mode: 'sync', gatherFault: { syncRows: { step: FAULT_STEP, channels: CHANNELS, kind: 'negative-variance' } } },
  '16m-workers': { gatherFault: { workerCount: { step: FAULT_STEP, claim: 16_000_000 } } },
  'declare-512mib': { attack: 'declare-512mib' },
  'future-steps': { attack: 'future-steps' },
};

const MiB = 1024 * 1024;
/**
 * Heap growth allowed per honest tab (after GC, 3 steps after resuming): the per-peer caps allow up
 * to 128 MiB declared, so anything near that means a cap was not applied; a few MiB is the noise of
 * a tab that keeps training (as in tests/runner/faults.browser.test.ts).
 */
const HEAP_GROWTH_BOUND = 16 * MiB;

function check(result: FaultCaseResult): string[] {
  const problems: string[] = [];
  result.reasons.forEach((r, i) => {
    if (!r) problems.push(`honest tab ${i} did not exclude the faulty tab with a named reason`);
  });
  for (const steps of result.honestSteps) if (steps.some((s, i) => s !== i)) problems.push(`a step was lost or repeated: ${steps.join(',')}`);
  const [l0, l1] = result.honestLosses;
  const common = Math.min(l0!.length, l1!.length);
  if (l0!.slice(0, common).some((v, i) => v !== l1![i] || !Number.isFinite(v))) problems.push('honest tabs logged different or non-finite losses');
  if (result.modelFinite.slice(0, 2).some((f) => f !== true)) problems.push(`an honest model holds NaN/Inf or was not read: ${result.modelFinite.join(',')}`);
  for (const growth of result.heapGrowth) if (growth >= HEAP_GROWTH_BOUND) problems.push(`heap grew ${(growth / MiB).toFixed(1)} MiB (bound ${HEAP_GROWTH_BOUND / MiB} MiB)`);
  if (!result.baselineBeforeFault) problems.push('the heap baseline was taken after the fault');
  return problems;
}

const USAGE = `usage: bash scripts/in-netns.sh npx tsx scripts/fault-room.ts [case …]

Plays each faulty peer over real tabs (one room of three per case) and prints the reason the others
excluded it with, their heap growth (bound ${HEAP_GROWTH_BOUND / MiB} MiB), the time from the fault to
training resuming and whether their models are finite, then a table of all cases.
Cases (default: all): ${Object.keys(CASES).join(', ')}`;
exitOnHelp(USAGE);
const wanted = process.argv.slice(2);
for (const name of wanted) if (!CASES[name]) usageError(`unknown case '${name}'`, USAGE);
const names = wanted.length ? wanted : Object.keys(CASES);
const server = await startDevServer();
const browser = await launchBrowser();
let failed = 0;
const table: string[] = [];
try {
  for (const name of names) {
    let result: FaultCaseResult;
    try {
      result = await runFaultyPeerCase(server, browser, name, CASES[name]!);
    } catch (err) {
      failed++;
      console.log(`\n${name}: FAIL\n  ${(err as Error).message}`);
      table.push(`| ${name} | (did not complete) | | | | FAIL |`);
      continue;
    }
    const problems = check(result);
    failed += problems.length ? 1 : 0;
    console.log(`\n${name}: ${problems.length ? 'FAIL' : 'ok'}`);
    result.reasons.forEach((r, i) => console.log(`  tab ${i} excluded ${result.offender}: ${r ? `${r.code}: ${r.message}` : '(not excluded)'}`));
    console.log(`  heap growth (after GC, 3 steps after resuming; bound ${HEAP_GROWTH_BOUND / MiB} MiB): ${result.heapGrowth.map((b) => `${(b / MiB).toFixed(2)} MiB`).join(', ')}`);
    console.log(`  fault to first resumed step: ${result.resumeMs.map((ms) => `${Math.round(ms)} ms`).join(', ')}`);
    console.log(`  models finite (honest, honest, faulty): ${result.modelFinite.join(', ')}`);
    for (const p of problems) console.log(`  problem: ${p}`);
    const codes = [...new Set(result.reasons.map((r) => r?.code ?? 'not excluded'))].join(' / ');
    table.push(
      `| ${name} | ${codes} | ${result.heapGrowth.map((b) => (b / MiB).toFixed(2)).join(', ')} | ${result.resumeMs.map((ms) => Math.round(ms)).join(', ')} | ${result.modelFinite.slice(0, 2).every((f) => f === true) ? 'yes' : 'NO'} | ${problems.length ? 'FAIL' : 'ok'} |`,
    );
  }
  console.log(`\n| case | excluded with | heap growth, honest tabs (MiB, bound ${HEAP_GROWTH_BOUND / MiB}) | fault → resumed (ms) | honest models finite | |`);
  console.log('|---|---|---|---|---|---|');
  for (const row of table) console.log(row);
} finally {
  await browser.close().catch(() => {});
  await server.close();
}
process.exit(failed ? 1 : 0);
