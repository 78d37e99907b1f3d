/**
 * Signaling server configuration: every limit is a named constant with its unit, gathered in one typed,
 * read-only options object. Services receive the fields they use plus injectable timers, so tests can
 * run a 10 s grace period or a heartbeat timeout in milliseconds.
 */
import type { RTCIceServerLike } from '../signaling/protocol.ts';
import type { Timers } from '../util/timers.ts';

/** Largest accepted WebSocket message (all fragments together); larger ones close the socket with 1009. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Peers per room: a mesh of 16 tabs is 120 data channels, about what one phone holds. */
export const MAX_PEERS_PER_ROOM = 16;
/** Live rooms per server process. */
export const MAX_ROOMS = 1_000;
/** Open signaling sockets per server process (checked at upgrade, refused with 503). */
export const MAX_CONNECTIONS = 4_000;
/**
 * Open signaling sockets per client address (checked at upgrade, refused with 429). A machine running
 * a full room of 16 tabs, each with a stale socket the heartbeat has not reaped yet, needs 32; twice
 * that leaves room for a second room. One address can then hold at most 1/62 of MAX_CONNECTIONS.
 */
export const MAX_CONNECTIONS_PER_ADDRESS = 64;
/**
 * Live rooms created (or recreated after a restart) by one client address. Someone testing on one
 * machine opens a few rooms at most; 16 keeps one address under 2% of MAX_ROOMS.
 */
export const MAX_ROOMS_PER_ADDRESS = 16;
/**
 * A socket must be in a room this long after it opened (or after it left one) or it is closed with
 * CLOSE_JOIN_TIMEOUT: a page sends `create`/`join` as soon as the socket opens, so 10 s is generous even
 * over a slow phone link, and an idle socket costs a slot for 10 s instead of for as long as it answers
 * pings (a `ws` client answers them by itself).
 */
export const JOIN_DEADLINE_MS = 10_000;
/**
 * Error replies a socket may collect while not in a room before it is closed with 1008. A browser tab
 * gives up after its first refused join (room full, not found); 10 also covers a few races.
 */
export const MAX_ERRORS_BEFORE_JOIN = 10;
/**
 * A receiver whose socket holds more than this many bytes not yet sent (ws bufferedAmount, on top of
 * what the kernel buffers) is terminated and leaves its room: it has stopped reading. A data-channel
 * SDP is about 1 KB; even a full room's burst at the schema's maximum (15 offers of 60 KB plus their
 * ICE candidates) fits. A stalled reader then costs at most this much server memory.
 */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/**
 * A `meta` change waits this long for further changes before it makes a new room epoch: a settings
 * change that makes every tab send its meta at once becomes one epoch, not one per tab.
 */
export const META_SETTLE_MS = 250;
/**
 * At most one epoch per room from `meta` messages in this interval (ms). Each epoch makes every peer
 * re-form its group and abort its running collectives, so this bounds how often one member can do that
 * to the room (50 `meta` messages made 50 epochs before). The mesh's own recovery (it re-sends its meta
 * after a link failure, and again once the link is back) waits at most this long.
 */
export const META_EPOCH_INTERVAL_MS = 2_000;
/** Sustained inbound messages per second per socket (token bucket refill rate). */
export const MESSAGES_PER_SECOND = 100;
/**
 * Token bucket size (messages). Joining a full room sends an offer plus a dozen trickled ICE candidates
 * to each of 15 peers at once, so the burst must hold a few hundred messages.
 */
export const MESSAGE_BURST = 400;
/** Protocol violations (bad JSON, bad schema, binary frames, rate limit) before the socket is closed with 1008. */
export const MAX_VIOLATIONS = 20;
/** How often the server pings every socket (ms). */
export const HEARTBEAT_INTERVAL_MS = 15_000;
/** A socket silent (no pong, no message) for this long is terminated and its peer leaves (ms). */
export const HEARTBEAT_TIMEOUT_MS = 45_000;
/** How long a peer whose socket dropped keeps its id and rank, waiting for a `join` with its resume token (ms). */
export const RESUME_GRACE_MS = 10_000;
/**
 * After a restart, for this long after a room is recreated, members returning with a valid token take
 * their old places in the old order instead of the last rank (ms). A client's reconnect backoff tops
 * out at 8 s ± 25% (src/mesh/signaling-client.ts), so every member gets at least three attempts.
 */
