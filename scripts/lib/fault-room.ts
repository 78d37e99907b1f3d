/**
 * Fault scenarios over real tabs (headless Chromium, WebRTC, the real backend): a room of tabs that
 * load tests/runner/faulty-tab.page.ts, one of which may be slow, stall once, send corrupt gradients
 * or forge frames. Used by the fault tests (tests/runner/faults.browser.test.ts) and by
 * scripts/fault-room.ts, which runs every case and prints heap growth and time to resume.
 * Times are taken on the Node side when a report arrives (each page has its own clock).
 */
import type { Browser, CDPSession, Page } from 'playwright-core';
import { harnessUrl, openPage, pageModuleCaller, type DevServer } from './browser.ts';
import type { FaultSpec, TabRunOptions } from '../../tests/runner/faulty-tab.page.ts';
import type { RoomPace, WorldInfo } from '../../src/train/session.ts';
import type { BnMode, StepLog, TrainConfig } from '../../src/train/types.ts';
import type { GatherFault } from '../../tests/helpers/hostile-gather.ts';

export interface FaultTabStep extends StepLog {
  rank: number;
  epoch: number;
  /** Node's clock (ms) when the report arrived. */
  receivedAt: number;
}

export interface FaultTabError {
  code: string;
  message: string;
  peerId: string | null;
  receivedAt: number;
}

type Module = typeof import('../../tests/runner/faulty-tab.page.ts');

export class FaultTab {
  readonly steps: FaultTabStep[] = [];
  readonly worlds: Array<WorldInfo & { epoch: number; receivedAt: number }> = [];
  readonly errors: FaultTabError[] = [];
  readonly paces: RoomPace[] = [];
  selfId = '';
  private cdp: CDPSession | null = null;
  readonly call: ReturnType<typeof pageModuleCaller<Module>>;

  constructor(readonly page: Page) {
    this.call = pageModuleCaller<Module>(() => page, '/tests/runner/faulty-tab.page.ts');
  }

  run(opts: TabRunOptions): Promise<{ steps: number; state: string; backend: string; modelFinite: boolean | null }> {
    return this.call('run', opts);
  }

  /** Kept steps in step order (a step re-run after a rebuild replaces the earlier try). */
  finalSteps(): FaultTabStep[] {
    const byStep = new Map<number, FaultTabStep>();
    for (const s of this.steps) byStep.set(s.step, s);
    return [...byStep.values()].sort((a, b) => a.step - b.step);
  }

  /** JS heap in use after a full garbage collection, bytes (typed-array stores included where reported). */
  async heapBytes(): Promise<number> {
    this.cdp ??= await this.page.context().newCDPSession(this.page);
    await this.cdp.send('HeapProfiler.collectGarbage');
    const usage = (await this.cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number };
    return usage.usedSize + (usage.backingStorageSize ?? 0);
  }
}

/** Opens `n` tabs that join one room; `collectiveTimeoutMs` is the base deadline of every collective. */
export async function openFaultRoom(server: DevServer, browser: Browser, n: number, collectiveTimeoutMs?: number): Promise<FaultTab[]> {
  const tabs: FaultTab[] = [];
  let roomId = '';
  for (let i = 0; i < n; i++) {
    const context = await browser.newContext();
    const page = await openPage(context, harnessUrl(server));
    const tab = new FaultTab(page);
    await page.exposeFunction('__sbnReport', (kind: string, payload: Record<string, unknown>) => {
      const receivedAt = Date.now();
      if (kind === 'step') tab.steps.push({ ...(payload as unknown as FaultTabStep), receivedAt });
      else if (kind === 'world') tab.worlds.push({ ...(payload as unknown as WorldInfo & { epoch: number }), receivedAt });
      else if (kind === 'error') tab.errors.push({ ...(payload as unknown as FaultTabError), receivedAt });
      else if (kind === 'pace') tab.paces.push(payload as unknown as RoomPace);
    });
    const joined = await tab.call('joinRoom', roomId ? { roomId } : { create: true }, collectiveTimeoutMs);
    roomId = joined.roomId;
    tab.selfId = joined.selfId;
    tabs.push(tab);
  }
  return tabs;
}

export function waitFor(condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`condition not met in ${timeoutMs} ms`));
      setTimeout(check, 50);
    };
    check();
  });
}

/** A small encoder so a step takes little time on a software GPU; the protocol is the same at any size. */
export const FAULT_CONFIG: TrainConfig = {
  mode: 'shuffle',
  compareWith: null,
  gradientWire: 'f32',
  permutation: 'random',
  seed: 1,
  steps: 12,
  batchPerWorker: 4,
  workersPerTab: 2,
  queueSize: 48,
  temperature: 0.1,
  lr: 0.06,
  momentum: 0.9,
  weightDecay: 1e-4,
  keyMomentum: 0.99,
  knnEvery: 0,
  inputDim: 256,
  hiddenDims: [32],
  outputDim: 16,
};

