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
/** How long a peer whose socket dropped keeps its id and rank, waiting for a `join` with resumePeerId (ms). */
export const RESUME_GRACE_MS = 10_000;

/** WebSocket close codes the server uses. */
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_TOO_LARGE = 1009;
/** Application code: the same peer id resumed on a newer socket. */
export const CLOSE_REPLACED = 4000;

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
  /** Token bucket refill rate, messages per second per socket. */
  messagesPerSecond: number;
  /** Token bucket capacity in messages. */
  messageBurst: number;
  /** Protocol violations tolerated per socket before closing it with 1008. */
  maxViolations: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  resumeGraceMs: number;
  /**
   * If set, only these Origin header values may open a socket (others get HTTP 403 at upgrade).
   * Entries are full origins such as 'https://example.org:8443'. Undefined means any origin.
   */
  allowedOrigins: readonly string[] | undefined;
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
  messagesPerSecond: MESSAGES_PER_SECOND,
  messageBurst: MESSAGE_BURST,
  maxViolations: MAX_VIOLATIONS,
  heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
  resumeGraceMs: RESUME_GRACE_MS,
  allowedOrigins: undefined,
  iceServers: [],
  timers: REAL_TIMERS,
  log: () => {},
});

/** Merges caller options over the defaults and freezes the result. */
export function resolveOptions(options: Partial<SignalingOptions> = {}): Readonly<SignalingOptions> {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return Object.freeze({ ...DEFAULT_SIGNALING_OPTIONS, ...defined });
}
