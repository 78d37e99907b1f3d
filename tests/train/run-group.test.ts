/**
 * The group of a run forms only from the tabs that confirm that run (src/train/session.ts runGroups,
 * src/mesh/mesh.ts confirmRun), in Node: real signaling server, in-memory links, CPU backend. A member
 * that is in the room but not training is not waited for; a tab that joins a run in progress waits for
 * the run's tabs and continues from rank 0's step with the same losses, never training it alone.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { attachSignaling } from '../../src/server/signaling.ts';
import { Mesh, type MeshOptions } from '../../src/mesh/mesh.ts';
import { MemoryLinkHub } from '../../src/mesh/memory-link.ts';
import type { WebSocketCtor } from '../../src/mesh/signaling-client.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { createDataset, type ShapeDataset } from '../../src/train/dataset.ts';
import { runGroups, TrainingSession, type SessionFaults, type WorldInfo } from '../../src/train/session.ts';
import type { StepLog, TrainConfig } from '../../src/train/types.ts';
import { SMALL_CONFIG } from './harness.ts';

/**
 * The world's collective deadline here: short, so a session that did wait for a silent member would
 * fail within the test (MAX_RESYNC_ATTEMPTS × this) instead of 4 × 15 s.
 */
const GATHER_TIMEOUT_MS = 1_500;
const config: TrainConfig = { ...SMALL_CONFIG, mode: 'shuffle', workersPerTab: 2, steps: 8 };

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

async function room(n: number): Promise<Mesh[]> {
  const join = (room: MeshOptions['room']) =>
    Mesh.join({ room, signalingUrl: url, WebSocket: WebSocket as unknown as WebSocketCtor, linkFactory: hub.factory, heartbeatIntervalMs: 0 });
  const first = await join({ create: true });
  const meshes = [first];
  for (let i = 1; i < n; i++) meshes.push(await join({ roomId: first.roomId }));
  for (const m of meshes) cleanup.push(() => m.destroy());
  await Promise.all(meshes.map((m) => m.waitForSize(n, 5000)));
  return meshes;
}

interface Tab {
  session: TrainingSession;
  worlds: WorldInfo[];
  errors: string[];
  done: Promise<void>;
}

function train(mesh: Mesh, run: { id: string; joining: boolean }, extra: { faults?: SessionFaults; joinRunWaitMs?: number; steps?: number } = {}): Tab {
  const { steps, ...rest } = extra;
  const session = new TrainingSession({ backend: createCpuBackend(), config: { ...config, steps: steps ?? config.steps }, groups: runGroups(mesh, run), dataset, gatherTimeoutMs: GATHER_TIMEOUT_MS, ...rest });
  cleanup.push(() => session.destroy());
  const tab: Tab = { session, worlds: [], errors: [], done: Promise.resolve() };
  session.addEventListener('world', (e) => tab.worlds.push((e as CustomEvent<WorldInfo>).detail));
  session.addEventListener('error', (e) => tab.errors.push((e as CustomEvent<Error & { code?: string }>).detail.code ?? 'ERR_SESSION'));
  tab.done = session.start();
  return tab;
}

const losses = (tab: Tab, fromStep = 0): number[] => tab.session.logs.filter((l: StepLog) => l.step >= fromStep).map((l) => l.loss);

it('a member in the room that is not training (its backend failed) is not waited for: the run forms from the tabs that confirm it', async () => {
  const [a, b, idle] = await room(3);
  const tabs = [train(a!, { id: 'run-1', joining: false }), train(b!, { id: 'run-1', joining: false })];
  await Promise.all(tabs.map((t) => t.done));
  for (const tab of tabs) {
    expect(tab.errors).toEqual([]);
    expect(tab.session.state).toBe('done');
    expect(tab.worlds.map((w) => w.tabs)).toEqual([2]);
  }
  expect(losses(tabs[1]!)).toEqual(losses(tabs[0]!));
  expect(losses(tabs[0]!)).toHaveLength(config.steps);
  // The idle member's meta says no run; the two that trained said theirs while training.
  expect(a!.roomMemberList.find((m) => m.id === idle!.selfId)?.meta.run).toBeUndefined();
});

it('a tab joining a run in progress waits for the run\'s tabs, then continues from rank 0\'s step with the same losses', async () => {
  const [a, b, c] = await room(3);
  // Enough steps that A and B are still training when C has joined (a finished tab takes no part).
  const slow = { faults: { stepDelayMs: () => 100 } satisfies SessionFaults, steps: 40 };
  const tabA = train(a!, { id: 'run-2', joining: false }, slow);
  const tabB = train(b!, { id: 'run-2', joining: false }, slow);
  await expect.poll(() => tabA.session.logs.length, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(2);
  const tabC = train(c!, { id: 'run-2', joining: true }, slow);
  await Promise.all([tabA, tabB, tabC].map((t) => t.done));
  expect([tabA, tabB, tabC].map((t) => t.errors.filter((code) => code !== 'ERR_MEMBERSHIP_CHANGED' && code !== 'ERR_PEER_LEFT'))).toEqual([[], [], []]);
  // C never built a world of its own: its first world is the run's, at rank 0's step.
  expect(tabC.worlds[0]!.tabs).toBe(3);
  const joinedAt = tabC.worlds[0]!.step;
  expect(joinedAt).toBeGreaterThanOrEqual(2);
  expect(tabC.session.logs[0]!.step).toBe(joinedAt);
  expect(losses(tabC)).toEqual(losses(tabA, joinedAt));
  expect(losses(tabB)).toEqual(losses(tabA));
});

it('a tab joining a run nobody in the room trains gives up with ERR_RUN_GONE instead of training it alone', async () => {
  const [a, b] = await room(2);
  const tabB = train(b!, { id: 'run-3', joining: false });
  const tabA = train(a!, { id: 'run-old', joining: true }, { joinRunWaitMs: 1_000 });
  await tabA.done;
  expect(tabA.session.state).toBe('error');
  expect(tabA.errors).toEqual(['ERR_RUN_GONE']);
  expect(tabA.worlds).toEqual([]);
  expect(tabA.session.logs).toEqual([]);
  // B, training another run in the same room, was never held up by A.
  await tabB.done;
  expect(tabB.errors).toEqual([]);
  expect(tabB.worlds.map((w) => w.tabs)).toEqual([1]);
});
