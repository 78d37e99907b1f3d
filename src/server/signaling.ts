/**
 * The signaling endpoint: a `ws` WebSocketServer attached to an existing http(s) server, answering
 * upgrades on SIGNAL_PATH only (other upgrade paths, such as Vite's HMR socket, are left to their owners).
 * Peers create or join rooms, see the member list, relay WebRTC offers/answers/candidates to each other
 * and share the room's training config. See protocol.ts for the messages and config.ts for the limits.
 */
import type * as http from 'node:http';
import type * as https from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { AddressCounter, canonicalAddress, clientAddress } from './addresses.ts';
import { resolveOptions, type SignalingOptions } from './config.ts';
import { Connection } from './connection.ts';
import { MessageHandlers } from './handlers.ts';
import { Heartbeat } from './heartbeat.ts';
import { Membership } from './membership.ts';
import { OriginPolicy } from './origin-check.ts';
import { RoomStore } from './room-store.ts';
import { SIGNAL_PATH } from '../signaling/protocol.ts';

export type { SignalingOptions } from './config.ts';
export { DEFAULT_SIGNALING_OPTIONS } from './config.ts';

/** A snapshot of the server's state, for tests and monitoring. */
export interface SignalingStats {
  rooms: number;
  /** Seats over all rooms, live or waiting out their grace period. */
  members: number;
  /** Seats whose socket dropped and that are waiting for a resume. */
  seatsInGrace: number;
  /** Open sockets known to the handlers. */
  connections: number;
  /** Sockets tracked by the ws server itself (should equal `connections`). */
  wsClients: number;
  /** Grace timers pending. */
  pendingTimers: number;
  /** Sockets accepted since start. */
  acceptedTotal: number;
  /** Upgrades refused (wrong origin, too many connections) since start. */
  refusedTotal: number;
  /** Client addresses with at least one open socket. */
  addresses: number;
  /** Sockets closed for not reading (bufferedAmount past maxBufferedBytes) since start. */
  evictedTotal: number;
  /** Bytes queued for sending over all sockets now, and the largest queue of one socket. */
  queuedBytes: number;
  maxQueuedBytes: number;
}

export interface SignalingHandle {
  /** Closes every socket, frees all rooms and timers and detaches from the http server. Idempotent. */
  close(): void;
  stats(): SignalingStats;
  /** The effective options (defaults merged with the caller's). */
  readonly options: Readonly<SignalingOptions>;
  /** Runs one heartbeat round now (for tests driving their own timers). */
  heartbeatNow(): void;
  /** Opens an empty room and returns its id (the room link printed at start). */
  openRoom(): string;
}

/** Close codes after which the peer is gone for good; any other close (1006: no close frame) starts the grace period. */
const ABNORMAL_CLOSE = 1006;

