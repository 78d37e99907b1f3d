/**
 * What the app controller needs from the rest of the project, as narrow interfaces: the room
 * connection (signaling + WebRTC mesh, src/mesh/), the compute backend (src/backend/) and the training
 * session (src/train/session.ts). src/app/wiring.ts adapts the real modules to these; tests pass fakes.
 */
import type { GroupSource, RoomPace, SessionActivity } from '../train/session.ts';
import type { ServerOrigins } from '../signaling/origins.ts';
import type { PeerMeta, RoomConfig } from '../signaling/protocol.ts';
import type { StepLog, TrainConfig } from '../train/types.ts';

export type BackendBadge = 'webgpu' | 'webgpu-fallback' | 'cpu';

/** One member of the room as the peers table shows it. */
export interface PeerInfo {
  id: string;
  /** Join order in the room, 0-based. */
  rank: number;
  meta: PeerMeta;
  /** Rank in the current process group (index of StepLog.tabComputeMs); absent: same as `rank`. */
  groupRank?: number | null;
  /** Round-trip time of the data channel in ms, when measured. */
  rttMs?: number | null;
  /** `self` for this tab; otherwise the state of the WebRTC link to that peer. */
  link: 'self' | 'connecting' | 'connected' | 'lost';
}

export type ConnectionState = 'offline' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Events a room connection reports; one listener object, so teardown detaches everything at once. */
export interface RoomListener {
  onState(state: ConnectionState): void;
  onPeers(peers: PeerInfo[], epoch: number): void;
  /** The room's shared configuration changed (`from` is null when the server replays the stored one). */
  onConfig(config: RoomConfig, from: string | null): void;
  /** Anything a person should know: room full/unknown, peer lost, bad frame, signaling lost. */
  onError(err: Error & { code?: string; peerId?: string }): void;
  /**
   * The room server could not be reached (or has just restarted and does not know the room yet): the
   * next attempt follows in `delayMs`. Also before the connection resolves, while joining.
   */
  onRetry?(info: { attempt: number; delayMs: number; reason: string; admitted: boolean }): void;
}

/** The run a session trains: its id, and whether this tab joins it in progress (it did not start with it). */
export interface RunRef {
  id: string;
  joining: boolean;
}

export interface RoomConnection {
  readonly roomId: string;
  readonly selfId: string;
  /** Whether the room already had a stored configuration when this tab joined (a link's settings then yield to it). */
  readonly hasStoredConfig?: boolean;
  /**
   * The room's process groups as they change with membership (the session follows them). With `run`,
   * the groups hold only the members that confirm that run, and this tab confirms it while the session
   * follows them.
   */
  groups(run?: RunRef): GroupSource;
  sendConfig(config: RoomConfig): void;
  setMeta(meta: PeerMeta): void;
  /**
   * Drops `peerId` from the run for good (a person chose to stop waiting for it); `by` names this
   * tab in the reason. Absent: this connection cannot drop peers.
   */
  dropPeer?(peerId: string, by: string): void;
  /** Idempotent. */
  destroy(): void;
}

/** Opens a room: `roomId` null creates a new one. Rejects with a coded error (ERR_ROOM_FULL…). */
export type RoomConnector = (opts: { roomId: string | null; meta: PeerMeta; listener: RoomListener }) => Promise<RoomConnection>;

/**
 * What the page holds of the tensor backend: its name and kind. The backend itself runs in the
 * compute worker (src/worker/), or is the Backend object when computing on the page.
 */
export interface BackendHandle {
  readonly label: string;
  readonly kind?: string;
}

export interface BackendChoice {
  backend: BackendHandle;
  badge: BackendBadge;
  /** Why this is not a hardware WebGPU backend, when it is not (shown as a notice). */
  fallbackReason?: Error & { code?: string };
  /** Subscribes to GPU failures that happen later (device lost, validation); returns unsubscribe. */
  onError?: (listener: (err: Error & { code?: string }) => void) => () => void;
  /** Anything else a person should know about where training runs (e.g. ERR_NO_WORKER). */
  notices?: Array<Error & { code?: string }>;
}

export type BackendProvider = () => Promise<BackendChoice>;

export type SessionState = 'idle' | 'running' | 'paused' | 'done' | 'error';

/** The training session as the app drives it (src/train/session.ts `TrainingSession`). */
export interface SessionLike extends EventTarget {
  start(): Promise<void>;
  /** Pauses at once: the step in flight completes, no other begins. */
  pause(): void;
  /**
   * Pauses once 0-based step `step` has completed, decided where the steps run: no later step begins
   * (-1, or a step already completed: at once). The state turns 'paused' after that step's event.
   */
  pauseAfter(step: number): void;
  /** Resumes a paused session, and cancels a pending pauseAfter. */
  resume(): void;
  reset(): void;
  destroy(): void;
  readonly step: number;
  readonly state: SessionState;
  /** What the session is doing right now (src/train/session.ts); absent in stand-ins. */
  readonly activity?: SessionActivity;
}

/** Data of the session's 'pace' event (about once a second while running). */
export type PaceEvent = CustomEvent<RoomPace>;

/**
 * Asks the page's server where other devices can reach it (`GET /api/origins`); null when the server
 * does not say (an older server, a static host): the room view then offers only the page's own link.
 */
export type OriginsProvider = () => Promise<ServerOrigins | null>;

/** `groups` null: this tab trains alone. */
export type SessionFactory = (opts: { backend: BackendHandle; groups: GroupSource | null; config: TrainConfig; trace: boolean }) => SessionLike;

/** Data of the 'step' event. */
export type StepEvent = CustomEvent<StepLog>;
