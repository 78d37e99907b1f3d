/** Browser test helpers: the shared plumbing lives in scripts/lib/browser.ts (also used by benchmarks and the runner). */
export * from '../../scripts/lib/browser.ts';
