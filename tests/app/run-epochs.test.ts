/**
 * Step numbers never restart on a group that stays formed. A group drops frames of steps older than
 * its own (late frames of a finished step, src/mesh/group-core.ts), so a tab that began step 0 of a
 * new run on the group where another tab was still at step 19 would have its frames dropped and the
 * pair would stall. The app never does that: every new run has a fresh run id (AppController.start),
 * a run's groups hold only the tabs confirming its id (runGroups → Mesh.confirmRun), and a confirmation
 * changes this tab's meta, so the server's epoch and every group epoch change: the new run starts on a
 * new group. Real signaling server, in-memory links.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Mesh } from '../../src/mesh/mesh.ts';
import { MemoryLinkHub } from '../../src/mesh/memory-link.ts';
import type { WebSocketCtor } from '../../src/mesh/signaling-client.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';
import { runGroups, type GroupSource } from '../../src/train/session.ts';
import { startTestSignaling, type TestSignaling } from '../helpers/signaling-server.ts';

/** Collective timeout here: a dropped frame shows as a failure in seconds, not the default minutes. */
const TIMEOUT_MS = 3_000;
/** How long the second tab stays at the old run's last step after the first began the new run. */
const LAG_MS = 300;
const OLD_RUN_STEPS = 20;

let signaling: TestSignaling;
let url: string;
let hub: MemoryLinkHub;
const meshes: Mesh[] = [];

async function join(room: { create: true } | { roomId: string }): Promise<Mesh> {
  const mesh = await Mesh.join({ room, signalingUrl: url, WebSocket: WebSocket as unknown as WebSocketCtor, linkFactory: hub.factory, heartbeatIntervalMs: 0, collective: { timeoutMs: TIMEOUT_MS } });
  meshes.push(mesh);
  return mesh;
}

/** A run's groups as a session follows them: resolves with the first complete group of 2 tabs. */
function follow(source: GroupSource): { group: Promise<ProcessGroup>; stop: () => void } {
  let resolve!: (g: ProcessGroup) => void;
  const group = new Promise<ProcessGroup>((r) => (resolve = r));
  const stop = source.subscribe((g, complete) => {
    if (g && complete && g.size === 2) resolve(g);
  });
  const now = source.current();
  if (now && now.size === 2) resolve(now);
  return { group, stop };
}

/** One step as a trainer runs it: stamp the step, then a collective every tab joins. */
async function step(group: ProcessGroup, index: number): Promise<number> {
  group.setStep(index);
  return (await group.allReduce(new Float32Array([group.rank + 1])))[0]!;
}

describe('a new run on tabs that stay linked', () => {
  beforeEach(async () => {
    hub = new MemoryLinkHub();
    signaling = await startTestSignaling();
    url = signaling.url;
  });
  afterEach(async () => {
    for (const m of meshes.splice(0)) m.destroy();
    await signaling.close();
  });

  it('starts at step 0 on a new epoch, so a tab still at the old run\'s last step takes its frames', async () => {
    const x = await join({ create: true });
    const y = await join({ roomId: x.roomId });
    const oldRun = [x, y].map((m) => follow(runGroups(m, { id: 'run-old', joining: false })));
    const oldGroups = await Promise.all(oldRun.map((r) => r.group));
    expect(oldGroups[0]!.epoch).toBe(oldGroups[1]!.epoch);
    for (let s = 0; s < OLD_RUN_STEPS; s++) expect(await Promise.all(oldGroups.map((g) => step(g, s)))).toEqual([3, 3]);

    // X stops the old run and begins the new one at once (as beginRun does); Y follows LAG_MS later,
    // its old group still at step OLD_RUN_STEPS - 1 meanwhile.
    oldRun[0]!.stop();
    const xNew = follow(runGroups(x, { id: 'run-new', joining: false }));
    const xFirst = xNew.group.then((g) => step(g, 0));
    await new Promise((resolve) => setTimeout(resolve, LAG_MS));
    oldRun[1]!.stop();
    const yNew = follow(runGroups(y, { id: 'run-new', joining: false }));
    const yFirst = yNew.group.then((g) => step(g, 0));

    expect(await Promise.all([xFirst, yFirst])).toEqual([3, 3]);
    const newGroups = await Promise.all([xNew.group, yNew.group]);
    expect(newGroups[0]!.epoch).toBe(newGroups[1]!.epoch);
    expect(newGroups[0]!.epoch).not.toBe(oldGroups[0]!.epoch);
    for (let s = 1; s < 3; s++) expect(await Promise.all(newGroups.map((g) => step(g, s)))).toEqual([3, 3]);
  });
});
