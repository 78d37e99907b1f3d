/**
 * Training sessions on the mesh logic in Node (real signaling server on an ephemeral port, in-memory
 * links, CPU backend): a one-off timeout moves every tab to a new epoch and one agreed step, with the
 * losses of an uninterrupted run; a slow tab makes the others wait and is named; a faulty tab (Inf,
 * huge or wrong-length gradients, NaN or negative-variance BatchNorm sync rows, 16,000,000 workers
 * claimed) is excluded by name and the others continue with finite models.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { attachSignaling } from '../../src/server/signaling.ts';
import { Mesh, type MeshOptions } from '../../src/mesh/mesh.ts';
import { MemoryLinkHub } from '../../src/mesh/memory-link.ts';
import type { WebSocketCtor } from '../../src/mesh/signaling-client.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { createDataset, type ShapeDataset } from '../../src/train/dataset.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import { meshGroups, offendingPeer, TrainingSession, type RoomPace, type SessionFaults, type WorldInfo } from '../../src/train/session.ts';
import type { StepLog, TrainConfig } from '../../src/train/types.ts';
import { SMALL_CONFIG } from './harness.ts';
import { hostileGroups, type GatherFault } from '../helpers/hostile-gather.ts';

let server: http.Server;
let closeSignaling: () => void;
let url: string;
let hub: MemoryLinkHub;
const cleanup: Array<() => void> = [];
let dataset: ShapeDataset;

beforeEach(async () => {
  hub = new MemoryLinkHub();
  server = http.createServer();
  const handle = attachSignaling(server, { maxPeersPerRoom: 16 });
  closeSignaling = () => handle.close();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/signal`;
  dataset ??= createDataset({ seed: 1, trainPerClass: 20, testPerClass: 1 });
});

afterEach(async () => {
  for (const fn of cleanup.splice(0)) fn();
  closeSignaling();
  await new Promise((resolve) => server.close(resolve));
});

interface Tab {
  mesh: Mesh;
  session: TrainingSession;
  steps: StepLog[];
  worlds: WorldInfo[];
  errors: Array<{ code: string; message: string; peerId?: string }>;
  paces: RoomPace[];
  done: Promise<void>;
}

const config: TrainConfig = { ...SMALL_CONFIG, mode: 'shuffle', workersPerTab: 2, steps: 8 };

async function room(n: number, meshOpts: Partial<MeshOptions>): Promise<Mesh[]> {
  const join = (room: MeshOptions['room']) =>
    Mesh.join({ room, signalingUrl: url, WebSocket: WebSocket as unknown as WebSocketCtor, linkFactory: hub.factory, heartbeatIntervalMs: 0, ...meshOpts });
  const first = await join({ create: true });
  const meshes = [first];
  for (let i = 1; i < n; i++) meshes.push(await join({ roomId: first.roomId }));
  for (const m of meshes) cleanup.push(() => m.destroy());
  await Promise.all(meshes.map((m) => m.waitForSize(n, 5000)));
  return meshes;
}

function train(mesh: Mesh, faults?: SessionFaults, gatherTimeoutMs?: number, opts: { config?: TrainConfig; gatherFault?: GatherFault } = {}): Tab {
  let stepOf = () => 0;
  const groups = opts.gatherFault ? hostileGroups(meshGroups(mesh), opts.gatherFault, () => stepOf()) : meshGroups(mesh);
  const session = new TrainingSession({
    backend: createCpuBackend(),
    config: opts.config ?? config,
    groups,
    dataset,
    ...(faults ? { faults } : {}),
    ...(gatherTimeoutMs ? { gatherTimeoutMs } : {}),
  });
  stepOf = () => session.step;
  cleanup.push(() => session.destroy());
  const tab: Tab = { mesh, session, steps: [], worlds: [], errors: [], paces: [], done: Promise.resolve() };
  session.addEventListener('step', (e) => tab.steps.push((e as CustomEvent<StepLog>).detail));
  session.addEventListener('world', (e) => tab.worlds.push((e as CustomEvent<WorldInfo>).detail));
  session.addEventListener('pace', (e) => tab.paces.push((e as CustomEvent<RoomPace>).detail));
  session.addEventListener('error', (e) => {
    const err = (e as CustomEvent<Error & { code?: string; peerId?: string }>).detail;
    tab.errors.push({ code: err.code ?? 'ERR_SESSION', message: err.message, ...(err.peerId ? { peerId: err.peerId } : {}) });
  });
  tab.done = session.start();
  return tab;
}

/** Losses of the steps a session kept (rolled-back tries replaced), in step order. */
function lossesOf(tab: Tab): number[] {
  return tab.session.logs.map((l) => l.loss);
}

