/**
 * Room settings carried by a share link, so one link sets up a class:
 *
 *   /?room=<id>                                  join that room (its settings are the room's)
 *   /?preset=quick                               a new room with the quick-demo settings
 *   /?preset=quick&mode=local&workers=2          a new room: the preset, then these fields
 *   /?room=<id>&preset=quick&…                   join; the settings apply if the room has none yet
 *
 * Every field of TrainConfig has one parameter (short names below; a field without one uses its own
 * name). The strings are parsed by the zod schema here and the values are then range-checked by the
 * room's own decoder (decodeRoomState), so a link accepts exactly what another tab could send. A bad
 * value never breaks the page: it is reported, and that field keeps the preset's value.
 */
import { z } from 'zod';
import { WIRE_FORMATS } from '../mesh/half-codec.ts';
import { ROOM_PARAM } from '../signaling/links.ts';
import type { RoomConfig } from '../signaling/protocol.ts';
import type { TrainConfig } from '../train/types.ts';
import { PRESET_NAMES, PRESETS, presetConfig, type PresetName } from './presets.ts';
import { BN_MODES, INITIAL_ROOM_STATE, MAX_BATCH_PER_WORKER, MAX_LR, MAX_SEED, MAX_STEPS, MAX_WORKERS_PER_TAB, MIN_BATCH_PER_WORKER, PERMUTATIONS, decodeRoomState } from './room-config.ts';

export const PRESET_PARAM = 'preset';
/** Sets up this page, not the room: `compute=main` trains on the page instead of the compute worker (src/app/wiring.ts). */
export const COMPUTE_PARAM = 'compute';
/** Longest parameter value read: the signaling server's limit on a config string. */
export const MAX_LINK_VALUE_CHARS = 256;
/** Model size a link may ask for: the bounds of the room's controls, so a link cannot exhaust a phone's memory. */
export const MAX_LINK_WIDTH = 4096;
export const MAX_LINK_HIDDEN_LAYERS = 8;
export const MAX_LINK_QUEUE = 65_536;

type ConfigKey = keyof TrainConfig;

/** Short parameter names of the common fields. */
const SHORT_NAMES: Partial<Record<ConfigKey, string>> = {
  permutation: 'perm',
  batchPerWorker: 'batch',
  workersPerTab: 'workers',
  queueSize: 'queue',
  temperature: 'temp',
  weightDecay: 'wd',
  keyMomentum: 'keymom',
  knnEvery: 'knn',
  inputDim: 'input',
  hiddenDims: 'hidden',
  outputDim: 'out',
  gradientWire: 'wire',
};

/** What a valid value looks like, for the notice (bounds from room-config.ts). */
const HINTS: Partial<Record<ConfigKey, string>> = {
  mode: BN_MODES.join(' | '),
  permutation: PERMUTATIONS.join(' | '),
  seed: `an integer from 0 to ${MAX_SEED}`,
  steps: `an integer from 1 to ${MAX_STEPS}`,
  batchPerWorker: `an integer from ${MIN_BATCH_PER_WORKER} to ${MAX_BATCH_PER_WORKER}`,
  workersPerTab: `an integer from 1 to ${MAX_WORKERS_PER_TAB}`,
  queueSize: `an integer from 1 to ${MAX_LINK_QUEUE}`,
  lr: `a number from 0 to ${MAX_LR}`,
  hiddenDims: `up to ${MAX_LINK_HIDDEN_LAYERS} widths from 1 to ${MAX_LINK_WIDTH}, comma-separated`,
  outputDim: `an integer from 1 to ${MAX_LINK_WIDTH}`,
  gradientWire: WIRE_FORMATS.join(' | '),
};

/** The parameter name of a config field. */
export function paramName(key: ConfigKey): string {
  return SHORT_NAMES[key] ?? key;
}

const CONFIG_KEYS = Object.keys(PRESETS.default) as ConfigKey[];
const KEY_OF_PARAM = new Map<string, ConfigKey>(CONFIG_KEYS.map((k) => [paramName(k), k]));

const text = z.string().max(MAX_LINK_VALUE_CHARS);
const NUMBER = text.regex(/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i, 'not a number').transform(Number);
const BOOLEAN = z.enum(['1', '0', 'true', 'false']).transform((v) => v === '1' || v === 'true');
const DIMS = text.regex(/^\d+(,\d+)*$/, 'not a comma-separated list of widths').refine((v) => {
  const dims = v.split(',').map(Number);
  return dims.length <= MAX_LINK_HIDDEN_LAYERS && dims.every((d) => d >= 1 && d <= MAX_LINK_WIDTH);
}, 'too many layers or too wide');
/** The link form of a field depends on its type in the defaults; null-able fields read 'none' as null. */
function schemaFor(key: ConfigKey): z.ZodType<string | number | boolean | null> {
  const sample: unknown = PRESETS.default[key];
  if (key === 'hiddenDims') return DIMS;
  if (key === 'queueSize') return NUMBER.refine((v) => v <= MAX_LINK_QUEUE, 'too large');
  if (key === 'outputDim' || key === 'inputDim') return NUMBER.refine((v) => v <= MAX_LINK_WIDTH, 'too large');
  if (typeof sample === 'number') return NUMBER;
  if (typeof sample === 'boolean') return BOOLEAN;
  if (sample === null) return text.transform((v) => (v === 'none' || v === '' ? null : v));
  return text;
}