/** Attaches the signaling WebSocket endpoint (path SIGNAL_PATH) to `server`. */
export function attachSignaling(
  server: http.Server | https.Server,
  options: Partial<SignalingOptions> = {},
): SignalingHandle {
  const opts = resolveOptions(options);
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes, perMessageDeflate: false });
  const connections = new Set<Connection>();
  const socketsByAddress = new AddressCounter();
  const trustedProxies = new Set(opts.trustedProxies.map(canonicalAddress));
  const origins = new OriginPolicy(server, opts.allowedOrigins, opts.timers.now);
  // The rooms' state on disk (stateDir): read once now, written after every change that it holds.
  const store = opts.stateDir === undefined
    ? null
    : new RoomStore({ dir: opts.stateDir, maxRooms: opts.maxRooms, maxSeatsPerRoom: opts.maxPeersPerRoom, timers: opts.timers, log: opts.log }, () => membership.snapshot());
  const membership: Membership = new Membership(opts, store);
  if (store) membership.restore(store.load());
  const handlers = new MessageHandlers(opts, membership);
  const heartbeat = new Heartbeat(opts, () => connections);
  const limits = { ...opts, now: opts.timers.now };
  let nextConnId = 1;
  let acceptedTotal = 0;
  let refusedTotal = 0;
  let evictedTotal = 0;
  let closed = false;

  const refuse = (socket: Duplex, status: number, reason: string): void => {
    refusedTotal++;
    const body = `${reason}\n`; // ASCII: length = bytes
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`,
    );
  };

  const accept = (ws: WebSocket, address: string): void => {
    const conn = new Connection(nextConnId++, ws, address, limits);
    connections.add(conn);
    socketsByAddress.add(address);
    acceptedTotal++;
    handlers.onOpen(conn);
    ws.on('message', (data, isBinary) => handlers.onMessage(conn, data as Uint8Array | Uint8Array[], isBinary));
    ws.on('pong', () => heartbeat.onPong(conn));
    // ws reports oversized or malformed frames as 'error' and then closes; without a listener Node would throw.
    ws.on('error', (err) => {
      conn.brokeProtocol = true;
      opts.log(`socket ${conn.connId}: ${err.message}`);
    });
    ws.once('close', (code) => {
      conn.closed = true;
      connections.delete(conn);
      socketsByAddress.remove(address);
      handlers.onClose(conn);
      ws.removeAllListeners();
      ws.on('error', () => {});
      if (closed) return;
      if (conn.evicted) {
        evictedTotal++;
        opts.log(`socket ${conn.connId} closed: it stopped reading (more than ${opts.maxBufferedBytes} bytes queued)`);
      }
      // A socket that broke the protocol (oversized or malformed frames) may look like an abnormal drop
      // when its close handshake never completes; it does not get a grace period. Neither does a reader
      // that stopped reading: its peers must see it leave now.
      if (code === ABNORMAL_CLOSE && !conn.brokeProtocol && !conn.evicted) membership.dropped(conn);
      else membership.leave(conn);
    });
  };

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Parameters<WebSocketServer['handleUpgrade']>[2]): void => {
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return;
    }
    if (pathname !== SIGNAL_PATH) return;
    if (closed) return refuse(socket, 503, 'Service Unavailable');
    if (!origins.allows(req.headers.origin)) return refuse(socket, 403, 'Forbidden');
    const address = clientAddress(req, trustedProxies);
    if (socketsByAddress.get(address) >= opts.maxConnectionsPerAddress) return refuse(socket, 429, 'Too Many Requests');
    if (connections.size >= opts.maxConnections) return refuse(socket, 503, 'Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, address));
  };
  server.on('upgrade', onUpgrade);

  return {
    options: opts,
    close(): void {
      if (closed) return;
      closed = true;
      server.off('upgrade', onUpgrade);
      heartbeat.stop();
      for (const conn of connections) {
        conn.closed = true;
        handlers.onClose(conn);
        conn.ws.terminate();
      }
      connections.clear();
      socketsByAddress.clear();
      // Saved before the rooms are freed: a restart gives them back.
      store?.close();
      membership.close();
      wss.close();
    },
    stats(): SignalingStats {
      let members = 0;
      let seatsInGrace = 0;
      let queuedBytes = 0;
      let maxQueuedBytes = 0;
      for (const conn of connections) {
        queuedBytes += conn.ws.bufferedAmount;
        maxQueuedBytes = Math.max(maxQueuedBytes, conn.ws.bufferedAmount);
      }
      for (const room of membership.rooms.all()) {
        members += room.seats.length;
        for (const seat of room.seats) if (!seat.holder) seatsInGrace++;
      }
      return {
        rooms: membership.rooms.size,
        members,
        seatsInGrace,
        connections: connections.size,
        wsClients: wss.clients.size,
        pendingTimers: membership.pendingTimers,
        acceptedTotal,
        refusedTotal,
        addresses: socketsByAddress.size,
        evictedTotal,
        queuedBytes,
        maxQueuedBytes,
      };
    },
    heartbeatNow: () => heartbeat.tick(),
    openRoom: () => membership.reserve(),
  };
}
