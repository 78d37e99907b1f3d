/**
 * The app's state, in one observable object. The controller (src/app/controller.ts) is the only
 * writer; elements read `state` and re-render on 'change'. State objects are replaced, never mutated
 * in place, so an element can compare by identity.
 */
import type { BnLayerTrace, BnMode } from '../train/types.ts';
import type { Notice } from './errors.ts';
import { INITIAL_ROOM_STATE, type RoomState } from './room-config.ts';
import type { BackendBadge, ConnectionState, PeerInfo, SessionState } from './ports.ts';
import type { RunProgress } from './progress.ts';
import type { RunSeries } from './series.ts';
import type { SavedRunInfo } from './run-store/store.ts';
import type { ServerOrigins } from '../signaling/origins.ts';
import type { RoomPace } from '../train/session.ts';

/** The statistics of one step as the shuffle view draws them. */
export interface ShuffleFrame {
  step: number;
  /** sourceOf[w]: the worker whose statistics worker w normalised with. */
  sourceOf: number[];
  layers: BnLayerTrace[];
  /** The key encoder's BN mode of the model traced. */
  mode?: BnMode;
  /** Compare mode: the second model's statistics at the same step. */
  compare?: ShuffleFrame;
}

export interface BackendSummary {
  badge: BackendBadge;
  label: string;
}

export interface AppState {
  /** `landing`: no room yet; `room`: in a room; `solo`: training alone in this tab, no room. */
  view: 'landing' | 'room' | 'solo';
  roomId: string | null;
  link: string | null;
  connection: ConnectionState;
  selfId: string | null;
  peers: PeerInfo[];
  room: RoomState;
  runState: SessionState;
  /** Last completed step (0-based), -1 before the first. */
  step: number;
  /**
   * Who the room waits for, as the session last reported it ('pace' event): the slowest live peer and
   * its step time, and the peer this tab waits on now. Null while not training.
   */
  pace: RoomPace | null;
  /** Pace, ETA and activity of the current run (null before the first run). */
  progress: RunProgress | null;
  backend: BackendSummary | null;
  /** The run in progress or last finished, and earlier runs for overlay (current one last). */
  runs: RunSeries[];
  shuffle: ShuffleFrame | null;
  /** Earlier runs of this room saved in this browser (not the one shown), newest first. */
  savedRuns: SavedRunInfo[];
  /** Console-style lines, newest last, bounded. */
  log: string[];
  notices: Notice[];
  /** True while an action (joining, creating) is pending: buttons disable. */
  busy: boolean;
  /** Where other devices reach the server, as it said; null until known or when it does not say. */
  origins: ServerOrigins | null;
}

export const INITIAL_STATE: Readonly<AppState> = Object.freeze({
  view: 'landing',
  roomId: null,
  link: null,
  connection: 'offline',
  selfId: null,
  peers: [],
  room: INITIAL_ROOM_STATE,
  runState: 'idle',
  step: -1,
  pace: null,
  progress: null,
  backend: null,
  runs: [],
  shuffle: null,
  savedRuns: [],
  log: [],
  notices: [],
  busy: false,
  origins: null,
});

/** Notices kept on screen; the oldest go first (each has a distinct key, so this only bounds bursts). */
export const MAX_NOTICES = 8;

/** Dispatches 'change' after every update. */
export class AppStore extends EventTarget {
  private current: AppState;

  constructor(initial: Partial<AppState> = {}) {
    super();
    this.current = { ...INITIAL_STATE, ...initial };
  }

  get state(): AppState {
    return this.current;
  }

  update(patch: Partial<AppState>): void {
    this.current = { ...this.current, ...patch };
    this.dispatchEvent(new Event('change'));
  }

  /** Adds a notice, replacing one with the same key. */
  notify(notice: Notice): void {
    const notices = [...this.current.notices.filter((n) => n.key !== notice.key), notice].slice(-MAX_NOTICES);
    this.update({ notices });
  }

  dismiss(key: string): void {
    this.update({ notices: this.current.notices.filter((n) => n.key !== key) });
  }
}
