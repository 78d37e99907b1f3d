/**
 * Rolled-back steps leave the run log: when the session rebuilds its world and resumes from an earlier
 * step, a Run (src/app/run.ts) drops the abandoned steps from its log, its curves and the saved copy,
 * so an export holds every step once, from the try the world kept. First over a scripted session,
 * then over real sessions on the mesh logic in Node where a one-off timeout makes one tab repeat a step.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { parseRunCsv, runToCsv } from '../../src/app/format.ts';
import type { SessionLike, SessionState } from '../../src/app/ports.ts';
import { RunRecorder } from '../../src/app/run-store/recorder.ts';
import { MemoryRunStore } from '../../src/app/run-store/store.ts';
import { Run, type RunUpdate } from '../../src/app/run.ts';
import { Mesh } from '../../src/mesh/mesh.ts';
import { MemoryLinkHub } from '../../src/mesh/memory-link.ts';
import { MeshError, type ProcessGroup } from '../../src/mesh/types.ts';
import type { WebSocketCtor } from '../../src/mesh/signaling-client.ts';
import { attachSignaling } from '../../src/server/signaling.ts';
import { createDataset } from '../../src/train/dataset.ts';
import { meshGroups, TrainingSession, type GroupSource, type WorldInfo } from '../../src/train/session.ts';
import type { StepLog, TrainConfig } from '../../src/train/types.ts';
import { SMALL_CONFIG } from '../train/harness.ts';

/** Zero-delay timers: the render batcher and the recorder flush on the next task. */
const timers = { now: () => Date.now(), setTimeout: (fn: () => void) => setTimeout(fn, 0), clearTimeout: (h: unknown) => clearTimeout(h as number) };

function step(n: number, loss: number, knnAcc?: number): StepLog {
  return { step: n, loss, pretextAcc: 0.5, sourceOf: [1, 0], computeMs: 1, commMs: 1, ...(knnAcc !== undefined ? { knnAcc } : {}) };
}

