/**
 * The end-of-run list of retried tests (retry-reporter.ts): a test that needed its retry is named with
 * its first attempt's error, one that passed at once is not, and a run without retries prints nothing.
 */
import { describe, expect, it } from 'vitest';
import type { TestModule } from 'vitest/node';
import RetryReporter from './retry-reporter.ts';

interface FakeTest {
  fullName: string;
  retryCount: number;
  state: 'passed' | 'failed';
  firstAttemptError?: string;
}

function fakeModule(path: string, tests: FakeTest[]): TestModule {
  return {
    moduleId: `${process.cwd()}/${path}`,
    children: {
      *allTests() {
        for (const t of tests) {
          yield {
            fullName: t.fullName,
            diagnostic: () => ({ retryCount: t.retryCount }),
            result: () => ({ state: t.state }),
            meta: () => (t.firstAttemptError ? { firstAttemptError: t.firstAttemptError } : {}),
          };
        }
      },
    },
  } as unknown as TestModule;
}

function printed(modules: TestModule[]): string {
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => (chunks.push(chunk), true)) as typeof process.stdout.write;
  try {
    new RetryReporter().onTestRunEnd(modules);
  } finally {
    process.stdout.write = write;
  }
  return chunks.join('');
}

describe('RetryReporter', () => {
  it('lists each retried test with its first error, and only those', () => {
    const out = printed([
      fakeModule('tests/ui/reload.browser.test.ts', [
        { fullName: 'a tab reloaded mid-run rejoins', retryCount: 1, state: 'passed', firstAttemptError: 'TimeoutError: page.goto: Timeout 30000ms exceeded.\nCall log: …' },
        { fullName: 'the IndexedDB store', retryCount: 0, state: 'passed' },
      ]),
      fakeModule('tests/ui/restart.browser.test.ts', [{ fullName: 'after a server restart', retryCount: 1, state: 'failed', firstAttemptError: 'AssertionError: step 12 logged twice' }]),
    ]);
    expect(out.split('\n').filter(Boolean)).toEqual([
      'Retried tests (2):',
      '  tests/ui/reload.browser.test.ts > a tab reloaded mid-run rejoins: passed on retry 1',
      '    first attempt: TimeoutError: page.goto: Timeout 30000ms exceeded.',
      '  tests/ui/restart.browser.test.ts > after a server restart: failed after 1 retries',
      '    first attempt: AssertionError: step 12 logged twice',
    ]);
  });

  it('prints nothing when no test was retried', () => {
    expect(printed([fakeModule('tests/x.test.ts', [{ fullName: 'x', retryCount: 0, state: 'passed' }])])).toBe('');
  });
});