async function expectFiniteModel(tab: Tab): Promise<void> {
  const models = await tab.session.snapshot();
  expect(models?.length).toBeGreaterThan(0);
  for (const state of models!) for (const part of [state.query, state.key, state.velocities, state.queue]) expect(part.every(Number.isFinite)).toBe(true);
}

describe('offendingPeer', () => {
  const group = { size: 3, rank: 0, peerIdOf: (r: number) => `peer-${r}` } as unknown as ProcessGroup;
  it('names the peer of a validation error by id or by tab rank, and nothing else', () => {
    expect(offendingPeer(Object.assign(new Error('x'), { code: 'ERR_BAD_PEER_DATA', peerId: 'peer-2' }), group)).toBe('peer-2');
    // BatchNorm's row validation names the worker and its tab rank.
    expect(offendingPeer(Object.assign(new Error('x'), { code: 'ERR_BAD_PEER_ROWS', worker: 5, rank: 1 }), group)).toBe('peer-1');
    expect(offendingPeer(Object.assign(new Error('x'), { code: 'ERR_WORLD_TOO_LARGE', rank: 2 }), group)).toBe('peer-2');
    expect(offendingPeer(Object.assign(new Error('x'), { code: 'ERR_WORLD_TOO_LARGE' }), group)).toBeNull();
    expect(offendingPeer(Object.assign(new Error('x'), { code: 'ERR_BAD_PEER_ROWS', rank: 7 }), group)).toBeNull();
    expect(offendingPeer(Object.assign(new Error('x'), { code: 'ERR_TIMEOUT', peerId: 'peer-1' }), group)).toBeNull();
  });
});

