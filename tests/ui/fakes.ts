/**
 * Stand-ins for the room connection and the training session, so the app's wiring (controller →
 * store → elements) is tested on its own. They follow the port contracts in src/app/ports.ts.
 */
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import type { BackendBadge, BackendProvider, PeerInfo, RoomConnector, RoomListener, RunRef, SessionFactory, SessionLike, SessionState } from '../../src/app/ports.ts';
import type { RoomConfig } from '../../src/signaling/protocol.ts';
import type { TrainConfig } from '../../src/train/types.ts';
import type { RoomPace } from '../../src/train/session.ts';
import { cyclic, stepLog } from './fixtures.ts';

export const FAKE_ROOM_ID = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export interface FakeRoom {
  configs: RoomConfig[];
  listener: RoomListener | null;
  /** Peers this tab dropped from the run (RoomConnection.dropPeer), in order. */
  dropped?: Array<{ peerId: string; by: string }>;
  /** The run each groups() call asked for (null: none), in order. */
  groupRuns?: Array<RunRef | null>;
}

/**
 * A room with this tab (rank 0) and one other peer; config sends are recorded and echoed back as the
 * server does. `unknownRooms`: ids the "server" answers with ERR_ROOM_NOT_FOUND; `storedConfig`: the
 * room already has settings when joined.
 */
export function fakeConnector(room: FakeRoom, opts: { fail?: Error & { code: string }; unknownRooms?: string[]; storedConfig?: boolean; extraPeers?: PeerInfo[]; retriesBeforeJoin?: number } = {}): RoomConnector {
  return async ({ roomId, meta, listener }) => {
    // A server that is down at first: the connection announces each retry, as the real one does.
    for (let attempt = 1; attempt <= (opts.retriesBeforeJoin ?? 0); attempt++) {
      listener.onRetry?.({ attempt, delayMs: 250 * 2 ** (attempt - 1), reason: 'socket closed (1006)', admitted: false });
      await new Promise((r) => setTimeout(r, 1));
    }
    if (opts.fail) throw opts.fail;
    if (roomId !== null && opts.unknownRooms?.includes(roomId)) throw Object.assign(new Error(`no room ${roomId}`), { code: 'ERR_ROOM_NOT_FOUND' });
    room.listener = listener;
    const peers: PeerInfo[] = [
      { id: 'self-peer-id', rank: 0, meta, link: 'self' },
      { id: 'other-peer-id', rank: 1, meta: { device: 'Phone GPU', backend: 'webgpu', virtualWorkers: 2 }, rttMs: 3.25, link: 'connected' },
      ...(opts.extraPeers ?? []),
    ];
    queueMicrotask(() => listener.onPeers(peers, 1));
    return {
      roomId: roomId ?? FAKE_ROOM_ID,
      selfId: 'self-peer-id',
      hasStoredConfig: opts.storedConfig ?? false,
      groups: (run) => {
        (room.groupRuns ??= []).push(run ?? null);
        return { current: () => null, subscribe: () => () => {} };
      },
      sendConfig: (c) => {
        room.configs.push(c);
        setTimeout(() => listener.onConfig(c, 'self-peer-id'), 1);
      },
      setMeta: (m) => {
        peers[0] = { ...peers[0]!, meta: m };
        listener.onPeers([...peers], 1);
      },
      dropPeer: (peerId, by) => (room.dropped ??= []).push({ peerId, by }),
      destroy: () => {},
    };
  };
}

export function fakeBackendProvider(badge: BackendBadge, _label: string): BackendProvider {
  return async () => ({ backend: createCpuBackend(), badge });
}

/** Emits synthetic step logs (cyclic permutation over config.workersPerTab workers) on a timer. */
class FakeSession extends EventTarget implements SessionLike {
  step = -1;
  state: SessionState = 'idle';
  private timer: ReturnType<typeof setInterval> | undefined;
  private pauseAt: number | null = null;

  constructor(
    private readonly config: TrainConfig,
    private readonly intervalMs: number,
    private readonly tabComputeMs: number[] | undefined,
    private readonly pace: RoomPace | undefined,
  ) {
    super();
  }

  async start(): Promise<void> {
    this.setState('running');
    this.tick();
  }
  pause(): void {
    clearInterval(this.timer);
    this.pauseAt = null;
    this.setState('paused');
  }
  /** As a TrainingSession: no step after `step` begins. */
  pauseAfter(step: number): void {
    if (this.state !== 'running') return;
    if (step < 0 || this.step >= step) this.pause();
    else this.pauseAt = step;
  }
  resume(): void {
    this.pauseAt = null;
    this.setState('running');
    this.tick();
  }
  reset(): void {
    clearInterval(this.timer);
    this.step = -1;
    this.setState('idle');
  }
  destroy(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    this.timer = setInterval(() => {
      this.step++;
      const w = this.config.workersPerTab;
      const log = stepLog(this.step, cyclic(w, 1 + (this.step % Math.max(1, w - 1))), { channels: 24, layers: 3, knn: (this.step + 1) % 10 === 0 });
      if (this.tabComputeMs) log.tabComputeMs = [...this.tabComputeMs];
      this.dispatchEvent(new CustomEvent('step', { detail: log }));
      if (this.pace) this.dispatchEvent(new CustomEvent('pace', { detail: this.pace }));
      if (this.step + 1 >= this.config.steps) {
        clearInterval(this.timer);
        this.setState('done');
      } else if (this.pauseAt !== null && this.step >= this.pauseAt) this.pause();
    }, this.intervalMs);
  }

  private setState(state: SessionState): void {
    this.state = state;
    this.dispatchEvent(new Event('state'));
  }
}

/**
 * `tabComputeMs`: what every step reports as the tabs' compute times (StepLog.tabComputeMs); `pace`:
 * what the session's 'pace' event reports after every step.
 */
export function fakeSessionFactory(opts: { stepIntervalMs: number; tabComputeMs?: number[]; pace?: RoomPace }): SessionFactory {
  return ({ config }) => new FakeSession(config, opts.stepIntervalMs, opts.tabComputeMs, opts.pace);
}

/**
 * A signaling server in miniature for several controllers: one room, config messages relayed to every
 * member (the sender included) in arrival order, as src/server does.
 */
export function fakeServer() {
  const listeners = new Map<string, RoomListener>();
  let stored: RoomConfig | null = null;
  const connector =
    (selfId: string): RoomConnector =>
    async ({ meta, listener }) => {
      listeners.set(selfId, listener);
      if (stored) {
        const replay = stored;
        setTimeout(() => listener.onConfig(replay, null), 1);
      }
      listener.onPeers([{ id: selfId, rank: listeners.size - 1, meta, link: 'self' }], listeners.size);
      return {
        roomId: FAKE_ROOM_ID,
        selfId,
        groups: () => ({ current: () => null, subscribe: () => () => {} }),
        sendConfig: (c) =>
          setTimeout(() => {
            stored = c;
            for (const l of listeners.values()) l.onConfig(c, selfId);
          }, 1),
        setMeta: () => {},
        destroy: () => listeners.delete(selfId),
      };
    };
  return { connector };
}
