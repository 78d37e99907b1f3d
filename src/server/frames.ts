/**
 * Inbound frame validation: raw WebSocket data in, a schema-checked ClientMessage or a readable error out.
 * Nothing here throws on hostile input.
 */
import { ClientMessage, type ErrorCode } from '../signaling/protocol.ts';

/** Keys refused anywhere in a message: they could reach an object's prototype in later code. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Longest validation detail echoed back to the client (characters). */
const MAX_DETAIL_CHARS = 200;

export type FrameResult =
  | { ok: true; message: ClientMessage }
  | { ok: false; code: ErrorCode; message: string };

// Invalid UTF-8 becomes U+FFFD and then fails JSON or schema checks. (TextDecoder rather than Buffer:
// the same code runs under test runners that swap Buffer for a browser polyfill.)
const UTF8 = new TextDecoder('utf-8');

class ForbiddenKeyError extends Error {}

function rejectForbiddenKeys(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key)) throw new ForbiddenKeyError(key);
  return value;
}

/** Validates one WebSocket message. `isBinary` frames are refused: the protocol is JSON text only. */
export function parseClientFrame(data: Uint8Array | ArrayBuffer | Uint8Array[], isBinary: boolean): FrameResult {
  if (isBinary) return { ok: false, code: 'ERR_BAD_MESSAGE', message: 'binary frames are not accepted: send JSON text' };
  const text = Array.isArray(data) ? data.map((part) => UTF8.decode(part, { stream: true })).join('') + UTF8.decode() : UTF8.decode(data);
  let raw: unknown;
  try {
    raw = JSON.parse(text, rejectForbiddenKeys);
  } catch (err) {
    if (err instanceof ForbiddenKeyError) {
      return { ok: false, code: 'ERR_BAD_MESSAGE', message: `the key "${err.message}" is not allowed in messages` };
    }
    return { ok: false, code: 'ERR_BAD_JSON', message: 'the message is not valid JSON' };
  }
  const parsed = ClientMessage.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
    const detail = `${issue?.message ?? 'invalid'}${where}`.slice(0, MAX_DETAIL_CHARS);
    return { ok: false, code: 'ERR_BAD_MESSAGE', message: `the message does not match the signaling protocol: ${detail}` };
  }
  return { ok: true, message: parsed.data };
}
