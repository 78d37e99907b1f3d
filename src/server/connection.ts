/** One signaling socket: its client address, its seat (if any), its rate limiter and its error counts. */
import type { WebSocket } from 'ws';
import type { ErrorCode, ServerMessage } from '../signaling/protocol.ts';
import type { AddressKey } from './addresses.ts';
import type { Room, SeatHolder } from './rooms.ts';
import { CLOSE_POLICY_VIOLATION } from './config.ts';
import { TokenBucket } from './rateLimiter.ts';

export interface ConnectionLimits {
  now: () => number;
  messagesPerSecond: number;
  messageBurst: number;
  /** Bytes queued for this socket beyond which it is terminated as a reader that stopped reading. */
  maxBufferedBytes: number;
  /** Error replies tolerated while not in a room before the socket is closed with 1008. */
  maxErrorsBeforeJoin: number;
  log: (line: string) => void;
}

export class Connection implements SeatHolder {
  /** The room this socket sits in, with its peer id; both null outside a room. */
  room: Room<Connection> | null = null;
  peerId: string | null = null;
  /** Protocol violations so far; reaching the limit closes the socket with 1008. */
  violations = 0;
  /** Error replies since the socket last was outside a room; reaching the limit closes it with 1008. */
  errorsBeforeJoin = 0;
  /** Join deadline timer while the socket is not in a room. */
  joinTimer: unknown = undefined;
  /** Last time (server clock, ms) a message or pong arrived: the heartbeat's liveness signal. */
  lastSeenAt: number;
  readonly bucket: TokenBucket;
  closed = false;
  /** Set when ws reported a protocol error (oversized message, bad UTF-8, bad framing) or violations hit the limit. */
  brokeProtocol = false;
  /** Set when the socket was terminated for not reading (its seat goes at once, no grace period). */
  evicted = false;

  constructor(
    readonly connId: number,
    readonly ws: WebSocket,
    /** The client address this socket counts under (see addresses.ts). */
    readonly address: AddressKey,
    private readonly limits: ConnectionLimits,
  ) {
    this.lastSeenAt = limits.now();
    this.bucket = new TokenBucket(limits.messagesPerSecond, limits.messageBurst, limits.now);
  }

  /** Sends if the socket is open; a closing socket silently drops the message. */
  send(message: ServerMessage): void {
    this.sendText(JSON.stringify(message));
  }

  /**
   * Sends serialized text, unless that would queue more than `maxBufferedBytes` for a receiver that
   * stopped reading: then the socket is terminated instead (its close handler removes its seat), so a
   * slow reader costs the server a bounded amount of memory and never slows the sender.
   */
  sendText(text: string): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    // text.length ≤ its UTF-8 byte length ≤ 3 × text.length; the server's own messages are mostly ASCII.
    if (this.ws.bufferedAmount + text.length > this.limits.maxBufferedBytes) {
      this.evicted = true;
      this.ws.terminate();
      return;
    }
    this.ws.send(text);
  }

  /** Sends an error; outside a room, errors count towards MAX_ERRORS_BEFORE_JOIN. */
  sendError(code: ErrorCode, message: string): void {
    this.send({ type: 'error', code, message });
    if (this.room !== null || this.closed) return;
    this.errorsBeforeJoin++;
    if (this.errorsBeforeJoin === this.limits.maxErrorsBeforeJoin) {
      this.limits.log(`socket ${this.connId} closed after ${this.errorsBeforeJoin} errors before joining a room`);
      this.brokeProtocol = true;
      this.ws.close(CLOSE_POLICY_VIOLATION, 'too many errors before joining a room');
    }
  }
}
