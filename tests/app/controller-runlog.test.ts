/**
 * The controller and saved run logs (fake room, in-memory store): a tab that reloads mid-run continues
 * its saved log of the same run, without duplicate steps; the room's earlier runs are offered for
 * export; a store that fails is one notice and the run goes on.
 */
import { describe, expect, it } from 'vitest';
import { AppController } from '../../src/app/controller.ts';
import { parseRunCsv } from '../../src/app/format.ts';
import type { SessionFactory, SessionLike, SessionState } from '../../src/app/ports.ts';
import { MemoryRunStore, type RunStore } from '../../src/app/run-store/store.ts';
import { AppStore } from '../../src/app/store.ts';
import type { WorldInfo } from '../../src/train/session.ts';
import type { RunLog, StepLog } from '../../src/train/types.ts';
import { fakeBackendProvider, fakeServer } from '../ui/fakes.ts';

class ManualSession extends EventTarget implements SessionLike {
  step = 0;
  state: SessionState = 'idle';
  async start() {
    this.state = 'running';
    this.dispatchEvent(new Event('state'));
  }
  pause() {}
  pauseAfter() {}
  resume() {}
  reset() {}
  destroy() {}
  world(step: number) {
    this.dispatchEvent(new CustomEvent<Partial<WorldInfo>>('world', { detail: { tabs: 2, worldSize: 4, step } }));
  }
  emit(n: number) {
    const log: StepLog = { step: n, loss: 100 + n, pretextAcc: 0.25, sourceOf: [1, 0, 3, 2], computeMs: 1, commMs: 1 };
    this.dispatchEvent(new CustomEvent('step', { detail: log }));
  }
}

const tick = () => new Promise((r) => setTimeout(r, 15));
/** Zero-delay timers: the render batcher and the recorder flush on the next task. */
const timers = { now: () => Date.now(), setTimeout: (fn: () => void) => setTimeout(fn, 0), clearTimeout: (h: unknown) => clearTimeout(h as number) };

/** One page load of a tab: a controller over the shared fake server and this browser's run store. */
function tab(server: ReturnType<typeof fakeServer>, id: string, runStore: RunStore) {
  const sessions: ManualSession[] = [];
  const factory: SessionFactory = () => {
    const s = new ManualSession();
    sessions.push(s);
    return s;
  };
  const store = new AppStore();
  let href = 'http://127.0.0.1:5173/?room=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  const controller = new AppController({
    store,
    connectRoom: server.connector(id),
    provideBackend: fakeBackendProvider('cpu', 'cpu'),
    createSession: factory,
    nav: { href: () => href, replace: (u) => (href = u) },
    timers,
    runStore,
  });
  return { controller, store, sessions };
}

function exported(t: ReturnType<typeof tab>): RunLog {
  return JSON.parse(t.controller.exportRun('json')!.text) as RunLog;
}

describe('AppController: the run log survives a reload', () => {
  it('a reloaded tab continues its saved log of the run: earlier steps kept, rolled-back ones replaced, none twice', async () => {
    const server = fakeServer();
    const browser = new MemoryRunStore();
    const first = tab(server, 'peer-before-reload', browser);
    await first.controller.boot();
    first.controller.start();
    await tick();
    const runId = first.store.state.room.runId;
    const before = first.sessions[0]!;
    for (let n = 0; n <= 5; n++) before.emit(n);
    await tick();
    // The page goes away (pagehide): pending steps are written.
    first.controller.destroy();
    await tick();

    // The reloaded page joins the room, which still trains run `runId`; the world resumes from rank 0's step 4.
    const second = tab(server, 'peer-after-reload', browser);
    await second.controller.boot();
    await tick();
    const after = second.sessions[0]!;
    expect(second.store.state.room.runId).toBe(runId);
    expect(second.store.state.step).toBe(5);
    expect(exported(second).steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5]);
    after.world(4);
    for (let n = 4; n <= 8; n++) after.emit(n);
    await tick();
    const log = exported(second);
    expect(log.steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseRunCsv(second.controller.exportRun('csv')!.text).map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // The curve continues the saved one.
    expect(second.store.state.runs.at(-1)?.steps).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    second.controller.destroy();
    await tick();
    expect((await browser.load('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', runId))?.steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('offers the room’s earlier runs for export after a reload and a new run; the run on screen is not listed', async () => {
    const server = fakeServer();
    const browser = new MemoryRunStore();
    const first = tab(server, 'peer-a', browser);
    await first.controller.boot();
    first.controller.start();
    await tick();
    const firstRun = first.store.state.room.runId;
    for (let n = 0; n <= 2; n++) first.sessions[0]!.emit(n);
    await tick();
    expect(first.store.state.savedRuns).toEqual([]);
    first.controller.destroy();
    await tick();

    const second = tab(server, 'peer-b', browser);
    await second.controller.boot();
    await tick();
    // Joined the same run again: it is the run on screen, not an earlier one.
    expect(second.store.state.savedRuns).toEqual([]);
    second.controller.start();
    await tick();
    second.controller.reset();
    await tick();
    second.controller.start();
    await tick();
    const newRun = second.store.state.room.runId;
    expect(newRun).not.toBe(firstRun);
    expect(second.store.state.savedRuns.map((r) => [r.runId, r.stepCount, r.lastStep])).toEqual([[firstRun, 3, 2]]);
    const file = await second.controller.exportSaved(firstRun, 'json');
    expect((JSON.parse(file!.text) as RunLog).steps.map((s) => [s.step, s.loss])).toEqual([[0, 100], [1, 101], [2, 102]]);
    expect(file!.filename).toMatch(/\.json$/);
    expect(await second.controller.exportSaved('no-such-run', 'csv')).toBeNull();
    second.controller.destroy();
  });

  it('a store that cannot write is one notice; the run and its export go on', async () => {
    const broken: RunStore = {
      list: async () => [],
      load: async () => null,
      write: async () => {
        throw Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' });
      },
    };
    const t = tab(fakeServer(), 'peer-a', broken);
    await t.controller.boot();
    t.controller.start();
    await tick();
    for (let n = 0; n <= 30; n++) {
      t.sessions[0]!.emit(n);
      await tick();
    }
    expect(t.store.state.notices.filter((n) => n.code === 'ERR_RUN_LOG_STORAGE')).toHaveLength(1);
    expect(t.store.state.runState).toBe('running');
    expect(exported(t).steps).toHaveLength(31);
    t.controller.destroy();
  });
});
