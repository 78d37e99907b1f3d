/**
 * A training session across the compute bridge (src/worker/session-client.ts ↔ session-host.ts),
 * over a real MessageChannel in Node with a fake session in the "worker": commands arrive in order,
 * events come back with their details (errors with code, peer and cause), the page's state follows
 * the worker without being flipped back by a stale echo, and destroy tears both sides down.
 */
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionLike, SessionState } from '../../src/app/ports.ts';
import { MeshError } from '../../src/mesh/types.ts';
import type { GroupSource } from '../../src/train/session.ts';
import type { TrainConfig } from '../../src/train/types.ts';
import { DEFAULT_CONFIG } from '../../src/train/types.ts';
import { RemoteSession } from '../../src/worker/session-client.ts';
import { SessionHost } from '../../src/worker/session-host.ts';
import { countingPort, ScriptedGroup, ScriptedSource, settle } from './fakes.ts';

/** A session that does what it is told and lets the test emit its events. */
class FakeSession extends EventTarget implements SessionLike {
  state: SessionState = 'idle';
  step = 0;
  readonly commands: string[] = [];
  destroyed = false;
  private finish: (() => void) | null = null;
  constructor(
    readonly config: TrainConfig,
    readonly groups: GroupSource | null,
  ) {
    super();
  }
  private set(state: SessionState): void {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }
  start(): Promise<void> {
    this.commands.push('start');
    this.set('running');
    return new Promise((resolve) => (this.finish = resolve));
  }
  pause(): void {
    this.commands.push('pause');
    if (this.state === 'running') this.set('paused');
  }
  pauseAfter(step: number): void {
    this.commands.push(`pauseAfter ${step}`);
  }
  resume(): void {
    this.commands.push('resume');
    if (this.state === 'paused') this.set('running');
  }
  reset(): void {
    this.commands.push('reset');
  }
  destroy(): void {
    this.destroyed = true;
    this.finish?.();
  }
  emitStep(step: number, loss: number): void {
    this.step = step + 1;
    this.dispatchEvent(new CustomEvent('step', { detail: { step, loss, sourceOf: [1, 0] } }));
  }
  end(): void {
    this.set('done');
    this.finish?.();
  }
  emit(name: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function pair(groups: GroupSource | null = null) {
  const { port1, port2 } = new MessageChannel();
  const pagePort = countingPort(port1);
  const workerPort = countingPort(port2);
  let fake: FakeSession | null = null;
  const host = new SessionHost(workerPort, ({ config, groups: remoteGroups }) => (fake = new FakeSession(config, remoteGroups)));
  const session = new RemoteSession(pagePort, { config: { ...DEFAULT_CONFIG, steps: 7 }, trace: true, groups });
  cleanups.push(() => {
    session.destroy();
    host.destroy();
    port1.close();
  });
  return { session, host, pagePort, workerPort, fake: () => fake! };
}

function record(session: EventTarget, names: string[]): Array<[string, unknown]> {
  const seen: Array<[string, unknown]> = [];
  for (const name of names) session.addEventListener(name, (ev) => seen.push([name, (ev as CustomEvent).detail]));
  return seen;
}

describe('a session in the worker, driven from the page', () => {
  it('opens with the page’s config and its group; commands arrive in order; step, world and pace events come back', async () => {
    const source = new ScriptedSource(new ScriptedGroup(0, 2, 3, ['me', 'you']));
    const { session, fake } = pair(source);
    const seen = record(session, ['step', 'world', 'pace', 'state']);
    const loop = session.start();
    expect(session.state).toBe('running');
    await settle();
    expect(fake().config.steps).toBe(7);
    expect(fake().groups!.current()!.peerIdOf(1)).toBe('you');
    fake().emitStep(0, 2.5);
    fake().emit('world', { tabs: 2, rank: 0, worldSize: 4, firstWorker: 0, localWorkers: 2, step: 0 });
    fake().emit('pace', { slowest: { peerId: 'you', stepMs: 900 }, waitingFor: null });
    fake().emitStep(1, 2.25);
    fake().end();
    await loop;
    expect(seen).toEqual([
      ['state', 'running'],
      ['step', { step: 0, loss: 2.5, sourceOf: [1, 0] }],
      ['world', { tabs: 2, rank: 0, worldSize: 4, firstWorker: 0, localWorkers: 2, step: 0 }],
      ['pace', { slowest: { peerId: 'you', stepMs: 900 }, waitingFor: null }],
      ['step', { step: 1, loss: 2.25, sourceOf: [1, 0] }],
      ['state', 'done'],
    ]);
    expect(session.step).toBe(2);
    expect(fake().commands).toEqual(['start']);
  });

  it('pause then resume in one tick leaves it running; a stale echo of "paused" does not flip the page', async () => {
    const { session, fake } = pair();
    const seen = record(session, ['state']);
    void session.start();
    session.pause();
    expect(session.state).toBe('paused');
    session.resume();
    expect(session.state).toBe('running');
    await settle();
    expect(fake().commands).toEqual(['start', 'pause', 'resume']);
    expect(fake().state).toBe('running');
    expect(session.state).toBe('running');
    expect(seen.map(([, s]) => s)).toEqual(['running', 'paused', 'running']);
  });

  it('an error event crosses with its code, peer and cause; a MeshError stays one', async () => {
    const { session, fake } = pair();
    const errors = record(session, ['error']);
    void session.start();
    await settle();
    fake().emit('error', Object.assign(new MeshError('ERR_PEER_LEFT', 'peer p9 left', 'p9'), { cause: Object.assign(new Error('bad rows'), { code: 'ERR_BAD_PEER_ROWS', rank: 1 }) }));
    await settle();
    const err = errors[0]![1] as MeshError & { cause: Error & { code: string; rank: number } };
    expect(err).toBeInstanceOf(MeshError);
    expect([err.code, err.message, err.peerId, err.cause.code, err.cause.rank]).toEqual(['ERR_PEER_LEFT', 'peer p9 left', 'p9', 'ERR_BAD_PEER_ROWS', 1]);
  });

  it('destroy stops the worker’s session, settles start(), closes the channel and detaches every listener', async () => {
    const source = new ScriptedSource(new ScriptedGroup(0, 2, 3, ['me', 'you']));
    const { session, fake, pagePort, workerPort } = pair(source);
    const loop = session.start();
    await settle();
    expect([pagePort.listeners(), workerPort.listeners(), source.subscribers]).toEqual([2, 2, 1]);
    const pending = fake().groups!.current()!.allGather(Float32Array.of(1)).catch((e: unknown) => e);
    session.destroy();
    session.destroy();
    await loop;
    await settle();
    expect(fake().destroyed).toBe(true);
    expect(((await pending) as MeshError).code).toBe('ERR_DESTROYED');
    expect([pagePort.listeners(), workerPort.listeners(), source.subscribers]).toEqual([0, 0, 0]);
    await expect(session.start()).rejects.toMatchObject({ code: 'ERR_DESTROYED' });
  });
});

describe('a session the worker cannot build', () => {
  it('reports the failure with its code: start() rejects with it and the state is error', async () => {
    const { port1, port2 } = new MessageChannel();
    cleanups.push(() => port1.close());
    const host = new SessionHost(port2 as never, () => {
      throw Object.assign(new Error('mode shuffle needs 2 workers'), { code: 'ERR_WORLD_TOO_SMALL' });
    });
    cleanups.push(() => host.destroy());
    const session = new RemoteSession(port1 as never, { config: DEFAULT_CONFIG, trace: false, groups: null });
    await expect(session.start()).rejects.toMatchObject({ code: 'ERR_WORLD_TOO_SMALL', message: 'mode shuffle needs 2 workers' });
    expect(session.state).toBe('error');
    session.destroy();
  });
});
