/**
 * Every faulty-peer case over real tabs (headless Chromium, WebRTC, the real backend), one room each:
 * Inf, finite-but-huge and wrong-length gradients, chunks declaring 512 MiB, 10,000 future-step
 * messages. Prints, per case, the reason the honest tabs excluded the faulty one with, their heap
 * growth and the time from the fault to training resuming; exits non-zero when a property fails
 * (the faulty tab not excluded by name, a step lost, diverging losses, a non-finite model).
 *
 *   bash scripts/in-netns.sh npx tsx scripts/fault-room.ts [case …]
 */
import { launchBrowser, startDevServer } from './lib/browser.ts';
import { exitOnHelp, usageError } from './lib/cli.ts';
import { runFaultyPeerCase, type FaultCaseResult } from './lib/fault-room.ts';
import type { FaultSpec } from '../tests/runner/faulty-tab.page.ts';

const CASES: Record<string, { faults?: FaultSpec; attack?: 'declare-512mib' | 'future-steps' }> = {
  'inf-gradient': { faults: { gradient: { step: 3, kind: 'inf' } } },
  'huge-gradient': { faults: { gradient: { step: 3, kind: 'huge' } } },
  'wrong-length-gradient': { faults: { gradient: { step: 3, kind: 'wrong-length' } } },
  'declare-512mib': { attack: 'declare-512mib' },
  'future-steps': { attack: 'future-steps' },
};

const MiB = 1024 * 1024;

function check(result: FaultCaseResult): string[] {
  const problems: string[] = [];
  result.reasons.forEach((r, i) => {
    if (!r) problems.push(`honest tab ${i} did not exclude the faulty tab with a named reason`);
  });
  for (const steps of result.honestSteps) if (steps.some((s, i) => s !== i)) problems.push(`a step was lost or repeated: ${steps.join(',')}`);
  const [l0, l1] = result.honestLosses;
  const common = Math.min(l0!.length, l1!.length);
  if (l0!.slice(0, common).some((v, i) => v !== l1![i] || !Number.isFinite(v))) problems.push('honest tabs logged different or non-finite losses');
  if (result.modelFinite.some((f) => f === false)) problems.push(`a model holds NaN/Inf: ${result.modelFinite.join(',')}`);
  return problems;
}

const USAGE = `usage: bash scripts/in-netns.sh npx tsx scripts/fault-room.ts [case …]

Plays each faulty peer over real tabs (one room of three per case) and prints the reason the others
excluded it with, their heap growth and the time from the fault to training resuming.
Cases (default: all): ${Object.keys(CASES).join(', ')}`;
exitOnHelp(USAGE);
const wanted = process.argv.slice(2);
for (const name of wanted) if (!CASES[name]) usageError(`unknown case '${name}'`, USAGE);
const names = wanted.length ? wanted : Object.keys(CASES);
const server = await startDevServer();
const browser = await launchBrowser();
let failed = 0;
try {
  for (const name of names) {
    const result = await runFaultyPeerCase(server, browser, name, CASES[name]!);
    const problems = check(result);
    failed += problems.length ? 1 : 0;
    console.log(`\n${name}: ${problems.length ? 'FAIL' : 'ok'}`);
    result.reasons.forEach((r, i) => console.log(`  tab ${i} excluded ${result.offender}: ${r ? `${r.code}: ${r.message}` : '(not excluded)'}`));
    console.log(`  heap growth (after GC, 3 steps after resuming): ${result.heapGrowth.map((b) => `${(b / MiB).toFixed(2)} MiB`).join(', ')}`);
    console.log(`  fault to first resumed step: ${result.resumeMs.map((ms) => `${Math.round(ms)} ms`).join(', ')}`);
    console.log(`  models finite (honest, honest, faulty): ${result.modelFinite.join(', ')}`);
    for (const p of problems) console.log(`  problem: ${p}`);
  }
} finally {
  await browser.close().catch(() => {});
  await server.close();
}
process.exit(failed ? 1 : 0);
