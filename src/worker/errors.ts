/**
 * Errors across the compute bridge. Structured cloning keeps an Error's message but drops its code,
 * peer and class, and the session's recovery is decided by exactly those (`MeshError` codes,
 * ERR_BAD_PEER_* with the offending peer or rank). So errors cross as plain records and are rebuilt:
 * a MeshError as a MeshError (same code, message and peerId), any other error as an Error carrying
 * the same name, code and other primitive fields (rank, layer, step…), with its cause.
 */
import { MeshError, type MeshErrorCode } from '../mesh/types.ts';

/** A cause chain deeper than this is cut (a cause of a cause is as far as any code here looks). */
const MAX_CAUSE_DEPTH = 3;

export interface WireError {
  name: string;
  message: string;
  /** Own enumerable fields of primitive type: code, peerId, rank, layer, step… */
  fields: Record<string, string | number | boolean | null>;
  stack?: string;
  cause?: WireError;
}

export function encodeError(err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), fields: {} };
  const fields: WireError['fields'] = {};
  for (const [key, value] of Object.entries(err)) {
    if (key === 'cause') continue;
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
  }
  const wire: WireError = { name: err.name, message: err.message, fields };
  if (err.stack) wire.stack = err.stack;
  if (err.cause !== undefined && depth < MAX_CAUSE_DEPTH) wire.cause = encodeError(err.cause, depth + 1);
  return wire;
}

export function decodeError(wire: WireError): Error & { code?: string } {
  const { code, peerId } = wire.fields;
  const err: Error & { code?: string } =
    wire.name === 'MeshError' && typeof code === 'string'
      ? new MeshError(code as MeshErrorCode, wire.message, typeof peerId === 'string' ? peerId : undefined)
      : new Error(wire.message);
  Object.assign(err, wire.fields);
  if (wire.name !== err.name) err.name = wire.name;
  if (wire.stack) err.stack = wire.stack;
  if (wire.cause) (err as { cause?: unknown }).cause = decodeError(wire.cause);
  return err;
}
