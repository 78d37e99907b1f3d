/**
 * Browser client of the signaling protocol (src/signaling/protocol.ts): one WebSocket at SIGNAL_PATH on
 * the page's origin. Creates or joins a room, reports members and epochs, relays WebRTC signals and the
 * room's config, maps server errors to MeshError codes, and reconnects with exponential backoff plus
 * `resumePeerId` and the secret `resumeToken` of its latest welcome, so the peer keeps its id and rank
 * (the server gives the seat back only with the token). Data channels do not depend on this socket: a
 * signaling restart leaves the mesh's links untouched.
 *
 * A tab not admitted yet retries the same way while the server cannot be reached (down, restarting)
 * or answers that it has just restarted and does not know the room yet (ERR_ROOM_RESTORING), for at
 * most JOIN_RETRY_LIMIT_MS; each attempt is announced ('retry') so the page can say it is retrying.
 */
import { SIGNAL_PATH, type ClientMessage, type Member, type PeerMeta, type RoomConfig, type RTCIceServerLike, type ServerMessage } from '../signaling/protocol.ts';
import { MeshError, type MeshErrorCode } from './types.ts';
import { realTimers, type Timers } from '../util/timers.ts';

/** First reconnect delay; doubles per failed attempt up to RECONNECT_MAX_MS (with ±25% jitter). */
export const RECONNECT_INITIAL_MS = 250;
export const RECONNECT_MAX_MS = 8_000;
/** Jitter: each delay is the doubled base times a uniform factor in [1 − 0.25, 1 + 0.25]. */
export const RECONNECT_JITTER = 0.25;
/**
 * A tab that has not been admitted yet gives up after retrying this long (ms): longer than a server
 * restart takes (seconds) plus the server's restore window (ROOM_RESTORE_MS, 30 s), short enough that
 * a link to a server that is really gone fails within two minutes instead of spinning forever.
 */
export const JOIN_RETRY_LIMIT_MS = 120_000;
/** Signals queued while the socket is down (ICE candidates mostly); older ones are dropped first. */
export const MAX_QUEUED_MESSAGES = 256;

/** The subset of the WebSocket API used here (the browser's, `ws`'s, or a test double). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

export interface Welcome {
  peerId: string;
  roomId: string;
  iceServers: RTCIceServerLike[];
  maxPeersPerRoom: number;
}

export type SignalingState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** One scheduled retry: the attempt that failed (1-based), the wait before the next, and why. */
export interface RetryInfo {
  attempt: number;
  delayMs: number;
  reason: string;
  /** Whether this tab was admitted before (a reconnect) or is still trying to get in. */
  admitted: boolean;
}

export interface SignalingEvents {
  welcome: Welcome;
  members: { roomId: string; epoch: number; members: Member[] };
  signal: { from: string; data: unknown };
  config: { from: string | null; config: RoomConfig };
  error: MeshError;
  state: SignalingState;
  retry: RetryInfo;
}

export interface SignalingClientOptions {
  /** ws:// or wss:// URL of the endpoint; see signalingUrl(). */
  url: string;
  /** Make a new room, or join the one with this id. */
  room: { create: true } | { roomId: string };
  meta?: PeerMeta;
  WebSocket?: WebSocketCtor;
  timers?: Timers;
  /** Jitter source in [0, 1). */
  random?: () => number;
}

/** The signaling URL for a page origin: ws://host/signal, or wss:// on an https page. */
export function signalingUrl(origin: string = globalThis.location.origin): string {
  const url = new URL(SIGNAL_PATH, origin);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

const SOCKET_OPEN = 1;

/**
 * Wait before retry number `attempt` + 1 (0-based count of failures so far): RECONNECT_INITIAL_MS
 * doubled per failure up to RECONNECT_MAX_MS, times a jitter factor from `unit` in [0, 1), so tabs
 * that lost the same server do not all come back in the same millisecond.
 */
export function reconnectDelayMs(attempt: number, unit: number): number {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** Math.min(attempt, 30));
  return base * (1 - RECONNECT_JITTER + 2 * RECONNECT_JITTER * unit);
}