/** How the third tab of a faulty-peer case misbehaves. */
export interface FaultCase {
  /** While training: slow, stalling or corrupt gradients. */
  faults?: FaultSpec;
  /** While training: forged BatchNorm sync rows or worker count. */
  gatherFault?: GatherFault;
  /** Once the others have trained 2 steps: forged frames. */
  attack?: 'declare-512mib' | 'future-steps';
  /** BatchNorm mode of the whole room (default FAULT_CONFIG's shuffle; sync rows need 'sync'). */
  mode?: BnMode;
}

export interface FaultCaseResult {
  name: string;
  /** The faulty tab's id, and the code and message the others excluded it with. */
  offender: string;
  reasons: Array<{ code: string; message: string } | null>;
  /** Heap growth of each honest tab from before the fault to 3 steps after training resumed, bytes. */
  heapGrowth: number[];
  /** Whether both honest tabs' heap baselines were taken before the first sign of the fault. */
  baselineBeforeFault: boolean;
  /** ms from the fault (first report of it at an honest tab) to that tab's first step of the rebuilt world. */
  resumeMs: number[];
  honestSteps: number[][];
  honestLosses: number[][];
  modelFinite: Array<boolean | null>;
}

/**
 * Three tabs; the third misbehaves once the others have trained 2 steps and their heap baseline is
 * taken: `attack` at once, `faults` or `gatherFault` from their step on. Open-ended run: ends once
 * the honest tabs have trained 3 steps after excluding it.
 */
export async function runFaultyPeerCase(server: DevServer, browser: Browser, name: string, misbehave: FaultCase): Promise<FaultCaseResult> {
  const tabs = await openFaultRoom(server, browser, 3, 10_000);
  const [a, b, bad] = tabs as [FaultTab, FaultTab, FaultTab];
  const honest = [a, b];
  const config = { ...FAULT_CONFIG, steps: 1_000_000, mode: misbehave.mode ?? FAULT_CONFIG.mode };
  const hostile = { ...(misbehave.faults ? { faults: misbehave.faults } : {}), ...(misbehave.gatherFault ? { gatherFault: misbehave.gatherFault } : {}) };
  // The faulty tab holds its faults until the honest tabs' heap baseline is taken.
  const runs = tabs.map((t, i) => t.run({ config, tabs: 3, backend: 'auto', ...(i === 2 ? { ...hostile, armed: false } : {}) }));
  const badRun = runs[2]!.catch(() => null);
  // A failure below closes the pages: the pending runs then reject, and that must not hide the failure.
  for (const r of runs) r.catch(() => {});
  try {
    await waitFor(() => honest.every((t) => t.steps.length >= 2));
    const before = await Promise.all(honest.map((t) => t.heapBytes()));
    const baselineBeforeFault = honest.every((t) => t.errors.length === 0);
    const attackAt = Date.now();
    if (misbehave.attack) await bad.call('attack', misbehave.attack);
    else await bad.call('arm');
    const excluded = (t: FaultTab) => t.errors.find((e) => e.peerId === bad.selfId && e.code !== 'ERR_PEER_LEFT' && e.code !== 'ERR_TIMEOUT' && e.code !== 'ERR_MEMBERSHIP_CHANGED');
    const rebuilt = (t: FaultTab) => t.worlds.find((w) => w.tabs === 2);
    await waitFor(() => honest.every((t) => rebuilt(t) !== undefined && t.steps.filter((s) => s.receivedAt > rebuilt(t)!.receivedAt).length >= 3));
    const after = await Promise.all(honest.map((t) => t.heapBytes()));
    await Promise.all(honest.map((t) => t.call('leave')));
    const finite = await Promise.all(runs.slice(0, 2));
    await bad.call('leave').catch(() => {});
    const badResult = await badRun;
    return {
      name,
      offender: bad.selfId,
      reasons: honest.map((t) => {
        const e = excluded(t);
        return e ? { code: e.code, message: e.message } : null;
      }),
      heapGrowth: honest.map((_, i) => after[i]! - before[i]!),
      baselineBeforeFault,
      resumeMs: honest.map((t) => {
        // An attack starts the clock when it is sent; a fault while training when this tab first reports
        // it (for a forced re-form, its ERR_MEMBERSHIP_CHANGED, before the forged claim).
        const faultAt = misbehave.attack ? attackAt : Math.min(...t.errors.map((e) => e.receivedAt));
        const firstAfter = t.steps.find((s) => s.receivedAt > rebuilt(t)!.receivedAt)!;
        return firstAfter.receivedAt - faultAt;
      }),
      honestSteps: honest.map((t) => t.finalSteps().map((s) => s.step)),
      honestLosses: honest.map((t) => t.finalSteps().map((s) => s.loss)),
      modelFinite: [...finite.map((r) => r.modelFinite), badResult?.modelFinite ?? null],
    };
  } catch (err) {
    // What each tab saw, for the failure message.
    const seen = tabs.map((t) => ({ self: t.selfId, steps: t.steps.length, worlds: t.worlds.map((w) => `${w.tabs}@${w.step}`), errors: t.errors.map((e) => `${e.code}: ${e.message}`) }));
    throw new Error(`${name}: ${(err as Error).message}\n${JSON.stringify(seen, null, 1)}`);
  } finally {
    for (const t of tabs) await t.page.context().close().catch(() => {});
  }
}
