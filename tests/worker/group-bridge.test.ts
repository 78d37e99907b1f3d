/**
 * The process group across the compute bridge (src/worker/group-client.ts ↔ group-host.ts), over a
 * real MessageChannel in Node: concurrent collectives reach the page's group in the worker's order
 * with their options, results return to the right caller, MeshErrors keep code, message and peer,
 * tensors move (the sender's buffer is detached) unless they are views, group changes and the
 * session's requests (restart, exclude, pace) are forwarded, and teardown leaves nothing behind.
 */
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { MeshError } from '../../src/mesh/types.ts';
import { RemoteGroups } from '../../src/worker/group-client.ts';
import { GroupHost } from '../../src/worker/group-host.ts';
import { countingPort, ScriptedGroup, ScriptedSource, settle } from './fakes.ts';

const open: Array<() => void> = [];
afterEach(() => {
  for (const close of open.splice(0)) close();
});

function bridge(group = new ScriptedGroup(1, 3, 7, ['p0', 'p1', 'p2'])) {
  const { port1, port2 } = new MessageChannel();
  const pagePort = countingPort(port1);
  const workerPort = countingPort(port2);
  const source = new ScriptedSource(group);
  const host = new GroupHost(pagePort, source);
  const remote = new RemoteGroups(workerPort, host.initial);
  open.push(() => {
    remote.destroy();
    host.destroy();
    port1.close();
  });
  return { group, source, host, remote, pagePort, workerPort };
}

describe('collectives across the bridge', () => {
  it('reach the real group in the order the worker made them, with their options, and each result returns to its caller', async () => {
    const { group, remote } = bridge();
    const g = remote.current()!;
    expect([g.rank, g.size, g.epoch, g.peerIdOf(2)]).toEqual([1, 3, 7, 'p2']);
    const gathered = g.allGather(Float32Array.of(1, 2), { priority: 'stats', timeoutMs: 1500 });
    const swapped = g.exchange(2, Float32Array.of(3), 0);
    const reduced = g.allReduce(Float32Array.of(4, 5), 'mean', { validate: { maxAbs: 1e6 }, priority: 'bulk' });
    const root = g.broadcast(null, 0, { timeoutMs: 99 });
    const barrier = g.barrier();
    g.setStep(42);
    await settle();
    expect(group.calls.map((c) => [c.op, c.args, c.opts])).toEqual([
      ['allGather', [[1, 2]], { priority: 'stats', timeoutMs: 1500 }],
      ['exchange', [2, [3], 0], undefined],
      ['allReduce', [[4, 5], 'mean'], { validate: { maxAbs: 1e6 }, priority: 'bulk' }],
      ['broadcast', [null, 0], { timeoutMs: 99 }],
      ['barrier', [], undefined],
    ]);
    expect(group.steps).toEqual([42]);
    // Settled in reverse order: every caller still gets its own result.
    group.calls[4]!.resolve(undefined);
    group.calls[3]!.resolve(Float32Array.of(-1));
    group.calls[2]!.resolve(Float32Array.of(40, 50));
    group.calls[1]!.resolve(Float32Array.of(30));
    group.calls[0]!.resolve([Float32Array.of(10), Float32Array.of(1, 2), Float32Array.of(20, 21, 22)]);
    expect((await gathered).map((t) => Array.from(t))).toEqual([[10], [1, 2], [20, 21, 22]]);
    expect(Array.from(await swapped)).toEqual([30]);
    expect(Array.from(await reduced)).toEqual([40, 50]);
    expect(Array.from(await root)).toEqual([-1]);
    expect(await barrier).toBeUndefined();
    expect((await gathered)[0]).toBeInstanceOf(Float32Array);
  });

  it('moves tensors: the sender’s buffer is detached on both sides; a view into a larger buffer is copied and left intact', async () => {
    const { group, remote } = bridge();
    const g = remote.current()!;
    const mine = Float32Array.of(1, 2, 3);
    const reduced = g.allReduce(mine);
    expect(mine.buffer.byteLength).toBe(0);
    const pool = Float32Array.of(9, 8, 7, 6);
    const view = pool.subarray(1, 3);
    const gathered = g.allGather(view);
    await settle();
    expect(pool.buffer.byteLength).toBe(16);
    expect(Array.from(pool)).toEqual([9, 8, 7, 6]);
    expect(group.calls.map((c) => c.args[0])).toEqual([[1, 2, 3], [8, 7]]);
    const sum = Float32Array.of(10, 20, 30);
    group.calls[0]!.resolve(sum);
    // Two results in one buffer: the second is copied, not transferred twice.
    const shared = Float32Array.of(1, 2, 3, 4);
    group.calls[1]!.resolve([shared.subarray(0, 2), shared.subarray(2, 4)]);
    expect(Array.from(await reduced)).toEqual([10, 20, 30]);
    expect(sum.buffer.byteLength).toBe(0);
    expect((await gathered).map((t) => Array.from(t))).toEqual([[1, 2], [3, 4]]);
  });

  it('a MeshError crosses with its code, message and peer (and stays a MeshError); other errors keep code, rank and cause', async () => {
    const { group, remote } = bridge();
    const g = remote.current()!;
    const timedOut = g.allGather(Float32Array.of(1)).catch((e: unknown) => e);
    const refused = g.allReduce(Float32Array.of(1)).catch((e: unknown) => e);
    const left = g.barrier().catch((e: unknown) => e);
    await settle();
    group.calls[0]!.reject(new MeshError('ERR_TIMEOUT', 'allGather: no answer from peer p2 within 1500 ms', 'p2'));
    group.calls[1]!.reject(Object.assign(new Error('tab 2 declared 9e6 workers'), { code: 'ERR_WORLD_TOO_LARGE', rank: 2 }));
    group.calls[2]!.reject(Object.assign(new MeshError('ERR_PEER_LEFT', 'peer p0 left', 'p0'), { cause: new MeshError('ERR_PEER_DROPPED', 'dropped by rank 1', 'p0') }));
    const timeout = (await timedOut) as MeshError;
    expect(timeout).toBeInstanceOf(MeshError);
    expect([timeout.code, timeout.message, timeout.peerId]).toEqual(['ERR_TIMEOUT', 'allGather: no answer from peer p2 within 1500 ms', 'p2']);
    const tooLarge = (await refused) as Error & { code: string; rank: number };
    expect(tooLarge).not.toBeInstanceOf(MeshError);
    expect([tooLarge.code, tooLarge.rank, tooLarge.message]).toEqual(['ERR_WORLD_TOO_LARGE', 2, 'tab 2 declared 9e6 workers']);
    const gone = (await left) as MeshError & { cause: MeshError };
    expect([gone.code, gone.peerId, gone.cause.code, gone.cause.peerId, gone.cause.message]).toEqual(['ERR_PEER_LEFT', 'p0', 'ERR_PEER_DROPPED', 'p0', 'dropped by rank 1']);
    expect(gone.cause).toBeInstanceOf(MeshError);
  });

  it('a call on a group the page no longer tracks fails as a membership change', async () => {
    const { source, remote } = bridge();
    const first = remote.current()!;
    for (let epoch = 8; epoch < 30; epoch++) source.change(new ScriptedGroup(0, 2, epoch, ['a', 'b']));
    await settle();
    const err = (await first.barrier().catch((e: unknown) => e)) as MeshError;
    expect(err).toBeInstanceOf(MeshError);
    expect(err.code).toBe('ERR_MEMBERSHIP_CHANGED');
  });
});

