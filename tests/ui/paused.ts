/**
 * Pausing a room as the tests see it. A page shows "Paused at step N/…" as soon as its person clicks
 * (or the room's pause arrives), but with compute in a worker the event of the step in flight can reach
 * the page just after, and the label moves on to it. Every tab stops after the same step, so the labels
 * of all tabs agree once their last step has arrived; tabs that stopped at different steps never agree.
 */
import { expect } from 'vitest';
import type { Page } from 'playwright-core';

const PAUSED = /^Paused at step \d+\//;
/** A late render of the last step's event lands well within this. */
const SETTLE_MS = 500;

const label = (page: Page) => page.locator('sbn-controls .state').textContent();

/** Waits until every page shows the same paused label, and returns it. */
export async function pausedTogether(pages: readonly Page[], timeoutMs = 60_000): Promise<string> {
  const agree = async () => {
    const texts = await Promise.all(pages.map(label));
    return texts.every((t) => PAUSED.test(t ?? '')) && new Set(texts).size === 1;
  };
  await expect.poll(agree, { timeout: timeoutMs, interval: 200 }).toBe(true);
  await pages[0]!.waitForTimeout(SETTLE_MS);
  const texts = await Promise.all(pages.map(label));
  expect(new Set(texts).size, `paused labels: ${texts.join(' | ')}`).toBe(1);
  return texts[0]!;
}
