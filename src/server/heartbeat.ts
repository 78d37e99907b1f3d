/**
 * Heartbeat: one interval pings every socket; a socket that has sent neither a pong nor a message for
 * `heartbeatTimeoutMs` is terminated (its close handler then starts the peer's resume grace period).
 */
import type { SignalingOptions } from './config.ts';
import type { Connection } from './connection.ts';

export type HeartbeatOptions = Pick<SignalingOptions, 'heartbeatIntervalMs' | 'heartbeatTimeoutMs' | 'timers'>;

export class Heartbeat {
  private handle: unknown;

  constructor(
    private readonly opts: HeartbeatOptions,
    private readonly connections: () => Iterable<Connection>,
  ) {
    this.handle = opts.timers.setInterval(() => this.tick(), opts.heartbeatIntervalMs);
  }

  /** Records a pong: the socket is alive. */
  onPong(conn: Connection): void {
    conn.lastSeenAt = this.opts.timers.now();
  }

  /** One round: terminate the silent, ping the rest. Public so tests with manual timers can step it. */
  tick(): void {
    const now = this.opts.timers.now();
    for (const conn of this.connections()) {
      if (conn.closed) continue;
      if (now - conn.lastSeenAt > this.opts.heartbeatTimeoutMs) {
        conn.ws.terminate();
      } else if (conn.ws.readyState === conn.ws.OPEN) {
        conn.ws.ping();
      }
    }
  }

  stop(): void {
    if (this.handle === undefined) return;
    this.opts.timers.clearInterval(this.handle);
    this.handle = undefined;
  }
}
