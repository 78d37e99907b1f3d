/**
 * Types and small helpers of the Mesh (mesh.ts): options, events, members, room links, group epochs.
 */
import type { PeerMeta, RoomConfig } from '../signaling/protocol.ts';
import { MeshError, type ProcessGroup } from './types.ts';
import { fnv1a } from './wire.ts';
import type { RetryInfo, SignalingClientOptions } from './signaling-client.ts';
import type { Timers } from '../util/timers.ts';
import type { CollectiveConfig } from './collectives.ts';
import type { SignalingLinkFactory } from './link-signals.ts';
import type { PeerLimits } from './endpoint.ts';
import type { SendWindowOption } from './send-window.ts';

export interface MeshOptions {
  room: { create: true } | { roomId: string };
  meta?: PeerMeta;
  /** Signaling endpoint; default: SIGNAL_PATH on the page's origin. */
  signalingUrl?: string;
  /** Overrides the welcome's ICE servers ([] = host candidates only, for LAN use). */
  iceServers?: RTCIceServer[];
  /** The link type (default: simple-peer, one WebRTC connection per pair); every peer of a room must use the same. */
  linkFactory?: SignalingLinkFactory;
  WebSocket?: SignalingClientOptions['WebSocket'];
  timers?: Timers;
  collective?: Partial<CollectiveConfig>;
  heartbeatIntervalMs?: number;
  /** Payload bytes per frame (multiple of 4; default CHUNK_PAYLOAD_BYTES). */
  chunkBytes?: number;
  /** Bulk bytes per link sent and not yet processed by the receiver: adaptive (default) or fixed marks (send-window.ts). */
  sendWindow?: SendWindowOption;
  peerTimeoutMs?: number;
  /** Per-peer memory caps (tests lower them); a peer over one is dropped with ERR_PEER_OVER_LIMIT. */
  limits?: PeerLimits;
  /** Each retry of the signaling socket (server down or restarting), before admission and after. */
  onRetry?: (info: RetryInfo) => void;
}

export interface MeshMember {
  id: string;
  /** Rank in the current group (0-based among connected peers). */
  rank: number;
  meta: PeerMeta;
}

export interface MeshEvents {
  /** The connected set changed: a new epoch and its group. `complete`: every room member is connected. */
  membership: { epoch: number; members: MeshMember[]; group: ProcessGroup; complete: boolean };
  /**
   * A peer's link dropped; `reason.code` is ERR_PEER_LEFT, or for a misbehaving peer (excluded from
   * then on) ERR_BAD_FRAME, ERR_PEER_OVER_LIMIT or ERR_BAD_PEER_DATA.
   */
  'peer-left': { peerId: string; reason: MeshError };
  /**
   * Signaling trouble or a refusal (ERR_ROOM_FULL, ERR_ROOM_NOT_FOUND, ERR_SIGNALING), a link that did
   * not open (ERR_TIMEOUT), or a peer of another link type (ERR_LINK_MISMATCH, once per peer).
   */
  error: MeshError;
  config: { from: string | null; config: RoomConfig };
}

/** Room id from a room link (`…/?room=<id>`), for `Mesh.join({ room })`. */
export function roomFromLink(link: string): { roomId: string } {
  const roomId = new URL(link, globalThis.location?.href).searchParams.get('room');
  if (!roomId) throw new MeshError('ERR_ROOM_NOT_FOUND', `no room id in link ${link}`);
  return { roomId };
}

/** Group epoch: a hash of the room's epoch and the connected peer ids in rank order (same on every peer). */
export function groupEpoch(serverEpoch: number, ids: readonly string[]): number {
  return fnv1a(new TextEncoder().encode(`${serverEpoch}|${ids.join(',')}`));
}


/** Drop reasons that exclude a peer for the rest of this mesh's life (it is broken or hostile). */
export const EXCLUDING_CODES: ReadonlySet<string> = new Set(['ERR_BAD_FRAME', 'ERR_PEER_OVER_LIMIT', 'ERR_BAD_PEER_DATA']);