export const ROOM_RESTORE_MS = 30_000;
/** How long the list of the server's own origins is reused before the network interfaces are read again (ms). */
export const ORIGINS_REFRESH_MS = 5_000;

/** WebSocket close codes the server uses. */
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_TOO_LARGE = 1009;
/** Application code: the same peer id resumed on a newer socket. */
export const CLOSE_REPLACED = 4000;
/** Application code: the socket was not in a room within the join deadline. */
export const CLOSE_JOIN_TIMEOUT = 4001;

/** The process's real timers; handles are unref'd so an idle server never keeps Node alive by itself. */
export const REAL_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export interface SignalingOptions {
  /** Largest message in bytes (ws maxPayload); larger closes the socket with 1009. */
  maxFrameBytes: number;
  maxPeersPerRoom: number;
  maxRooms: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxRoomsPerAddress: number;
  joinDeadlineMs: number;
  maxErrorsBeforeJoin: number;
  /** Outbound bytes queued for one socket beyond which it is terminated (see MAX_BUFFERED_BYTES). */
  maxBufferedBytes: number;
  metaSettleMs: number;
  metaEpochIntervalMs: number;
  /** Token bucket refill rate, messages per second per socket. */
  messagesPerSecond: number;
  /** Token bucket capacity in messages. */
  messageBurst: number;
  /** Protocol violations tolerated per socket before closing it with 1008. */
  maxViolations: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  resumeGraceMs: number;
  roomRestoreMs: number;
  /**
   * Origins allowed to open a socket besides the server's own (its local and LAN URLs, http and https;
   * see origin-check.ts). Entries are full origins such as 'https://example.org:8443'. Other Origin headers
   * get HTTP 403 at upgrade; a request without Origin (not a browser) is admitted.
   */
  allowedOrigins: readonly string[];
  /**
   * Addresses of reverse proxies whose X-Forwarded-For is believed. From any other peer the header is
   * ignored, so a client cannot pick the address its limits are counted under. Default none.
   */
  trustedProxies: readonly string[];
  /**
   * Key of the HMAC that signs resume tokens (≥ 32 bytes). Kept on disk by `npm start` (resume-tokens.ts)
   * so tokens survive a restart; undefined: a random key for this process only.
   */
  resumeKey: Uint8Array | undefined;
  /**
   * Directory where the rooms' state is saved (room-store.ts) so a restarted server gives rooms, their
   * settings and their seats back; `npm start` uses its data directory. Undefined: nothing is saved.
   */
  stateDir: string | undefined;
  /** STUN/TURN servers handed to every peer in `welcome`. Default none: LAN host candidates only. */
  iceServers: readonly RTCIceServerLike[];
  timers: Timers;
  /** Receives one line per notable event (room created/freed, socket closed for abuse). Default: silent. */
  log: (line: string) => void;
}

export const DEFAULT_SIGNALING_OPTIONS: Readonly<SignalingOptions> = Object.freeze({
  maxFrameBytes: MAX_FRAME_BYTES,
  maxPeersPerRoom: MAX_PEERS_PER_ROOM,
  maxRooms: MAX_ROOMS,
  maxConnections: MAX_CONNECTIONS,
  maxConnectionsPerAddress: MAX_CONNECTIONS_PER_ADDRESS,
  maxRoomsPerAddress: MAX_ROOMS_PER_ADDRESS,
  joinDeadlineMs: JOIN_DEADLINE_MS,
  maxErrorsBeforeJoin: MAX_ERRORS_BEFORE_JOIN,
  maxBufferedBytes: MAX_BUFFERED_BYTES,
  metaSettleMs: META_SETTLE_MS,
  metaEpochIntervalMs: META_EPOCH_INTERVAL_MS,
  messagesPerSecond: MESSAGES_PER_SECOND,
  messageBurst: MESSAGE_BURST,
  maxViolations: MAX_VIOLATIONS,
  heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
  resumeGraceMs: RESUME_GRACE_MS,
  roomRestoreMs: ROOM_RESTORE_MS,
  allowedOrigins: [],
  trustedProxies: [],
  resumeKey: undefined,
  stateDir: undefined,
  iceServers: [],
  timers: REAL_TIMERS,
  log: () => {},
});

/** Merges caller options over the defaults and freezes the result. */
export function resolveOptions(options: Partial<SignalingOptions> = {}): Readonly<SignalingOptions> {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return Object.freeze({ ...DEFAULT_SIGNALING_OPTIONS, ...defined });
}
