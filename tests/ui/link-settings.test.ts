/**
 * Share links with settings: config → link → config is the identity (for every field, presets
 * included), and a bad link yields the preset's values plus a readable problem per bad parameter.
 */
import { describe, expect, it } from 'vitest';
import { MAX_LINK_WIDTH, paramName, settingsFromLink, settingsParams, shareLink } from '../../src/app/link-settings.ts';
import { PRESETS, presetConfig } from '../../src/app/presets.ts';
import { BN_MODES, MAX_WORKERS_PER_TAB, PERMUTATIONS } from '../../src/app/room-config.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/train/types.ts';
import { createRng } from '../../src/util/rng.ts';
import { WIRE_FORMATS } from '../../src/mesh/half-codec.ts';

const BASE = 'https://192.168.1.5:8443/shufflebn/';
const ROOM = 'Qx7_abcdefghijklmnopqrstu';

/** A random configuration inside the room's bounds, different from the defaults in most fields. */
function randomConfig(seed: number): TrainConfig {
  const rng = createRng(seed, 0x11a);
  const int = (lo: number, hi: number) => lo + Math.floor(rng.next() * (hi - lo + 1));
  return {
    ...DEFAULT_CONFIG,
    mode: BN_MODES[int(0, BN_MODES.length - 1)]!,
    permutation: PERMUTATIONS[int(0, 1)]!,
    seed: int(0, 2 ** 31 - 1),
    steps: int(1, 100_000),
    batchPerWorker: int(2, 1024),
    workersPerTab: int(1, MAX_WORKERS_PER_TAB),
    queueSize: int(1, 65_536),
    temperature: 1e-4 + rng.next() * 10,
    lr: rng.next() * 0.5,
    momentum: rng.next(),
    weightDecay: rng.next() * 1e-3,
    keyMomentum: rng.next(),
    knnEvery: int(0, 1000),
    inputDim: int(1, MAX_LINK_WIDTH),
    hiddenDims: Array.from({ length: int(1, 4) }, () => int(1, MAX_LINK_WIDTH)),
    outputDim: int(1, MAX_LINK_WIDTH),
    gradientWire: WIRE_FORMATS[int(0, WIRE_FORMATS.length - 1)]!,
  };
}

describe('link settings round trip', () => {
  it('config → link → config is exact for random configurations, with and without a room', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const config = randomConfig(seed);
      for (const room of [ROOM, null]) {
        const link = shareLink(BASE, room, config);
        const url = new URL(link);
        expect(url.origin + url.pathname).toBe('https://192.168.1.5:8443/shufflebn/');
        expect(url.searchParams.get('room')).toBe(room);
        const read = settingsFromLink(link);
        expect(read?.problems).toEqual([]);
        expect(read?.config).toEqual(config);
      }
    }
  });

  it('a preset is written by name, and only the fields that differ from it follow', () => {
    expect(shareLink(BASE, null, presetConfig('quick'))).toBe(`${BASE}?preset=quick`);
    const tweaked = { ...presetConfig('quick'), mode: 'local' as const, workersPerTab: 2 };
    const link = shareLink(BASE, ROOM, tweaked);
    expect(new URL(link).search).toBe(`?room=${ROOM}&preset=quick&mode=local&workers=2`);
    expect(settingsFromLink(link)).toEqual({ preset: 'quick', config: tweaked, problems: [] });
    // The defaults need no parameter at all: the plain room link.
    expect(settingsParams({ ...DEFAULT_CONFIG, hiddenDims: [...DEFAULT_CONFIG.hiddenDims] }).toString()).toBe('');
  });

  it('every config field has a parameter that changes it', () => {
    const other = randomConfig(7);
    for (const key of Object.keys(DEFAULT_CONFIG) as (keyof TrainConfig)[]) {
      const value = other[key];
      const link = `${BASE}?${paramName(key)}=${encodeURIComponent(Array.isArray(value) ? value.join(',') : String(value))}`;
      expect(settingsFromLink(link)!.config[key], key).toEqual(value);
    }
  });

  it('reads the example of the README by hand', () => {
    const read = settingsFromLink(`${BASE}?preset=quick&mode=shuffle&workers=2&hidden=256,256&lr=0.03`)!;
    expect(read.problems).toEqual([]);
    expect(read.config).toEqual({ ...PRESETS.quick, mode: 'shuffle', workersPerTab: 2, hiddenDims: [256, 256], lr: 0.03 });
  });
});

describe('bad links', () => {
  it('a plain room link carries no settings', () => {
    expect(settingsFromLink(`${BASE}?room=${ROOM}`)).toBeNull();
    expect(settingsFromLink(BASE)).toBeNull();
  });

  it('each bad value is named with what was expected, and leaves that field at the preset value', () => {
    const read = settingsFromLink(`${BASE}?preset=quick&workers=abc&mode=leaky&batch=1&steps=2.5&lr=-1&hidden=512,99999&seed=7`)!;
    expect(read.config).toEqual({ ...PRESETS.quick, seed: 7 });
    expect(read.problems).toHaveLength(6);
    expect(read.problems).toContain('workers="abc": expected an integer from 1 to 64');
    expect(read.problems).toContain('mode="leaky": expected local | shuffle | sync | samples');
    expect(read.problems).toContain('batch="1": expected an integer from 2 to 1024');
    expect(read.problems).toContain('steps="2.5": expected an integer from 1 to 1000000');
    expect(read.problems).toContain('lr="-1": expected a number from 0 to 10');
    expect(read.problems.find((p) => p.startsWith('hidden='))).toMatch(/up to 8 widths from 1 to 4096/);
  });

  it('an unknown preset or parameter is reported; the rest still applies', () => {
    const read = settingsFromLink(`${BASE}?preset=huge&workrs=3&steps=50`)!;
    expect(read.preset).toBeNull();
    expect(read.config).toEqual({ ...DEFAULT_CONFIG, steps: 50 });
    expect(read.problems[0]).toBe('preset="huge": expected default | quick');
    expect(read.problems[1]).toMatch(/^"workrs" is not a setting \(known: preset, mode, perm, /);
  });

  it('hostile values are refused without work: huge numbers, long strings, empty values', () => {
    const long = '9'.repeat(10_000);
    const read = settingsFromLink(`${BASE}?queue=${long}&hidden=${'1,'.repeat(5000)}1&out=1e9&temp=&seed=1e400`)!;
    expect(read.config).toEqual({ ...DEFAULT_CONFIG });
    expect(read.problems).toHaveLength(5);
    for (const p of read.problems) expect(p.length).toBeLessThan(200);
  });
});

describe('gradient wire format in links', () => {
  it('wire=bf16 sets it, f32 is the default and left out of a link, an unknown format is named', () => {
    expect(settingsFromLink(`${BASE}?wire=bf16`)!.config.gradientWire).toBe('bf16');
    expect(settingsFromLink(`${BASE}?wire=f16`)!.problems).toEqual([]);
    expect(settingsParams(presetConfig('default')).has('wire')).toBe(false);
    const bad = settingsFromLink(`${BASE}?wire=f8`)!;
    expect(bad.config.gradientWire).toBe('f32');
    expect(bad.problems).toEqual(['wire="f8": expected f32 | f16 | bf16']);
  });
});
