/**
 * The signaling server restarted mid-run, real everything (the server as its own process with its data
 * directory, WebRTC mesh, WebGPU on SwiftShader, the app): two tabs train, the server process is killed
 * and started again on the same port, and a third tab opens the room link while it is down. A and B
 * keep training through the outage; C says it is retrying, gets in once the server is back, receives
 * the room's settings and run (same run id) and trains with them: identical losses on the steps they
 * share. The pages come from a Vite dev server that proxies the signaling path to the server process,
 * so only signaling goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, startDevServer, type DevServer } from '../helpers/browser.ts';
import { newAppTab } from './tabs.ts';
import { pausedTogether } from './paused.ts';

const REPO = new URL('../../', import.meta.url).pathname;
/** Far more steps than the test waits for: the run is still going when the test ends. */
const STEPS = 2000;
/** Steps A and B must make while the server is down (WebRTC needs no server once linked). */
const STEPS_DURING_OUTAGE = 2;
/** Steps C must train with the others after it joined. */
const STEPS_TOGETHER = 3;

const dataDir = mkdtempSync(path.join(tmpdir(), 'sbn-restart-data-'));
const emptyDist = mkdtempSync(path.join(tmpdir(), 'sbn-restart-dist-'));
let signalingPort = 0;
let signaling: ChildProcess | null = null;
let signalingOut = '';
let pages: DevServer;
let browser: Browser;

/** A port free right now on loopback (the server process must come back on the same one). */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Starts the production signaling server (src/server/main.ts) as a process; resolves once it listens. */
async function startSignaling(): Promise<void> {
  const args = ['--import', 'tsx', path.join(REPO, 'src/server/main.ts'), '--port', String(signalingPort), '--host', '127.0.0.1', '--dist', emptyDist, '--data-dir', dataDir, '--allowed-origins', pages.url];
  const proc = spawn(globalThis.process.execPath, args, { cwd: REPO });
  signaling = proc;
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      signalingOut += d;
      if (out.includes('Ctrl-C stops')) resolve();
    });
    proc.stderr!.on('data', (d) => (signalingOut += d));
    proc.on('exit', (code) => reject(new Error(`signaling server exited with ${code}: ${signalingOut}`)));
  });
}

async function killSignaling(): Promise<void> {
  const proc = signaling!;
  signaling = null;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGKILL'); // a crash: nothing gets saved on the way out
  await exited;
}

beforeAll(async () => {
  signalingPort = await freePort();
  pages = await startDevServer({ signalingTarget: `ws://127.0.0.1:${signalingPort}` });
  await startSignaling();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  signaling?.kill('SIGKILL');
  await pages?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(emptyDist, { recursive: true, force: true });
});

async function newTab(url: string): Promise<Page> {
  return newAppTab(browser, url);
}

async function setField(page: Page, label: string, value: string): Promise<void> {
  await page.getByLabel(label, { exact: true }).fill(value);
  await page.getByLabel(label, { exact: true }).press('Tab');
}

