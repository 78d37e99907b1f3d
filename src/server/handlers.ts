/**
 * Message handlers: rate limit, validate, then dispatch each client message kind. Protocol violations
 * (bad JSON, bad schema, binary frames, rate limit) count against the socket and close it with 1008 at
 * the limit; ordinary refusals (room full, unknown peer) do not, since honest clients hit them in races,
 * except before the socket is in a room (Connection.sendError). A socket must be in a room within the
 * join deadline of opening or leaving one, else it is closed with 4001.
 */
import type { SignalingOptions } from './config.ts';
import { CLOSE_JOIN_TIMEOUT, CLOSE_POLICY_VIOLATION } from './config.ts';
import type { Connection } from './connection.ts';
import { parseClientFrame } from './frames.ts';
import type { Membership } from './membership.ts';
import type { ClientMessage, ErrorCode } from '../signaling/protocol.ts';

export type HandlerOptions = Pick<SignalingOptions, 'maxViolations' | 'joinDeadlineMs' | 'timers' | 'log'>;

export class MessageHandlers {
  constructor(
    private readonly opts: HandlerOptions,
    private readonly membership: Membership,
  ) {}

  /** A socket opened: it is not in a room yet, so its join deadline starts. */
  onOpen(conn: Connection): void {
    this.armJoinDeadline(conn);
  }

  /** A socket closed: its join deadline (if any) is moot. */
  onClose(conn: Connection): void {
    this.disarmJoinDeadline(conn);
  }

  /** Entry point for every inbound WebSocket message. Never throws. */
  onMessage(conn: Connection, data: Uint8Array | ArrayBuffer | Uint8Array[], isBinary: boolean): void {
    if (conn.closed) return;
    conn.lastSeenAt = this.opts.timers.now();
    if (!conn.bucket.take()) {
      return this.violation(conn, 'ERR_RATE_LIMIT', 'too many messages: slow down');
    }
    const frame = parseClientFrame(data, isBinary);
    if (!frame.ok) return this.violation(conn, frame.code, frame.message);
    const wasInRoom = conn.room !== null;
    this.dispatch(conn, frame.message);
    if (conn.closed) return;
    if (!wasInRoom && conn.room !== null) this.disarmJoinDeadline(conn);
    else if (wasInRoom && conn.room === null) this.armJoinDeadline(conn);
  }

  private dispatch(conn: Connection, message: ClientMessage): void {
    switch (message.type) {
      case 'create':
        return this.membership.create(conn, message.meta);
      case 'join':
        return this.membership.join(conn, message);
      case 'leave':
        if (!conn.room) return conn.sendError('ERR_NOT_IN_ROOM', 'this connection is not in a room');
        return this.membership.leave(conn);
      case 'meta':
        if (!conn.room) return conn.sendError('ERR_NOT_IN_ROOM', 'join a room before sending meta');
        return this.membership.setMeta(conn, message.meta);
      case 'config':
        return this.onConfig(conn, message.config);
      case 'signal':
        return this.onSignal(conn, message.to, message.data);
    }
  }

  /** Relays a signal to one member of the sender's own room, with `from` stamped here. */
  private onSignal(conn: Connection, to: string, data: Extract<ClientMessage, { type: 'signal' }>['data']): void {
    const room = conn.room;
    if (!room || conn.peerId === null) return conn.sendError('ERR_NOT_IN_ROOM', 'join a room before sending signals');
    const target = to === conn.peerId ? undefined : room.seat(to);
    if (!target || !target.holder) {
      return conn.sendError('ERR_UNKNOWN_PEER', `peer ${to} is not connected to this room`);
    }
    // `data` is the schema's parsed output: unknown fields are already gone. A receiver that stopped
    // reading is terminated by its own send (Connection.sendText); the sender never waits for it.
    target.holder.send({ type: 'signal', from: conn.peerId, data });
  }

  /** Stores the room's config (latest wins) and broadcasts it to every member, the sender included. */
  private onConfig(conn: Connection, config: Extract<ClientMessage, { type: 'config' }>['config']): void {
    if (!conn.room || conn.peerId === null) return conn.sendError('ERR_NOT_IN_ROOM', 'join a room before sending config');
    this.membership.setConfig(conn, config);
  }

  private violation(conn: Connection, code: ErrorCode, message: string): void {
    conn.sendError(code, message);
    conn.violations++;
    if (conn.violations >= this.opts.maxViolations && !conn.brokeProtocol) {
      this.opts.log(`socket ${conn.connId} closed after ${conn.violations} invalid messages`);
      conn.brokeProtocol = true;
      conn.ws.close(CLOSE_POLICY_VIOLATION, 'too many invalid messages');
    }
  }

  private armJoinDeadline(conn: Connection): void {
    this.disarmJoinDeadline(conn);
    conn.errorsBeforeJoin = 0;
    conn.joinTimer = this.opts.timers.setTimeout(() => {
      conn.joinTimer = undefined;
      if (conn.closed || conn.room !== null) return;
      conn.sendError('ERR_JOIN_TIMEOUT', `no room joined within ${this.opts.joinDeadlineMs} ms of connecting`);
      conn.ws.close(CLOSE_JOIN_TIMEOUT, 'no room joined in time');
    }, this.opts.joinDeadlineMs);
  }

  private disarmJoinDeadline(conn: Connection): void {
    if (conn.joinTimer === undefined) return;
    this.opts.timers.clearTimeout(conn.joinTimer);
    conn.joinTimer = undefined;
  }
}
