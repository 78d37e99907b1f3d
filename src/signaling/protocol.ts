/**
 * Signaling protocol shared by the Node server (src/server/) and the browser client (src/mesh/); like
 * everything in src/signaling/, it imports nothing from Node, so browser code never reaches into src/server/.
 * JSON text frames over one WebSocket at path `/signal`. Every inbound message is validated with these
 * schemas; unknown fields are dropped (zod's default strip; `transceiverRequest` refuses them),
 * unknown kinds are refused.
 *
 * Flow: a client sends `create` (the server makes a room with an unguessable id) or `join` with the id
 * from the room link, gets `welcome` with its own peer id and the seat's secret resume token, then
 * `members` on every change. Offers, answers and ICE candidates travel as `signal {to, data}` and
 * arrive as `signal {from, data}` with `from` stamped by the server. `config` carries the room's
 * shared training configuration: the server keeps the latest one per room and sends it to each peer
 * that joins.
 */
import { z } from 'zod';

export const SIGNAL_PATH = '/signal';
export const PROTOCOL_VERSION = 1;

/** Room ids: 22+ chars of base64url = at least 128 random bits. */
export const RoomId = z.string().regex(/^[A-Za-z0-9_-]{22,64}$/, 'room id must be 22-64 base64url characters');
export const PeerId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);
/** A seat's secret, opaque to clients: `<seq>.<base64url MAC>` (see src/server/resume-tokens.ts). */
export const ResumeToken = z.string().regex(/^[0-9]{1,15}\.[A-Za-z0-9_-]{16,64}$/, 'resume token is malformed');

/** What a peer tells the room about itself (shown in the peers table). */
export const PeerMeta = z.object({
  name: z.string().max(64).optional(),
  device: z.string().max(128).optional(),
  backend: z.enum(['webgpu', 'webgpu-fallback', 'cpu']).optional(),
  virtualWorkers: z.number().int().min(1).max(64).optional(),
  /**
   * The run this peer is training (the room state's run id), absent when it is not training: a run's
   * group forms only from the peers that confirm it (src/mesh/mesh.ts), so a member whose backend
   * failed, or that trains another run, is never waited for.
   */
  run: z.string().max(64).optional(),
});
export type PeerMeta = z.infer<typeof PeerMeta>;

/**
 * What simple-peer 9.11.1 emits when a non-initiator calls `addTransceiver(kind, init)`: the initiator
 * hands `kind` and `init` to RTCPeerConnection.addTransceiver, so nothing beyond that shape is relayed
 * (strict: extra keys are refused, not stripped). A kind is 'audio' or 'video' (a track does not survive
 * JSON); `init` is RTCRtpTransceiverInit without `streams` (MediaStreams do not survive JSON either).
 */
const TransceiverRequest = z
  .object({
    kind: z.enum(['audio', 'video']),
    init: z
      .object({
        direction: z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']).optional(),
        sendEncodings: z
          .array(
            z
              .object({
                rid: z.string().max(16).optional(),
                active: z.boolean().optional(),
                maxBitrate: z.number().int().min(0).max(1e9).optional(),
                maxFramerate: z.number().min(0).max(1000).optional(),
                scaleResolutionDownBy: z.number().min(1).max(1024).optional(),
              })
              .strict(),
          )
          .max(4)
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Which of a pair's two peer connections a payload belongs to, for links that carry statistics on a
 * connection of their own (src/mesh/split-link.ts); absent for links of one connection.
 */
const SignalConnection = { connection: z.enum(['stats', 'bulk']).optional() };

/** simple-peer / RTCPeerConnection signaling payloads, and the mesh's refusal of a link type. */
export const SignalData = z.union([
  z.object({ type: z.enum(['offer', 'answer', 'pranswer', 'rollback']), sdp: z.string().max(60_000).optional(), ...SignalConnection }),
  z.object({
    type: z.literal('candidate'),
    candidate: z.object({
      candidate: z.string().max(2048),
      sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
      sdpMid: z.string().max(256).nullable().optional(),
      usernameFragment: z.string().max(256).nullable().optional(),
    }),
    ...SignalConnection,
  }),
  z.object({ type: z.literal('renegotiate'), renegotiate: z.literal(true), ...SignalConnection }),
  z.object({ type: z.literal('transceiverRequest'), transceiverRequest: TransceiverRequest, ...SignalConnection }),
  /**
   * Not WebRTC: the receiving mesh refuses the sender's link type (src/mesh/link-signals.ts), e.g. split
   * links on one side only. `kind` names the refusing side's link type, for the sender's message.
   */
  z.object({ type: z.literal('link-refused'), code: z.literal('ERR_LINK_MISMATCH'), kind: z.string().max(128) }),
]);
export type SignalData = z.infer<typeof SignalData>;

/** The room's shared configuration: opaque to the server beyond being a small JSON object. */
export const RoomConfig = z.record(z.string().max(64), z.union([z.string().max(256), z.number(), z.boolean(), z.null()]));
export type RoomConfig = z.infer<typeof RoomConfig>;

export const ClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('create'), meta: PeerMeta.optional() }),
  z.object({
    type: z.literal('join'),
    roomId: RoomId,
    meta: PeerMeta.optional(),
    /** Peer id from an earlier session, to keep one's rank after a signaling reconnect. */
    resumePeerId: PeerId.optional(),
    /** The `resumeToken` of that session's welcome: without it a resume is an ordinary join. */
    resumeToken: ResumeToken.optional(),
  }),
  z.object({ type: z.literal('signal'), to: PeerId, data: SignalData }),
  z.object({ type: z.literal('meta'), meta: PeerMeta }),
  z.object({ type: z.literal('config'), config: RoomConfig }),
  z.object({ type: z.literal('leave') }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export interface Member {
  id: string;
  /** Join order within the room, 0-based: rank 0 is the oldest member. */
  rank: number;
  meta: PeerMeta;
}

export type ErrorCode =
  | 'ERR_BAD_JSON'
  | 'ERR_BAD_MESSAGE'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_RATE_LIMIT'
  | 'ERR_ROOM_NOT_FOUND'
  /** The server restarted moments ago and does not know the room yet: retry (its members may recreate it). */
  | 'ERR_ROOM_RESTORING'
  | 'ERR_ROOM_FULL'
  | 'ERR_TOO_MANY_ROOMS'
  | 'ERR_NOT_IN_ROOM'
  | 'ERR_ALREADY_IN_ROOM'
  | 'ERR_UNKNOWN_PEER'
  | 'ERR_ORIGIN'
  | 'ERR_JOIN_TIMEOUT'
  | 'ERR_PROTOCOL_VERSION';

export type ServerMessage =
  | {
      type: 'welcome';
      version: number;
      peerId: string;
      roomId: string;
      /** Secret of this seat: present it with `resumePeerId` to take the seat back. Never shared with others. */
      resumeToken: string;
      iceServers: RTCIceServerLike[];
      limits: { maxPeersPerRoom: number };
    }
  | { type: 'members'; roomId: string; epoch: number; members: Member[] }
  | { type: 'signal'; from: string; data: SignalData }
  | { type: 'config'; from: string | null; config: RoomConfig }
  | { type: 'error'; code: ErrorCode; message: string };

/** The subset of RTCIceServer the server hands out (configured on the server, see src/server/). */
export interface RTCIceServerLike {
  urls: string | string[];
  username?: string;
  credential?: string;
}