describe('the group source across the bridge', () => {
  it('forwards group changes to the worker, and restart, exclude and the step pace to the page', async () => {
    const { source, remote, group } = bridge();
    const seen: Array<[number, number, number, string[], boolean] | null> = [];
    remote.subscribe((g, complete) => seen.push(g ? [g.rank, g.size, g.epoch, Array.from({ length: g.size }, (_, r) => g.peerIdOf(r)), complete] : null));
    const next = new ScriptedGroup(0, 2, 8, ['p0', 'p2']);
    source.change(next, false);
    source.change(null);
    source.change(next);
    await settle();
    expect(seen).toEqual([[0, 2, 8, ['p0', 'p2'], false], null, [0, 2, 8, ['p0', 'p2'], true]]);
    expect(remote.current()!.epoch).toBe(8);

    remote.restart(remote.current()!, new MeshError('ERR_TIMEOUT', 'gather timed out', 'p2'));
    remote.exclude('p2', Object.assign(new Error('gradient of peer p2 is not finite'), { code: 'ERR_BAD_PEER_DATA', peerId: 'p2' }));
    await settle();
    expect(source.restarts).toHaveLength(1);
    expect(source.restarts[0]!.group).toBe(next);
    expect(source.restarts[0]!.group).not.toBe(group);
    expect(source.restarts[0]!.reason).toBeInstanceOf(MeshError);
    expect((source.restarts[0]!.reason as MeshError).code).toBe('ERR_TIMEOUT');
    expect(source.excludes.map((e) => [e.peerId, (e.reason as Error & { code: string }).code, e.reason.message])).toEqual([['p2', 'ERR_BAD_PEER_DATA', 'gradient of peer p2 is not finite']]);

    let pace = 250;
    let computing: number | null = null;
    remote.setPace(() => pace, () => computing);
    await settle();
    expect(source.paceFn!()).toBe(250);
    expect(remote.pace()).toEqual(source.roomPace);
    // A step computing: the reading carries its compute so far, and the page's figure grows from it.
    const at = Date.now();
    computing = 320;
    pace = 320;
    remote.setPace(() => pace, () => computing);
    await settle();
    expect(source.paceFn!()).toBeGreaterThanOrEqual(320);
    expect(source.paceFn!()).toBeLessThanOrEqual(320 + (Date.now() - at) + 5);
  });

  it('extrapolates a growing reading: a step computing for 2 s longer than the reading says is 2 s slower', () => {
    const { host } = bridge();
    (host as unknown as { reading: unknown }).reading = { paceMs: 500, computingMs: 400, at: 1_000 };
    expect(host.paceMs(1_000)).toBe(500);
    expect(host.paceMs(3_000)).toBe(2_400);
    (host as unknown as { reading: unknown }).reading = { paceMs: 500, computingMs: null, at: 1_000 };
    expect(host.paceMs(9_000)).toBe(500);
  });

  it('destroy rejects pending calls with ERR_DESTROYED, detaches every listener, and later calls fail the same way', async () => {
    const { remote, host, source, pagePort, workerPort, group } = bridge();
    const g = remote.current()!;
    const pending = g.allGather(Float32Array.of(1)).catch((e: unknown) => e);
    remote.setPace(() => 1);
    await settle();
    expect(pagePort.listeners()).toBe(1);
    expect(workerPort.listeners()).toBe(1);
    expect(source.subscribers).toBe(1);
    remote.destroy();
    remote.destroy();
    host.destroy();
    const err = (await pending) as MeshError;
    expect(err).toBeInstanceOf(MeshError);
    expect(err.code).toBe('ERR_DESTROYED');
    expect(((await g.barrier().catch((e: unknown) => e)) as MeshError).code).toBe('ERR_DESTROYED');
    expect([pagePort.listeners(), workerPort.listeners(), source.subscribers]).toEqual([0, 0, 0]);
    // A late result from the page's group goes nowhere and throws nowhere.
    group.calls[0]!.resolve([Float32Array.of(1)]);
    await settle();
  });
});
