/**
 * Transport contract: a link to one remote peer with two ordered, reliable channels. `stats` carries
 * small latency-critical frames (BatchNorm statistics, heartbeats), `bulk` carries large ones (gradients,
 * keys), so a small frame never queues behind megabytes of bulk traffic (a ping queued behind bulk was
 * measured at 15-25 ms instead of 0.46 ms). Implementations: simple-peer-link.ts (WebRTC) and
 * memory-link.ts (in-process, for tests). Only the code that creates links knows which one is used.
 */

export type Channel = 'stats' | 'bulk';
export const CHANNELS: readonly Channel[] = ['stats', 'bulk'];

/** Largest single message a data channel accepts here (Chromium's SCTP max-message-size). */
export const MAX_CHANNEL_MESSAGE_BYTES = 262_144;

/**
 * `payloadChecked`: the link already ran the wire decoder on this frame (checksum and finiteness
 * included, e.g. in the bulk worker); the receiver need only read its header.
 */
export type LinkMessageHandler = (channel: Channel, data: ArrayBuffer, payloadChecked?: boolean) => void;
/** `reason` is a human-readable cause (e.g. 'data channel closed', 'ICE failed'). */
export type LinkCloseHandler = (reason: string) => void;

export interface Link {
  /** The remote peer's id. */
  readonly remoteId: string;
  /** True once both channels are open and until the link closes. */
  readonly open: boolean;
  /** Sends one message; throws if it exceeds MAX_CHANNEL_MESSAGE_BYTES or the link is not open. */
  send(channel: Channel, data: ArrayBuffer): void;
  /** Bytes queued on `channel` and not yet handed to the network. */
  bufferedAmount(channel: Channel): number;
  /** Resolves once `bufferedAmount(channel) <= lowBytes`, or when the link closes. */
  whenDrained(channel: Channel, lowBytes: number): Promise<void>;
  /** Registers the message handler (one per link; a later call replaces it). */
  onMessage(handler: LinkMessageHandler): void;
  /** Registers the close handler; called once, whatever closed the link (remote, network, destroy). */
  onClose(handler: LinkCloseHandler): void;
  /** Closes both channels; idempotent. */
  destroy(reason?: string): void;
}

/** A link being established through signaling (WebRTC offer/answer/candidates). */
export interface ConnectingLink extends Link {
  /** Feeds a signaling message from the remote peer. */
  signal(data: unknown): void;
  /** Resolves once both channels are open; rejects if the link closes first. */
  readonly opened: Promise<void>;
}

export interface LinkFactoryOptions {
  selfId: string;
  remoteId: string;
  /** Exactly one side of a pair initiates (the mesh picks the peer with the smaller id). */
  initiator: boolean;
  iceServers: RTCIceServer[];
  /** Sends a signaling message to the remote peer (through the signaling server). */
  sendSignal(data: unknown): void;
}

/** Creates links; the mesh receives one, so swapping the transport touches only the factory. */
export type LinkFactory = (opts: LinkFactoryOptions) => ConnectingLink;
