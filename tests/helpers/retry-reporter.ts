/**
 * Lists, after the summary, every test that passed only on a retry, with its first attempt's error
 * (kept by report-retries.ts), so a run with retried tests never reads as a clean pass.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class RetryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const retries = test.diagnostic()?.retryCount ?? 0;
        if (retries === 0) continue;
        const state = test.result().state === 'passed' ? `passed on retry ${retries}` : `failed after ${retries} retries`;
        lines.push(`  ${module.moduleId.replace(`${process.cwd()}/`, '')} > ${test.fullName}: ${state}`);
        const first = test.meta().firstAttemptError;
        if (first) lines.push(`    first attempt: ${first.split('\n')[0]}`);
      }
    }
    if (lines.length === 0) return;
    process.stdout.write(`\nRetried tests (${lines.filter((l) => !l.startsWith('    ')).length}):\n${lines.join('\n')}\n`);
  }
}
