/**
 * How the mesh reads a link type's signaling payloads without knowing the link: which payloads begin a
 * connection (so a second offer for one means the remote restarted the link), and whether the remote
 * signals as this link type does at all. A LinkFactory may carry its rules as `factory.signals`; one
 * without them is read as one connection per pair (simple-peer-link.ts, memory-link.ts).
 *
 * Both sides of a pair must use the same link type. A payload of another type is refused before it
 * reaches a link: the mesh answers with one LINK_REFUSED signal, both sides report ERR_LINK_MISMATCH
 * once and never link that pair again, and the rest of the room carries on without it.
 */
import type { SignalData } from '../signaling/protocol.ts';
import { CHANNELS, type Channel, type LinkFactory } from './transport.ts';

export interface LinkSignals {
  /** The link type in words, for the mismatch message ('one connection per pair'). */
  readonly kind: string;
  /** Whether a remote's payload is one this link type understands (false: the remote uses another type). */
  accepts(signal: unknown): boolean;
  /**
   * The connection that `signal` begins ('' for the only one), or null when it begins none. A second
   * payload beginning the same connection of one link means the remote restarted that link.
   */
  connectionStartedBy(signal: unknown): string | null;
}

/** A link factory with the rules of its signals (absent: ONE_CONNECTION_SIGNALS). */
export type SignalingLinkFactory = LinkFactory & { signals?: LinkSignals };

/** The payload a mesh sends back when it refuses a peer's link type (relayed like any signal). */
export type LinkRefusal = Extract<SignalData, { type: 'link-refused' }>;

function field(signal: unknown, name: 'type' | 'connection'): unknown {
  return typeof signal === 'object' && signal !== null ? (signal as Record<string, unknown>)[name] : undefined;
}

/** Links of one peer connection per pair: their payloads name no connection; each offer begins the link. */
export const ONE_CONNECTION_SIGNALS: LinkSignals = {
  kind: 'one connection per pair',
  accepts: (signal) => field(signal, 'connection') === undefined,
  connectionStartedBy: (signal) => (field(signal, 'type') === 'offer' ? '' : null),
};

/**
 * Split links (split-link.ts): every payload names the connection (`stats` or `bulk`) it belongs to,
 * and each connection has its own offer; both offers of one link may arrive in either order.
 */
export const SPLIT_CONNECTION_SIGNALS: LinkSignals = {
  kind: 'statistics on a connection of their own (split links)',
  accepts: (signal) => CHANNELS.includes(field(signal, 'connection') as Channel),
  connectionStartedBy: (signal) => (field(signal, 'type') === 'offer' ? (field(signal, 'connection') as string) : null),
};

/** The rules of `factory`'s links. */
export function signalsOf(factory: SignalingLinkFactory): LinkSignals {
  return factory.signals ?? ONE_CONNECTION_SIGNALS;
}

/** True for the mesh's own refusal payload (it never reaches a link). */
export function isLinkRefusal(signal: unknown): signal is LinkRefusal {
  return field(signal, 'type') === 'link-refused';
}
