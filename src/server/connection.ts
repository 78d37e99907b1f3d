/** One signaling socket: its seat (if any), its rate limiter and its violation count. */
import type { WebSocket } from 'ws';
import type { ErrorCode, ServerMessage } from '../signaling/protocol.ts';
import type { Room, SeatHolder } from './rooms.ts';
import { TokenBucket } from './rateLimiter.ts';

export class Connection implements SeatHolder {
  /** The room this socket sits in, with its peer id; both null outside a room. */
  room: Room<Connection> | null = null;
  peerId: string | null = null;
  /** Protocol violations so far; reaching the limit closes the socket with 1008. */
  violations = 0;
  /** Last time (server clock, ms) a message or pong arrived: the heartbeat's liveness signal. */
  lastSeenAt: number;
  readonly bucket: TokenBucket;
  closed = false;
  /** Set when ws reported a protocol error (oversized message, bad UTF-8, bad framing) or violations hit the limit. */
  brokeProtocol = false;

  constructor(
    readonly connId: number,
    readonly ws: WebSocket,
    now: () => number,
    perSecond: number,
    burst: number,
  ) {
    this.lastSeenAt = now();
    this.bucket = new TokenBucket(perSecond, burst, now);
  }

  /** Sends if the socket is open; a closing socket silently drops the message. */
  send(message: ServerMessage): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(message));
  }

  sendError(code: ErrorCode, message: string): void {
    this.send({ type: 'error', code, message });
  }
}