function errorCode(serverCode: string): MeshErrorCode {
  return serverCode === 'ERR_ROOM_FULL' || serverCode === 'ERR_ROOM_NOT_FOUND' ? serverCode : 'ERR_SIGNALING';
}

type Listener<K extends keyof SignalingEvents> = (payload: SignalingEvents[K]) => void;

export class SignalingClient {
  peerId: string | null = null;
  roomId: string | null;
  state: SignalingState = 'connecting';
  private socket: WebSocketLike | null = null;
  private listeners = new Map<keyof SignalingEvents, Set<Listener<never>>>();
  private queue: ClientMessage[] = [];
  private attempt = 0;
  private reconnectTimer: unknown = null;
  private destroyed = false;
  private meta: PeerMeta | undefined;
  /** The seat's secret from the latest welcome; only the server and this client ever see it. */
  private resumeToken: string | null = null;
  private readonly timers: Timers;
  private readonly Ctor: WebSocketCtor;
  private firstWelcome: { resolve(w: Welcome): void; reject(e: MeshError): void } | null = null;
  /** When start() was called (timers clock): a tab never admitted retries until JOIN_RETRY_LIMIT_MS after it. */
  private startedAt = 0;

  constructor(private readonly opts: SignalingClientOptions) {
    this.timers = opts.timers ?? realTimers;
    this.Ctor = opts.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketCtor);
    this.roomId = 'roomId' in opts.room ? opts.room.roomId : null;
    this.meta = opts.meta;
  }

  /** Connects; resolves with the first `welcome`, rejects on a refusal (room full, not found…). */
  start(): Promise<Welcome> {
    const welcome = new Promise<Welcome>((resolve, reject) => (this.firstWelcome = { resolve, reject }));
    this.startedAt = this.timers.now();
    this.connect();
    return welcome;
  }

  on<K extends keyof SignalingEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** Relays a WebRTC signal to peer `to`. */
  sendSignal(to: string, data: unknown): void {
    this.send({ type: 'signal', to, data: data as never });
  }

  /** Shares this peer's description (shown in the peers table). */
  setMeta(meta: PeerMeta): void {
    this.meta = meta;
    this.send({ type: 'meta', meta });
  }

  /** Publishes the room's shared config (the server keeps the latest and gives it to joiners). */
  setConfig(config: RoomConfig): void {
    this.send({ type: 'config', config });
  }

  /** Leaves the room and closes the socket; idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    const socket = this.socket;
    if (socket && socket.readyState === SOCKET_OPEN) socket.send(JSON.stringify({ type: 'leave' } satisfies ClientMessage));
    this.destroyed = true;
    if (this.reconnectTimer !== null) this.timers.clearTimeout(this.reconnectTimer);
    this.detach(socket);
    socket?.close(1000, 'leave');
    this.socket = null;
    this.setState('closed');
    this.firstWelcome?.reject(new MeshError('ERR_DESTROYED', 'signaling client destroyed'));
    this.firstWelcome = null;
  }

  private emit<K extends keyof SignalingEvents>(event: K, payload: SignalingEvents[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) (listener as Listener<K>)(payload);
  }

  private setState(state: SignalingState): void {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state);
  }

  private send(message: ClientMessage): void {
    if (this.destroyed) return;
    if (this.socket && this.socket.readyState === SOCKET_OPEN && this.peerId !== null) {
      this.socket.send(JSON.stringify(message));
      return;
    }
    this.queue.push(message);
    if (this.queue.length > MAX_QUEUED_MESSAGES) this.queue.shift();
  }

  private connect(): void {
    if (this.destroyed) return;
    let socket: WebSocketLike;
    try {
      socket = new this.Ctor(this.opts.url);
    } catch (err) {
      this.onSocketGone(`cannot open ${this.opts.url}: ${(err as Error).message}`);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.destroyed || this.socket !== socket) return;
      const hello: ClientMessage =
        this.roomId === null
          ? { type: 'create', ...(this.meta ? { meta: this.meta } : {}) }
          : {
              type: 'join',
              roomId: this.roomId,
              ...(this.meta ? { meta: this.meta } : {}),
              ...(this.peerId && this.resumeToken ? { resumePeerId: this.peerId, resumeToken: this.resumeToken } : {}),
            };
      socket.send(JSON.stringify(hello));
    };
    socket.onmessage = (ev) => {
      if (this.destroyed || this.socket !== socket) return;
      this.onServerMessage(ev.data);
    };
    socket.onclose = (ev) => {
      if (this.destroyed || this.socket !== socket) return;
      this.onSocketGone(`socket closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`);
    };
    socket.onerror = () => {
      // A close event follows; it carries the decision.
    };
  }

  private onServerMessage(raw: unknown): void {
    let message: ServerMessage;
    try {
      message = JSON.parse(String(raw)) as ServerMessage;
      if (typeof message !== 'object' || message === null || typeof message.type !== 'string') throw new Error('no type');
    } catch {
      this.emit('error', new MeshError('ERR_SIGNALING', 'signaling server sent an unreadable message'));
      return;
    }
    switch (message.type) {
      case 'welcome': {
        const welcome: Welcome = { peerId: message.peerId, roomId: message.roomId, iceServers: message.iceServers ?? [], maxPeersPerRoom: message.limits?.maxPeersPerRoom ?? 0 };
        this.peerId = welcome.peerId;
        this.roomId = welcome.roomId;
        this.resumeToken = typeof message.resumeToken === 'string' ? message.resumeToken : null;
        this.attempt = 0;
        this.setState('open');
        const queued = this.queue;
        this.queue = [];
        for (const m of queued) this.send(m);
        this.emit('welcome', welcome);
        this.firstWelcome?.resolve(welcome);
        this.firstWelcome = null;
        return;
      }
      case 'members':
        this.emit('members', { roomId: message.roomId, epoch: message.epoch, members: message.members });
        return;
      case 'signal':
        this.emit('signal', { from: message.from, data: message.data });
        return;
      case 'config':
        this.emit('config', { from: message.from, config: message.config });
        return;
      case 'error':
        this.onServerError(message.code, message.message);
        return;
    }
  }

  private onServerError(serverCode: string, text: string): void {
    if (serverCode === 'ERR_ROOM_RESTORING' && (this.peerId === null || this.state !== 'open')) {
      // The server restarted moments ago: the room may come back with its members. Try again later.
      const socket = this.socket;
      this.detach(socket);
      socket?.close(1000, 'retrying later');
      this.onSocketGone(`${text} (${serverCode})`);
      return;
    }
    const error = new MeshError(errorCode(serverCode), `signaling: ${text} (${serverCode})`);
    const refusal = serverCode === 'ERR_ROOM_FULL' || serverCode === 'ERR_ROOM_NOT_FOUND' || serverCode === 'ERR_PROTOCOL_VERSION' || serverCode === 'ERR_ORIGIN';
    if (refusal && (this.peerId === null || this.state !== 'open')) {
      // Refused at (re)join: retrying would only be refused again.
      this.firstWelcome?.reject(error);
      this.firstWelcome = null;
      this.emit('error', error);
      this.destroy();
      return;
    }
    this.emit('error', error);
  }

  private onSocketGone(reason: string): void {
    this.detach(this.socket);
    this.socket = null;
    if (this.destroyed) return;
    const delay = reconnectDelayMs(this.attempt, (this.opts.random ?? Math.random)());
    const admitted = this.peerId !== null;
    if (!admitted && this.firstWelcome && this.timers.now() + delay - this.startedAt > JOIN_RETRY_LIMIT_MS) {
      // Never admitted, and the next try would pass the limit: report instead of trying on.
      const seconds = Math.round((this.timers.now() - this.startedAt) / 1000);
      const error = new MeshError('ERR_SIGNALING', `cannot reach the signaling server at ${this.opts.url} (${this.attempt + 1} attempts over ${seconds} s): ${reason}`);
      this.firstWelcome.reject(error);
      this.firstWelcome = null;
      this.emit('error', error);
      this.destroyed = true;
      this.setState('closed');
      return;
    }
    this.setState('reconnecting');
    this.attempt++;
    this.emit('retry', { attempt: this.attempt, delayMs: delay, reason, admitted });
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private detach(socket: WebSocketLike | null): void {
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
  }
}
