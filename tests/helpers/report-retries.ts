/**
 * Setup file of the browser tests (vite.config.ts): a test attempt that fails and will be retried prints
 * its error at once, naming the test and the attempt, and keeps the first message in the test's meta
 * for the end-of-run list (retry-reporter.ts). Vitest shows only the last attempt's error, so a test
 * that passes on its retry would otherwise hide why it failed the first time.
 */
import { beforeEach } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** The first failed attempt's error, when the test was retried. */
    firstAttemptError?: string;
  }
}

/** How many retries `retry` (a test's option, number or object form) allows. */
function allowedRetries(retry: unknown): number {
  if (typeof retry === 'number') return retry;
  return (retry as { count?: number } | undefined)?.count ?? 0;
}

beforeEach(({ task, onTestFailed }) => {
  onTestFailed(() => {
    const attempt = task.result?.retryCount ?? 0;
    if (attempt >= allowedRetries(task.retry)) return; // the last attempt: vitest reports it itself
    const errors = task.result?.errors ?? [];
    const text = errors.map((e) => (e.stack ?? `${e.name ?? 'Error'}: ${e.message}`).split('\n').slice(0, 8).join('\n')).join('\n---\n');
    task.meta.firstAttemptError ??= errors[0] ? `${errors[0].name ?? 'Error'}: ${errors[0].message}` : 'failed without an error';
    console.error(`[retry] attempt ${attempt + 1} of "${task.fullName}" failed; running it again. Its error:\n${text}`);
  });
});