async function stepOf(page: Page): Promise<number> {
  return Number((await page.locator('sbn-controls .state').textContent())?.match(/step (\d+)\//)?.[1] ?? -1);
}

/**
 * The loss line of every step the tab's log still shows (it keeps its last MAX_LOG_LINES lines), by
 * step, as the run finally trained it. When a tab joins, the others rebuild the world from the steps
 * rank 0 completed: a tab whose last step's final collective finished before the membership change
 * and rank 0's did not rolls that step back (a "Resuming from step N" line, then the step again), and
 * one whose did not finish while rank 0's did adopts rank 0's state and never logs that step (a gap).
 * So only rank 0's log (`complete`) must hold every step; every tab logs a step once per try.
 */
async function lossByStep(page: Page, complete: boolean): Promise<Map<number, string>> {
  const lines = ((await page.locator('sbn-log pre').textContent()) ?? '').split('\n');
  const byStep = new Map<number, string>();
  let resumedFrom = Infinity;
  for (const line of lines) {
    const resume = /^Resuming from step (\d+)\//.exec(line);
    if (resume) {
      resumedFrom = Number(resume[1]);
      for (const step of byStep.keys()) if (step >= resumedFrom) byStep.delete(step);
      continue;
    }
    if (!/ Loss /.test(line)) continue;
    const step = Number(/^\[(\d+)\//.exec(line)?.[1]);
    expect(byStep.has(step), `step ${step} logged twice without a resume before it`).toBe(false);
    byStep.set(step, line);
  }
  const steps = [...byStep.keys()];
  // Steps in order; for rank 0 also without gaps: the run went on without repeating or skipping a step.
  expect(steps.every((step, i) => i === 0 || step > steps[i - 1]!), `steps ${steps.join(',')}`).toBe(true);
  if (complete) expect(steps).toEqual(steps.map((_, i) => steps[0]! + i));
  return byStep;
}

/** The room state the tab holds (the app's store, read from the page). */
function roomState(page: Page): Promise<{ runId: string; command: string; config: Record<string, unknown> }> {
  return page.evaluate(() => (document.querySelector('sbn-app') as unknown as { store: { state: { room: { runId: string; command: string; config: Record<string, unknown> } } } }).store.state.room);
}

it('after a server restart mid-run the room, its settings and its run come back; a tab opened during the outage joins the run', async () => {
  const started = Date.now();
  const a = await newTab(`${pages.url}/`);
  await a.getByRole('button', { name: 'Create a room' }).click();
  const linkBox = a.locator('sbn-room-link input#room-link');
  await expect.poll(() => linkBox.inputValue(), { timeout: 30_000 }).toMatch(/\?room=[A-Za-z0-9_-]{22,}$/);
  const link = await linkBox.inputValue();
  await a.locator('sbn-controls summary').click();
  await setField(a, 'Hidden widths (comma-separated)', '32');
  await setField(a, 'Queue size (keys)', '64');
  await setField(a, 'Output width', '16');
  await setField(a, 'kNN every (steps, 0 = never)', '0');
  await setField(a, 'Virtual workers per tab', '1');
  await setField(a, 'Batch per worker', '4');
  await setField(a, 'Steps', String(STEPS));

  const b = await newTab(link);
  for (const page of [a, b]) await expect.poll(() => page.locator('sbn-peers tbody tr[data-peer]').count(), { timeout: 60_000 }).toBe(2);
  await b.getByRole('button', { name: 'Start' }).click();
  for (const page of [a, b]) await expect.poll(() => stepOf(page), { timeout: 60_000, interval: 300 }).toBeGreaterThanOrEqual(2);
  const before = await roomState(a);
  expect(before.command).toBe('run');

  // The server dies. A and B train on over their data channels.
  await killSignaling();
  const stepAtKill = Math.max(await stepOf(a), await stepOf(b));
  const c = await newTab(link);
  for (const page of [a, b]) await expect.poll(() => stepOf(page), { timeout: 30_000, interval: 300 }).toBeGreaterThanOrEqual(stepAtKill + STEPS_DURING_OUTAGE);
  // The steps made without a server are the same on both tabs.
  const [aDuring, bDuring] = [await lossByStep(a, true), await lossByStep(b, false)];
  for (let step = stepAtKill + 1; step <= stepAtKill + STEPS_DURING_OUTAGE; step++) {
    expect(aDuring.get(step)).toBeDefined();
    expect(bDuring.get(step)).toBe(aDuring.get(step));
  }
  // C, opened during the outage, says it is retrying instead of giving up.
  await expect.poll(() => c.locator('sbn-errors li[data-code="ERR_JOIN_RETRYING"]').count(), { timeout: 20_000 }).toBe(1);
  expect(await c.locator('sbn-errors li[data-code="ERR_SIGNALING"]').count()).toBe(0);

  // Back on the same port, from its data directory.
  await startSignaling();
  await expect.poll(() => c.locator('sbn-peers tbody tr[data-peer]').count(), { timeout: 30_000 }).toBe(3);
  await expect.poll(() => c.locator('sbn-errors li[data-code="ERR_JOIN_RETRYING"]').count()).toBe(0);
  // C got the room's settings and its run, and trains it with A and B.
  const cState = await roomState(c);
  expect(cState.runId).toBe(before.runId);
  expect(cState.config).toEqual(before.config);
  expect(cState.config.hiddenDims).toEqual([32]);
  await expect.poll(async () => (await lossByStep(c, false)).size, { timeout: 60_000, interval: 300 }).toBeGreaterThanOrEqual(STEPS_TOGETHER);

  await a.getByRole('button', { name: 'Pause' }).click();
  await pausedTogether([a, b, c]);
  for (const page of [a, b, c]) expect((await roomState(page)).runId).toBe(before.runId);
  // The run went on through the restart: A (rank 0, never left) logged every step once, and each step
  // B logged, the room's step, has A's loss (lossByStep).
  const [aLoss, bLoss, cLoss] = [await lossByStep(a, true), await lossByStep(b, false), await lossByStep(c, false)];
  const shared = [...aLoss.keys()].filter((step) => bLoss.has(step));
  expect(Math.max(...shared)).toBe(Math.max(...aLoss.keys()));
  for (const step of shared) expect(bLoss.get(step)).toBe(aLoss.get(step));
  // C's steps are the run's last ones, with the losses A logged for them.
  expect(cLoss.size).toBeGreaterThanOrEqual(STEPS_TOGETHER);
  expect(Math.max(...cLoss.keys())).toBe(Math.max(...aLoss.keys()));
  for (const [step, line] of cLoss) expect(line).toBe(aLoss.get(step));
  const resumes = async (page: Page) => ((await page.locator('sbn-log pre').textContent()) ?? '').split('\n').filter((l) => l.startsWith('Resuming from step')).length;
  const skipped = (loss: Map<number, string>) => [...aLoss.keys()].filter((step) => step >= Math.min(...loss.keys()) && !loss.has(step)).length;
  console.log(
    `restart test: server killed after step ${stepAtKill}, C's first step ${Math.min(...cLoss.keys())}, last ${Math.max(...aLoss.keys())}; ` +
      `rollbacks and skipped steps shown: B ${await resumes(b)}, ${skipped(bLoss)}; C ${await resumes(c)}, ${skipped(cLoss)}; ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}, 180_000);