describe('sessions across unequal and faulty peers (mesh logic in Node)', () => {
  it('a one-off timeout mid-step: every tab moves to one new epoch and one step; losses equal an uninterrupted run', async () => {
    const reference = (await room(2, {})).map((m) => train(m));
    await Promise.all(reference.map((t) => t.done));
    const expected = lossesOf(reference[0]!);
    expect(expected).toHaveLength(config.steps);

    // Tab 1 stalls once mid-step (step 3, before its gradient) past the all-reduce deadline, with
    // heartbeats off: tab 0's wait times out while tab 1 still goes on with the step.
    const meshes = await room(2, { collective: { timeoutMs: 300 } });
    const epochsBefore = meshes.map((m) => m.epoch);
    let stalled = false;
    const stallOnce = (step: number) => (step === 3 && !stalled ? ((stalled = true), 900) : 0);
    const tabs = [train(meshes[0]!), train(meshes[1]!, { gradientDelayMs: stallOnce })];
    await Promise.all(tabs.map((t) => t.done));
    expect(tabs[0]!.errors.some((e) => e.code === 'ERR_TIMEOUT')).toBe(true);
    // Both re-formed at one new epoch, from one agreed step.
    const rebuilt = tabs.map((t) => t.worlds.at(-1)!);
    expect(tabs.every((t) => t.worlds.length >= 2)).toBe(true);
    expect(rebuilt[0]!.step).toBe(rebuilt[1]!.step);
    expect(meshes[0]!.epoch).toBe(meshes[1]!.epoch);
    expect(epochsBefore).not.toContain(meshes[0]!.epoch);
    // Identical to the run that never failed, step for step, on both tabs.
    for (const t of tabs) {
      expect(t.session.logs.map((l) => l.step)).toEqual([...Array(config.steps).keys()]);
      expect(lossesOf(t)).toEqual(expected);
    }
  });

  it('a tab slower than the base deadline: the others wait (no timeout), the pace names it, the run goes on', async () => {
    // Base deadline 400 ms for every collective of a step; tab 1 computes 1.5 s longer on steps 2-4.
    const meshes = await room(2, { collective: { timeoutMs: 400 }, heartbeatIntervalMs: 100 });
    const slowId = meshes[1]!.selfId;
    const tabs = [train(meshes[0]!, {}, 400), train(meshes[1]!, { stepDelayMs: (step) => (step >= 2 && step <= 4 ? 1_500 : 0) }, 400)];
    await Promise.all(tabs.map((t) => t.done));
    for (const t of tabs) {
      expect(t.errors).toEqual([]);
      expect(t.worlds).toHaveLength(1);
      expect(t.session.logs.map((l) => l.step)).toEqual([...Array(config.steps).keys()]);
    }
    const named = tabs[0]!.paces.filter((p) => p.slowest?.peerId === slowId && p.slowest.stepMs >= 1_000);
    expect(named.length).toBeGreaterThan(0);
    expect(tabs[0]!.paces.some((p) => p.waitingFor?.peerId === slowId && p.waitingFor.waitedMs > 400)).toBe(true);
  });

  const faults: Array<[string, SessionFaults['gradient'], string]> = [
    // 3 tabs: the gradient goes through segment owners (fewer bytes than the direct exchange), whose
    // verdict names the non-finite sender on every tab rather than the wire refusing its frame.
    ['Inf gradients', (step, g) => (step === 2 ? g.map((v, i) => (i % 7 === 0 ? Infinity : v)) : g), 'ERR_BAD_PEER_DATA'],
    ['finite but huge gradients (sum to Infinity)', (step, g) => (step === 2 ? g.map(() => 3e38) : g), 'ERR_BAD_PEER_DATA'],
    ['a wrong-length gradient', (step, g) => (step === 2 ? Float32Array.from([...g, 0]) : g), 'ERR_BAD_PEER_DATA'],
  ];
  for (const [name, gradient, code] of faults) {
    it(`a faulty tab (${name}) is excluded by name; the others continue from the last consistent step`, async () => {
      const meshes = await room(3, { collective: { timeoutMs: 5_000 } });
      const badId = meshes[2]!.selfId;
      const tabs = [train(meshes[0]!), train(meshes[1]!), train(meshes[2]!, { gradient })];
      await Promise.all(tabs.slice(0, 2).map((t) => t.done));
      // Not even the faulty tab applied its bad step.
      await expectFiniteModel(tabs[2]!);
      tabs[2]!.session.destroy();
      for (const t of tabs.slice(0, 2)) {
        expect(t.mesh.excludedPeers.get(badId)?.code).toBe(code);
        expect(t.mesh.excludedPeers.get(badId)?.message).toContain(badId);
        if (name === 'Inf gradients') expect(t.mesh.excludedPeers.get(badId)?.message).toContain('non-finite');
        expect(t.mesh.group.size).toBe(2);
        expect(t.worlds.at(-1)).toMatchObject({ tabs: 2, step: 2 });
        expect(t.session.logs.map((l) => l.step)).toEqual([...Array(config.steps).keys()]);
        expect(t.session.logs.every((l) => Number.isFinite(l.loss))).toBe(true);
        await expectFiniteModel(t);
      }
      expect(lossesOf(tabs[0]!)).toEqual(lossesOf(tabs[1]!));
    });
  }

  // What a tab contributes to a gather, forged (tests/helpers/hostile-gather.ts): BatchNorm rows in
  // sync mode, the worker count every world starts by exchanging.
  // The reason names the peer by id (the mesh's exclusion) and says what it sent; BatchNorm and the
  // world name the tab by its rank in the world it broke.
  const gatherFaults: Array<[string, TrainConfig, GatherFault, string, RegExp]> = [
    ['NaN BatchNorm sync rows', { ...config, mode: 'sync' }, { syncRows: { step: 2, channels: config.hiddenDims[0]!, kind: 'nan' } }, 'ERR_BAD_FRAME', /non-finite/],
    ['negative-variance BatchNorm sync rows', { ...config, mode: 'sync' }, { syncRows: { step: 2, channels: config.hiddenDims[0]!, kind: 'negative-variance' } }, 'ERR_BAD_PEER_DATA', /step 2: worker 4 \(tab rank 2\) sent bad sync statistics \(M2 of channel 0 is -[\d.e+]+ < 0\)/],
    ['16,000,000 workers claimed', config, { workerCount: { step: 2, claim: 16_000_000 } }, 'ERR_BAD_PEER_DATA', /tab 2 declared 16000000 as its worker count/],
  ];
  for (const [name, runConfig, gatherFault, code, says] of gatherFaults) {
    it(`a faulty tab (${name}) is excluded by name; the others continue from the last consistent step`, async () => {
      const meshes = await room(3, { collective: { timeoutMs: 5_000 } });
      const badId = meshes[2]!.selfId;
      const tabs = [train(meshes[0]!, undefined, undefined, { config: runConfig }), train(meshes[1]!, undefined, undefined, { config: runConfig }), train(meshes[2]!, undefined, undefined, { config: runConfig, gatherFault })];
      await Promise.all(tabs.slice(0, 2).map((t) => t.done));
      tabs[2]!.session.destroy();
      for (const t of tabs.slice(0, 2)) {
        const reason = t.mesh.excludedPeers.get(badId);
        expect(reason?.code).toBe(code);
        expect(reason?.peerId).toBe(badId);
        expect(reason?.message).toMatch(says);
        expect(t.mesh.group.size).toBe(2);
        expect(t.worlds.at(-1)).toMatchObject({ tabs: 2, step: 2 });
        expect(t.session.logs.map((l) => l.step)).toEqual([...Array(runConfig.steps).keys()]);
        expect(t.session.logs.every((l) => Number.isFinite(l.loss))).toBe(true);
        await expectFiniteModel(t);
      }
      expect(lossesOf(tabs[0]!)).toEqual(lossesOf(tabs[1]!));
    });
  }
});
