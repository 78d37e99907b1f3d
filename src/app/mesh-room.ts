/**
 * The room connection over the real mesh (src/mesh/mesh.ts): admission, the room's member list with
 * link state and round-trip times, the shared config, and every mesh failure, reported to the
 * controller through one RoomListener.
 */
import { Mesh } from '../mesh/mesh.ts';
import { MeshError } from '../mesh/types.ts';
import { meshGroups, runGroups, type GroupSource } from '../train/session.ts';
import type { Member, RoomConfig } from '../signaling/protocol.ts';
import type { ConnectionState, PeerInfo, RoomConnection, RoomConnector, RoomListener, RunRef } from './ports.ts';

/** How often the peers table's round-trip times refresh, in ms. */
export const RTT_REFRESH_MS = 2_000;

class MeshRoom implements RoomConnection {
  readonly roomId: string;
  readonly selfId: string;
  readonly hasStoredConfig: boolean;
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
    this.hasStoredConfig = mesh.roomConfig !== null && mesh.roomConfig !== undefined;
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

  groups(run?: RunRef): GroupSource {
    return run ? runGroups(this.mesh, run) : meshGroups(this.mesh);
  }

  sendConfig(config: RoomConfig): void {
    this.mesh.setConfig(config);
  }

  setMeta(meta: Member['meta']): void {
    this.mesh.setMeta(meta);
  }

  dropPeer(peerId: string, by: string): void {
    // The session's collectives fail with ERR_PEER_LEFT (this reason as its cause) and the group re-forms without it.
    this.mesh.excludePeer(peerId, new MeshError('ERR_PEER_DROPPED', `peer ${peerId} dropped from the run by ${by}`, peerId));
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
    const groupRank = new Map(this.mesh.members.map((m) => [m.id, m.rank]));
    const peers: PeerInfo[] = this.roomMembers.map((m) => {
      const rtt = m.id === this.selfId ? null : this.mesh.rttMs(m.id);
      return {
        id: m.id,
        rank: m.rank,
        meta: m.meta,
        groupRank: groupRank.get(m.id) ?? null,
        rttMs: rtt !== null && Number.isFinite(rtt) ? rtt : null,
        link: m.id === this.selfId ? 'self' : this.mesh.linked(m.id) ? 'connected' : 'connecting',
      };
    });
    this.listener.onPeers(peers, this.mesh.epoch);
  }
}

/** Joins (roomId) or creates (null) a room on this page's signaling server. */
export const connectMeshRoom: RoomConnector = async ({ roomId, meta, listener }) => {
  const mesh = await Mesh.join({ room: roomId === null ? { create: true } : { roomId }, meta, onRetry: (info) => listener.onRetry?.(info) });
  // The member list and stored config that arrived with the welcome, before anyone could listen.
  const room = new MeshRoom(mesh, listener, [...mesh.roomMemberList].sort((a, b) => a.rank - b.rank));
  const joinConfig = mesh.roomConfig;
  // Delivered after the controller has the connection: the stored config is a replay (from = null).
  queueMicrotask(() => {
    room.reportPeers();
    if (joinConfig) listener.onConfig(joinConfig.config, null);
  });
  return room;
};