/** The link's parameters, one schema per field (built once from the config's own keys). */
export const LinkParams = z.object({
  [PRESET_PARAM]: z.enum(PRESET_NAMES as [PresetName, ...PresetName[]]).optional(),
  ...Object.fromEntries(CONFIG_KEYS.map((k) => [paramName(k), schemaFor(k).optional()])),
});

export interface LinkSettings {
  preset: PresetName | null;
  /** The preset (default: the app's defaults) with the link's valid fields applied. */
  config: TrainConfig;
  /** One line per parameter that was not used, worded for the notice: `workers="abc": expected …`. */
  problems: string[];
}

/** True when the link asks for settings (a preset or any config field). */
export function hasLinkSettings(href: string | URL): boolean {
  const params = new URL(String(href)).searchParams;
  return [...params.keys()].some((k) => k === PRESET_PARAM || KEY_OF_PARAM.has(k));
}

/**
 * The settings a link asks for, or null when it asks for none. Never throws: every parameter that
 * cannot be used is listed in `problems` and leaves its field at the preset's value.
 */
export function settingsFromLink(href: string | URL): LinkSettings | null {
  if (!hasLinkSettings(href)) return null;
  const params = new URL(String(href)).searchParams;
  const problems: string[] = [];
  const shown = (v: string) => JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);

  const presetRaw = params.get(PRESET_PARAM);
  let preset: PresetName | null = null;
  if (presetRaw !== null) {
    const parsed = LinkParams.shape[PRESET_PARAM].safeParse(presetRaw);
    if (parsed.success && parsed.data) preset = parsed.data;
    else problems.push(`${PRESET_PARAM}=${shown(presetRaw)}: expected ${PRESET_NAMES.join(' | ')}`);
  }
  const base = presetConfig(preset ?? 'default');

  const record: RoomConfig = {};
  const paramOf = new Map<string, string>();
  for (const [name, raw] of params) {
    if (name === ROOM_PARAM || name === PRESET_PARAM || name === COMPUTE_PARAM) continue;
    const key = KEY_OF_PARAM.get(name);
    if (!key) {
      problems.push(`${shown(name)} is not a setting (known: ${[PRESET_PARAM, ...KEY_OF_PARAM.keys()].join(', ')})`);
      continue;
    }
    if (paramOf.has(key)) {
      problems.push(`${name} is given twice; the first value is used`);
      continue;
    }
    paramOf.set(key, `${name}=${shown(raw)}`);
    const parsed = schemaFor(key).safeParse(raw);
    if (parsed.success) record[key] = parsed.data;
    else problems.push(`${name}=${shown(raw)}: expected ${HINTS[key] ?? parsed.error.issues[0]?.message ?? 'another value'}`);
  }
  // The same range checks as a config sent by another tab.
  const { state, rejected } = decodeRoomState(record, { ...INITIAL_ROOM_STATE, config: base });
  for (const key of rejected) problems.push(`${paramOf.get(key) ?? key}: expected ${HINTS[key as ConfigKey] ?? 'a value in the allowed range'}`);
  return { preset, config: state.config, problems };
}

function sameValue(a: unknown, b: unknown): boolean {
  return Array.isArray(a) && Array.isArray(b) ? a.length === b.length && a.every((v, i) => v === b[i]) : a === b;
}

function differences(config: TrainConfig, base: TrainConfig): ConfigKey[] {
  return CONFIG_KEYS.filter((k) => !sameValue(config[k], base[k]));
}

/**
 * The shortest parameters that describe `config`: the closest preset (left out when it is the
 * defaults) and the fields that differ from it. `settingsFromLink` reads them back to `config`.
 */
export function settingsParams(config: TrainConfig): URLSearchParams {
  let best: PresetName = 'default';
  for (const name of PRESET_NAMES) {
    if (differences(config, PRESETS[name]).length < differences(config, PRESETS[best]).length) best = name;
  }
  const params = new URLSearchParams();
  if (best !== 'default') params.set(PRESET_PARAM, best);
  for (const key of differences(config, PRESETS[best])) {
    const value: unknown = config[key];
    params.set(paramName(key), Array.isArray(value) ? value.join(',') : value === null ? 'none' : String(value));
  }
  return params;
}

/**
 * A link that opens the app at `base` with `config`: in room `roomId` (the settings apply if that
 * room has none yet), or in a new room when `roomId` is null. Keeps `base`'s origin and path.
 */
export function shareLink(base: string | URL, roomId: string | null, config: TrainConfig): string {
  const url = new URL(String(base));
  url.search = '';
  url.hash = '';
  if (roomId !== null) url.searchParams.set(ROOM_PARAM, roomId);
  for (const [k, v] of settingsParams(config)) url.searchParams.set(k, v);
  return url.toString();
}
