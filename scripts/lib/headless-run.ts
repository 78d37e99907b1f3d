/**
 * Drives a room of headless Chromium tabs that train together over the real mesh (used by the
 * experiment runner, the end-to-end fault tests and the training benchmark). Each tab loads
 * src/train/headless-worker.ts into the harness page and reports through `window.__sbnReport`.
 */
import type { Browser, Page } from 'playwright-core';
import type { HeadlessRunOptions, ReportedStep } from '../../src/train/headless-worker.ts';
import type { WorldInfo } from '../../src/train/session.ts';
import type { StepLog, TrainConfig } from '../../src/train/types.ts';
import type { SendWindowOption } from '../../src/mesh/send-window.ts';
import { harnessUrl, launchBrowser, openPage, pageModuleCaller, startDevServer, type DevServer } from './browser.ts';

export interface TabError {
  code: string;
  message: string;
  peerId: string | null;
}

/** One tab of a headless room and everything it reported. */
export class HeadlessTab {
  readonly steps: ReportedStep[] = [];
  readonly worlds: Array<WorldInfo & { selfId: string }> = [];
  readonly errors: TabError[] = [];
  readonly states: string[] = [];
  selfId = '';
  closed = false;
  onStep: ((log: ReportedStep) => void) | null = null;

  constructor(readonly page: Page, readonly index: number) {}

  /** Trains until the run's last step; resolves with this tab's backend label. */
  run(opts: HeadlessRunOptions): Promise<{ backend: string; steps: number }> {
    return callWorker(this.page, 'run', opts) as Promise<{ backend: string; steps: number }>;
  }

  /** Closes the tab abruptly, as a user closing it mid-run would. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.page.close({ runBeforeUnload: false });
  }
}

/** Calls an export of src/train/headless-worker.ts in the page. */
export function callWorker(page: Page, fn: 'run' | 'joinRoom' | 'waitForPeers' | 'leave', ...args: unknown[]): Promise<unknown> {
  return pageModuleCaller<typeof import('../../src/train/headless-worker.ts')>(() => page, '/src/train/headless-worker.ts')(fn, ...args);
}

export interface TabOptions {
  disableWebGpu?: boolean;
  /** The browser to open the tab in (default: the room's). */
  browser?: Browser;
  /** The harness page's URL (default: on the room's server as the driver reaches it). */
  url?: string;
}

export class HeadlessRoom {
  readonly tabs: HeadlessTab[] = [];
  roomId = '';
  private ownsServer = false;
  private peerTimeoutMs: number | undefined;
  private sendWindow: SendWindowOption | undefined;

  private constructor(readonly server: DevServer, readonly browser: Browser) {}

  /**
   * `peerTimeoutMs`: every tab's mesh drops a peer only after this much silence (default: the mesh's
   * PEER_TIMEOUT_MS). `sendWindow`: every tab's bulk bytes in flight per link (default: the mesh's).
   */
  static async open(opts: { server?: DevServer; browser?: Browser; browserArgs?: string[]; peerTimeoutMs?: number; sendWindow?: SendWindowOption } = {}): Promise<HeadlessRoom> {
    const server = opts.server ?? (await startDevServer());
    const browser = opts.browser ?? (await launchBrowser({ args: opts.browserArgs ?? [] }));
    const room = new HeadlessRoom(server, browser);
    room.peerTimeoutMs = opts.peerTimeoutMs;
    room.sendWindow = opts.sendWindow;
    room.ownsServer = !opts.server;
    return room;
  }

  /** Opens a tab and joins the room (the first tab creates it and is rank 0). */
  async addTab(opts: TabOptions = {}): Promise<HeadlessTab> {
    const tab = await this.openTab(opts);
    await this.join(tab);
    return tab;
  }

  /**
   * Opens a tab without joining: the page is loaded and reports to the driver. `browser` and `url`
   * place it in another browser (a pinned one, one in another network namespace) and reach the server
   * by another address.
   */
  async openTab(opts: TabOptions = {}): Promise<HeadlessTab> {
    const context = await (opts.browser ?? this.browser).newContext();
    // A browser without WebGPU, as far as the page can tell (navigator.gpu absent).
    if (opts.disableWebGpu) await context.addInitScript('delete Navigator.prototype.gpu;');
    const page = await openPage(context, opts.url ?? harnessUrl(this.server));
    const tab = new HeadlessTab(page, this.tabs.length);
    await page.exposeFunction('__sbnReport', (kind: string, payload: unknown) => {
      if (kind === 'step') {
        tab.steps.push(payload as ReportedStep);
        tab.onStep?.(payload as ReportedStep);
      } else if (kind === 'world') tab.worlds.push(payload as WorldInfo & { selfId: string });
      else if (kind === 'error') tab.errors.push(payload as TabError);
      else if (kind === 'state') tab.states.push(String(payload));
    });
    this.tabs.push(tab);
    return tab;
  }

  /** Joins an opened tab to the room; the first to join creates it. */
  async join(tab: HeadlessTab): Promise<void> {
    const room = this.roomId ? { roomId: this.roomId } : { create: true as const };
    const mesh = { ...(this.peerTimeoutMs ? { peerTimeoutMs: this.peerTimeoutMs } : {}), ...(this.sendWindow ? { sendWindow: this.sendWindow } : {}) };
    const joined = (await callWorker(tab.page, 'joinRoom', room, mesh)) as { roomId: string; selfId: string };
    this.roomId = joined.roomId;
    tab.selfId = joined.selfId;
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => {});
    if (this.ownsServer) await this.server.close();
  }
}

export interface RunHeadlessOptions {
  tabs: number;
  config: TrainConfig;
  backend: HeadlessRunOptions['backend'];
  traceEvery: number;
  traceChannels: number;
  /** Each step of rank 0's log, as it arrives. */
  onStep?: (log: StepLog) => void;
  onNotice?: (line: string) => void;
}

/** Runs one experiment start to finish; resolves with rank 0's step logs. */
export async function runHeadless(opts: RunHeadlessOptions): Promise<{ backend: string; steps: StepLog[] }> {
  const room = await HeadlessRoom.open();
  try {
    for (let i = 0; i < opts.tabs; i++) await room.addTab();
    const root = room.tabs[0]!;
    if (opts.onStep) root.onStep = (log) => opts.onStep!(stripTab(log));
    const runOpts: HeadlessRunOptions = { config: opts.config, tabs: opts.tabs, backend: opts.backend, traceEvery: opts.traceEvery, traceChannels: opts.traceChannels };
    const results = await Promise.all(room.tabs.map((t) => t.run(runOpts)));
    for (const t of room.tabs) for (const e of t.errors) opts.onNotice?.(`[tab ${t.index}] ${e.code}: ${e.message}`);
    return { backend: results[0]!.backend, steps: root.steps.map(stripTab) };
  } finally {
    await room.close();
  }
}

function stripTab(log: ReportedStep): StepLog {
  const { rank: _rank, selfId: _selfId, sent: _sent, ...step } = log;
  return step;
}
