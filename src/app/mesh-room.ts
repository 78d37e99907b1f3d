/**
 * The room connection over the real mesh (src/mesh/mesh.ts): admission, the room's member list with
 * link state and round-trip times, the shared config, and every mesh failure, reported to the
 * controller through one RoomListener.
 */
import { Mesh } from '../mesh/mesh.ts';
import type { WebSocketCtor } from '../mesh/signaling-client.ts';
import { meshGroups, type GroupSource } from '../train/session.ts';
import type { Member, RoomConfig } from '../server/protocol.ts';
import type { ConnectionState, PeerInfo, RoomConnection, RoomConnector, RoomListener } from './ports.ts';

/** How often the peers table's round-trip times refresh, in ms. */
export const RTT_REFRESH_MS = 2_000;

/**
 * The server sends the room's stored config and member list right after `welcome`, while Mesh.join
 * is still resolving, so those first messages reach the mesh before anyone can listen. This socket
 * lets us read them as they arrive (a second, read-only listener; the mesh keeps the socket).
 */
function tappedWebSocket(tap: (msg: { type?: string; [k: string]: unknown }) => void) {
  return class TappedWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      this.addEventListener('message', (ev) => {
        if (typeof ev.data !== 'string') return;
        try {
          tap(JSON.parse(ev.data) as { type?: string });
        } catch {
          // The signaling client reports malformed frames itself.
        }
      });
    }
  };
}

class MeshRoom implements RoomConnection {
  readonly roomId: string;
  readonly selfId: string;
  private roomMembers: Member[] = [];
  private readonly offs: Array<() => void> = [];
  private rttTimer: ReturnType<typeof setInterval> | undefined;
  private destroyed = false;

  constructor(
    private readonly mesh: Mesh,
    private readonly listener: RoomListener,
    joinMembers: Member[],
  ) {
    this.roomId = mesh.roomId;
    this.selfId = mesh.selfId;
    this.roomMembers = joinMembers;
    const state: Record<string, ConnectionState> = { connecting: 'connecting', open: 'connected', reconnecting: 'reconnecting', closed: 'closed' };
    this.offs.push(
      mesh.signaling.on('state', (s) => listener.onState(state[s] ?? 'connecting')),
      mesh.signaling.on('members', ({ members }) => {
        this.roomMembers = [...members].sort((a, b) => a.rank - b.rank);
        this.reportPeers();
      }),
      mesh.on('membership', () => this.reportPeers()),
      mesh.on('config', ({ from, config }) => listener.onConfig(config, from)),
      mesh.on('error', (err) => listener.onError(err)),
      mesh.on('peer-left', ({ reason }) => {
        // A bad frame is also raised as 'error'; report each failure once.
        if (reason.code !== 'ERR_BAD_FRAME') listener.onError(reason);
        this.reportPeers();
      }),
    );
    this.rttTimer = setInterval(() => this.reportPeers(), RTT_REFRESH_MS);
  }

  groups(): GroupSource {
    return meshGroups(this.mesh);
  }

  sendConfig(config: RoomConfig): void {
    this.mesh.setConfig(config);
  }

  setMeta(meta: Member['meta']): void {
    this.mesh.setMeta(meta);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.rttTimer);
    for (const off of this.offs) off();
    this.mesh.destroy();
  }

  reportPeers(): void {
    if (this.destroyed) return;
    const connected = new Set(this.mesh.members.map((m) => m.id));
    const peers: PeerInfo[] = this.roomMembers.map((m) => {
      const rtt = m.id === this.selfId ? null : this.mesh.rttMs(m.id);
      return {
        id: m.id,
        rank: m.rank,
        meta: m.meta,
        rttMs: rtt !== null && Number.isFinite(rtt) ? rtt : null,
        link: m.id === this.selfId ? 'self' : connected.has(m.id) ? 'connected' : 'connecting',
      };
    });
    this.listener.onPeers(peers, this.mesh.epoch);
  }
}

/** Joins (roomId) or creates (null) a room on this page's signaling server. */
export const connectMeshRoom: RoomConnector = async ({ roomId, meta, listener }) => {
  let joinConfig: { from: string | null; config: RoomConfig } | null = null;
  let joinMembers: Member[] = [];
  let joined = false;
  const TappedSocket = tappedWebSocket((msg) => {
    if (joined) return;
    if (msg.type === 'config') joinConfig = { from: null, config: msg.config as RoomConfig };
    if (msg.type === 'members') joinMembers = [...(msg.members as Member[])].sort((a, b) => a.rank - b.rank);
  });
  const mesh = await Mesh.join({ room: roomId === null ? { create: true } : { roomId }, meta, WebSocket: TappedSocket as unknown as WebSocketCtor });
  joined = true;
  const room = new MeshRoom(mesh, listener, joinMembers);
  // Delivered after the controller has the connection: the stored config is a replay (from = null).
  queueMicrotask(() => {
    room.reportPeers();
    if (joinConfig) listener.onConfig(joinConfig.config, null);
  });
  return room;
};
