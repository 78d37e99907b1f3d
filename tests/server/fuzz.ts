/**
 * Seeded generator of malformed signaling frames. Every frame it makes is invalid by construction
 * (bad JSON, wrong types, forbidden keys, unknown kinds, oversized fields, binary), so the server
 * must answer each with an error.
 */
import { mulberry32 } from '../helpers/rng.ts';

export interface FuzzFrame {
  label: string;
  data: string | Uint8Array;
  binary: boolean;
}

const prng = mulberry32;

const VALID_SHAPES: unknown[] = [
  { type: 'create', meta: { name: 'peer' } },
  { type: 'join', roomId: 'A'.repeat(22), meta: { backend: 'cpu' } },
  { type: 'signal', to: 'abcdefghijkl', data: { type: 'offer', sdp: 'v=0' } },
  { type: 'config', config: { lr: 0.1 } },
];

export function fuzzFrames(count: number, seed: number): FuzzFrame[] {
  const rand = prng(seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const word = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(97 + int(26))).join('');
  const text = (label: string, value: unknown): FuzzFrame => ({ label, data: typeof value === 'string' ? value : JSON.stringify(value), binary: false });

  const makers: Array<() => FuzzFrame> = [
    () => text('oops', pick(['{oops', '{', '}', '', ' ', '{"type":', '[1,2', 'nul', '{"type":"create",}', "{'type':'create'}"])),
    () => {
      const valid = JSON.stringify(pick(VALID_SHAPES));
      return text('truncated', valid.slice(0, 1 + int(valid.length - 2)));
    },
    () => text('not an object', pick(['null', '[]', '42', '"create"', 'true', '{}', '[{"type":"create"}]', '1e999'])),
    () =>
      text('wrong types', pick<unknown>([
        { type: 'join', roomId: int(1e9) },
        { type: 'signal', to: {}, data: 'x' },
        { type: int(10) },
        { type: ['create'] },
        { type: 'meta', meta: { virtualWorkers: 'many' } },
        { type: 'meta', meta: { virtualWorkers: 1.5 + int(10) } },
        { type: 'meta', meta: { backend: 'tpu' } },
        { type: 'config', config: { nested: { a: int(5) } } },
        { type: 'config', config: [1, 2, 3] },
        { type: 'signal', to: 'abcdefghijkl', data: { type: 'candidate', candidate: { candidate: int(9) } } },
        { type: 'signal', to: 'short', data: { type: 'offer' } },
        { type: 'join', roomId: 'too-short' },
        { type: 'join', roomId: 'A'.repeat(22), resumePeerId: '../../etc' },
        { type: 'create', meta: 'me' },
        { typ: 'leave' },
        { type: 'leave ' },
      ])),
    () =>
      text('forbidden key', pick([
        '{"type":"create","__proto__":{"polluted":true}}',
        '{"type":"config","config":{"__proto__":1}}',
        '{"type":"create","meta":{"constructor":{"prototype":{"polluted":true}}}}',
        '{"__proto__":{"polluted":1},"type":"leave"}',
        `{"type":"config","config":{"k${int(100)}":1,"constructor":2}}`,
        '{"type":"signal","to":"abcdefghijkl","data":{"type":"offer","prototype":"x"}}',
      ])),
    () => text('unknown kind', { type: word(1 + int(12)), payload: word(int(20)) }),
    () =>
      text('huge string', pick<unknown>([
        { type: 'create', meta: { name: 'x'.repeat(1000 + int(60_000)) } },
        { type: 'x'.repeat(30_000 + int(30_000)) },
        { type: 'config', config: { ['k'.repeat(65 + int(1000))]: 1 } },
        { type: 'config', config: { k: 'v'.repeat(257 + int(10_000)) } },
        { type: 'signal', to: 'abcdefghijkl', data: { type: 'offer', sdp: 's'.repeat(60_001 + int(3000)) } },
      ])),
    () => text('deep nesting, unbalanced', '['.repeat(1000 + int(20_000)) + ']'.repeat(10)),
    () => {
      const depth = 1000 + int(20_000);
      return text('deep nesting', '['.repeat(depth) + ']'.repeat(depth));
    },
    () => {
      const bytes = new Uint8Array(1 + int(2000));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      return { label: 'binary', data: bytes, binary: true };
    },
    () => ({ label: 'binary json', data: new TextEncoder().encode(JSON.stringify({ type: 'create' })), binary: true }),
  ];

  return Array.from({ length: count }, () => pick(makers)());
}