class ScriptedSession extends EventTarget implements SessionLike {
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
  emit(type: 'step' | 'world', detail: StepLog | Partial<WorldInfo>) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function recordedRun(config: TrainConfig, createSession: () => SessionLike, store = new MemoryRunStore()) {
  const updates: RunUpdate[] = [];
  let run: Run;
  const recorder = new RunRecorder({ store, roomId: 'room', runId: 'run', log: () => run.log, onError: (e) => expect.fail(e.message), timers });
  run = new Run({
    id: 'run',
    config,
    backend: createCpuBackend(),
    backendLabel: 'cpu',
    groups: null,
    createSession,
    timers,
    sink: recorder,
    callbacks: { onUpdate: (u) => updates.push(u), onState: () => {}, onError: () => {} },
  });
  return { run, recorder, store, updates };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('Run: steps rolled back by a rebuilt world leave the log', () => {
  it('drops them from the log, the curves, the kNN figure and the saved copy; the repeats take their place', async () => {
    const session = new ScriptedSession();
    const { run, recorder, store } = recordedRun({ ...SMALL_CONFIG, steps: 10 }, () => session);
    run.start();
    for (let n = 0; n <= 5; n++) session.emit('step', step(n, 10 + n, n === 4 ? 0.4 : undefined));
    await tick();
    // The world is rebuilt from rank 0's step 3: this tab's steps 3, 4, 5 were never completed by the
    // world. They leave at once (a pause or the end may come before any repeat).
    session.emit('world', { tabs: 2, worldSize: 4, step: 3 });
    await recorder.flush();
    expect(run.log.steps.map((s) => s.step)).toEqual([0, 1, 2]);
    expect(run.series.steps).toEqual([0, 1, 2]);
    expect(run.log.knnAcc).toBeUndefined();
    expect((await store.load('room', 'run'))?.steps.map((s) => s.step)).toEqual([0, 1, 2]);
    // The run stops after the repeated 3 and 4: the abandoned 5 must not come back.
    for (let n = 3; n <= 4; n++) session.emit('step', step(n, 20 + n));
    run.destroy();
    await recorder.flush();

    const committed = [[0, 10], [1, 11], [2, 12], [3, 23], [4, 24]];
    expect(run.log.steps.map((s) => [s.step, s.loss])).toEqual(committed);
    expect(run.log.knnAcc).toBeUndefined();
    expect(run.series.steps).toEqual(committed.map(([s]) => s));
    expect(run.series.loss).toEqual(committed.map(([, l]) => l));
    expect(run.series.knnSteps).toEqual([]);
    expect((await store.load('room', 'run'))?.steps.map((s) => [s.step, s.loss])).toEqual(committed);
    expect(parseRunCsv(runToCsv(run.log)).map((s) => [s.step, s.loss])).toEqual(committed);
  });

  it('a repeated step without a world event (a stand-in session) still replaces the abandoned try', async () => {
    const session = new ScriptedSession();
    const { run, recorder, store } = recordedRun({ ...SMALL_CONFIG, steps: 10 }, () => session);
    run.start();
    for (const [n, loss] of [[0, 1], [1, 2], [2, 3], [1, 4], [2, 5], [3, 6]] as const) session.emit('step', step(n, loss));
    run.destroy();
    await recorder.flush();
    const committed = [[0, 1], [1, 4], [2, 5], [3, 6]];
    expect(run.log.steps.map((s) => [s.step, s.loss])).toEqual(committed);
    expect((await store.load('room', 'run'))?.steps.map((s) => [s.step, s.loss])).toEqual(committed);
  });
});

/**
 * Tab 0's group, with one late result: the last collective of step `failAt` (the running statistics'
 * gather, after the gradient all-reduce) completes, so tab 1 has every contribution and commits the
 * step, then times out here, as when the last chunk arrives just after tab 0's deadline. Tab 0 moves
 * the room to a new epoch from its last completed step, so tab 1's committed step is rolled back.
 */
function lateLastCollectiveOnce(mesh: Mesh, failAt: number): GroupSource {
  const source = meshGroups(mesh);
  let step = -1;
  let reduced = false;
  let failed = false;
  const wrap = (group: ProcessGroup): ProcessGroup =>
    new Proxy(group, {
      get(target, prop) {
        if (prop === 'setStep') return (n: number) => ((step = n), (reduced = false), target.setStep(n));
        if (prop === 'allReduce') {
          return async (...args: Parameters<ProcessGroup['allReduce']>) => {
            const result = await target.allReduce(...args);
            reduced = true;
            return result;
          };
        }
        if (prop === 'allGather') {
          return async (...args: Parameters<ProcessGroup['allGather']>) => {
            const result = await target.allGather(...args);
            if (step === failAt && reduced && !failed) {
              failed = true;
              throw new MeshError('ERR_TIMEOUT', `the last gather of step ${step} timed out (test)`);
            }
            return result;
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return { ...source, current: () => wrap(mesh.group) };
}

describe('Run over real sessions: a one-off timeout makes a tab repeat a step', () => {
  let server: http.Server;
  let closeSignaling: () => void;
  const cleanup: Array<() => void> = [];
  beforeEach(async () => {
    server = http.createServer();
    const handle = attachSignaling(server, { maxPeersPerRoom: 16 });
    closeSignaling = () => handle.close();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) fn();
    closeSignaling();
    await new Promise((resolve) => server.close(resolve));
  });

  it('each tab’s exported log is the steps its session finally committed, each once, with the losses of an uninterrupted run', async () => {
    const config: TrainConfig = { ...SMALL_CONFIG, mode: 'shuffle', workersPerTab: 2, steps: 8 };
    const dataset = createDataset({ seed: 1, trainPerClass: 20, testPerClass: 1 });
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/signal`;
    const hub = new MemoryLinkHub();
    const join = (room: { create: true } | { roomId: string }, timeoutMs: number) =>
      Mesh.join({ room, signalingUrl: url, WebSocket: WebSocket as unknown as WebSocketCtor, linkFactory: hub.factory, heartbeatIntervalMs: 0, collective: { timeoutMs } });
    const meshes = async (timeoutMs: number) => {
      const first = await join({ create: true }, timeoutMs);
      const second = await join({ roomId: first.roomId }, timeoutMs);
      for (const m of [first, second]) cleanup.push(() => m.destroy());
      await Promise.all([first, second].map((m) => m.waitForSize(2, 5000)));
      return [first, second];
    };
    const tabs = (ms: Mesh[], failAt?: number) =>
      ms.map((mesh, i) => {
        const raw: number[] = [];
        let session!: TrainingSession;
        const tab = recordedRun(config, () => {
          const groups = i === 0 && failAt !== undefined ? lateLastCollectiveOnce(mesh, failAt) : meshGroups(mesh);
          session = new TrainingSession({ backend: createCpuBackend(), config, groups, dataset });
          session.addEventListener('step', (e) => raw.push((e as CustomEvent<StepLog>).detail.step));
          return session;
        });
        cleanup.push(() => tab.run.destroy());
        const done = new Promise<void>((resolve) => session.addEventListener('state', () => ['done', 'error'].includes(session.state) && resolve()));
        tab.run.start();
        return { ...tab, session: () => session, raw, done };
      });

    // The reference: the same run without a fault.
    const reference = tabs(await meshes(15_000));
    await Promise.all(reference.map((t) => t.done));
    const expected = reference[0]!.run.log.steps.map((s) => s.loss);
    expect(expected).toHaveLength(config.steps);

    const faulty = tabs(await meshes(15_000), 3);
    await Promise.all(faulty.map((t) => t.done));
    // The fault did make a tab log a step twice (otherwise this test would not test a rollback).
    expect(faulty.some((t) => t.raw.length > new Set(t.raw).size)).toBe(true);
    for (const t of faulty) {
      await t.recorder.flush();
      const exported = t.run.log.steps;
      expect(exported.map((s) => s.step)).toEqual(t.session().logs.map((l) => l.step));
      expect(exported.map((s) => s.step)).toEqual([...Array(config.steps).keys()]);
      expect(exported.map((s) => s.loss)).toEqual(expected);
      expect(t.run.series.steps).toEqual([...Array(config.steps).keys()]);
      expect((await t.store.load('room', 'run'))?.steps.map((s) => s.loss)).toEqual(expected);
    }
  }, 60_000);
});
