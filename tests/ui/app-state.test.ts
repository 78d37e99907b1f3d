/**
 * Pure logic of the app (Node): the room config codec, run exports, link parsing, the render batcher
 * and error wording.
 */
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/app/batcher.ts';
import type { TimeoutTimers } from '../../src/util/timers.ts';
import { hasWording, toNotice } from '../../src/app/errors.ts';
import { formatVector, lossLine, parseRunCsv, runToCsv, runToJson, stepLines } from '../../src/app/format.ts';
import { parseRoomLink } from '../../src/app/links.ts';
import { INITIAL_ROOM_STATE, decodeRoomState, encodeRoomState, type RoomState } from '../../src/app/room-config.ts';
import { appendStep, newSeries, withRun, MAX_HISTORY_RUNS } from '../../src/app/series.ts';
import { roomLink } from '../../src/signaling/links.ts';
import { RoomConfig } from '../../src/signaling/protocol.ts';
import { DEFAULT_CONFIG, type RunLog } from '../../src/train/types.ts';
import { cyclic, stepLog } from './fixtures.ts';

describe('room config codec', () => {
  const state: RoomState = {
    config: { ...DEFAULT_CONFIG, mode: 'samples', permutation: 'cyclic', lr: 0.125, hiddenDims: [64, 32], batchPerWorker: 5, seed: 99 },
    command: 'pause',
    runId: 'abc-123',
    pauseAt: 7,
    dropped: ['AAAAAAAAAAAAAAAAAAAAAA', 'b-b_b-b_b-b_b-b_b-b_bb'],
    droppedBy: 'rank 0 (Laptop)',
  };

  it('round-trips through the server schema (what every other tab receives)', () => {
    const wire = RoomConfig.parse(JSON.parse(JSON.stringify(encodeRoomState(state))));
    const { state: back, rejected } = decodeRoomState(wire);
    expect(rejected).toEqual([]);
    expect(back).toEqual(state);
  });

  it('keeps the previous value of out-of-range or mistyped fields and names them', () => {
    const wire = { ...encodeRoomState(state), batchPerWorker: 1, mode: 'bogus', lr: -1, hiddenDims: '64,x', command: 'explode', steps: 2.5, dropped: 'AAAAAAAAAAAAAAAAAAAAAA,no spaces allowed' };
    const { state: back, rejected } = decodeRoomState(wire, state);
    expect(back).toEqual(state);
    expect(rejected.sort()).toEqual(['batchPerWorker', 'command', 'dropped', 'hiddenDims', 'lr', 'mode', 'steps']);
  });

  it('fills missing fields from the fallback', () => {
    const { state: back } = decodeRoomState({ mode: 'local' });
    expect(back).toEqual({ ...INITIAL_ROOM_STATE, config: { ...INITIAL_ROOM_STATE.config, mode: 'local' } });
  });
});

describe('run exports', () => {
  const run: RunLog = {
    version: 1,
    config: { ...DEFAULT_CONFIG },
    worldSize: 4,
    tabs: 2,
    backend: 'cpu',
    startedAt: '2026-01-02T03:04:05.678Z',
    steps: Array.from({ length: 12 }, (_, s) => {
      const { bn: _bn, ...rest } = stepLog(s, cyclic(4, 1 + (s % 3)), { knn: s % 5 === 4 });
      return { ...rest, loss: rest.loss + 1e-9 * s, computeMs: Math.PI * s };
    }),
  };

  it('CSV has one row per step and reads back exactly', () => {
    const csv = runToCsv(run);
    expect(csv.trim().split('\n')).toHaveLength(1 + run.steps.length);
    const back = parseRunCsv(csv);
    expect(back).toEqual(run.steps.map((s) => ({ step: s.step, loss: s.loss, pretextAcc: s.pretextAcc, computeMs: s.computeMs, commMs: s.commMs, sourceOf: s.sourceOf, ...(s.knnAcc !== undefined ? { knnAcc: s.knnAcc } : {}) })));
  });

  it('CSV parser refuses a foreign header', () => {
    expect(() => parseRunCsv('a,b\n1,2\n')).toThrow(expect.objectContaining({ code: 'ERR_CSV_HEADER' }));
  });

  it('JSON is the RunLog itself', () => {
    expect(JSON.parse(runToJson(run))).toEqual(run);
  });
});

describe('log lines', () => {
  it('match the seed wording', () => {
    expect(lossLine(0, 2000, 6.93147)).toBe('[1/2000] Loss 6.9315');
    expect(formatVector([0.5, -0.25, 1 / 3])).toBe('[0.5000, -0.2500, 0.3333]');
    const lines = stepLines(stepLog(7, [1, 2, 0], { channels: 3 }), 10);
    expect(lines).toHaveLength(3 + 3 + 1);
    expect(lines[0]).toMatch(/^\[0\]mean before shuffle: \[-?\d\.\d{4}, -?\d\.\d{4}, -?\d\.\d{4}\]$/);
    expect(lines[5]).toMatch(/^\[2\]mean after shuffle: \[/);
    expect(lines[6]).toMatch(/^\[8\/10\] Loss \d\.\d{4}$/);
  });
});

describe('room links', () => {
  const id = 'Qx7_abcdefghijklmnopqrstu';
  it('accepts the server link format, a bare id and surrounding space', () => {
    expect(parseRoomLink(roomLink('https://10.0.0.5:8443/app/', id))).toBe(id);
    expect(parseRoomLink(`  ${id}\n`)).toBe(id);
    expect(parseRoomLink(`/?room=${id}`)).toBe(id);
  });
  it('refuses links without a well-formed room id with ERR_BAD_LINK', () => {
    for (const bad of ['', 'https://example.test/', 'https://x.test/?room=short', 'not a link at all', `?room=${id}!`]) {
      expect(() => parseRoomLink(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_BAD_LINK' }));
    }
  });
});

describe('render batcher', () => {
  function fakeTimers() {
    let now = 0;
    const pending: { at: number; fn: () => void; id: number }[] = [];
    let nextId = 1;
    const timers: TimeoutTimers = {
      now: () => now,
      setTimeout: (fn, ms) => {
        const id = nextId++;
        pending.push({ at: now + ms, fn, id });
        return id;
      },
      clearTimeout: (h) => {
        const i = pending.findIndex((p) => p.id === h);
        if (i >= 0) pending.splice(i, 1);
      },
    };
    const advance = (ms: number) => {
      now += ms;
      for (const p of pending.filter((p) => p.at <= now)) {
        pending.splice(pending.indexOf(p), 1);
        p.fn();
      }
    };
    return { timers, advance };
  }

  it('flushes at most once per interval and loses nothing', () => {
    const { timers, advance } = fakeTimers();
    const flushes: number[][] = [];
    const b = new Batcher<number>((items) => flushes.push(items), 100, timers);
    b.push(0); // quiet before: immediate
    for (let i = 1; i <= 25; i++) {
      advance(10);
      b.push(i);
    }
    advance(100);
    expect(flushes.flat()).toEqual(Array.from({ length: 26 }, (_, i) => i));
    // 260 ms of steps every 10 ms → the first at once, then one per 100 ms
    expect(flushes.length).toBeLessThanOrEqual(4);
    b.destroy();
    b.push(99);
    advance(1000);
    expect(flushes.flat()).not.toContain(99);
  });
});

describe('curves history', () => {
  it('appends only newer steps and keeps the newest runs', () => {
    const s = newSeries('a', DEFAULT_CONFIG, 8);
    appendStep(s, stepLog(0, cyclic(8), { knn: true }));
    appendStep(s, stepLog(1, cyclic(8)));
    appendStep(s, stepLog(1, cyclic(8))); // replay
    expect(s.steps).toEqual([0, 1]);
    expect(s.knnSteps).toEqual([0]);
    let h = [s];
    for (let i = 0; i < MAX_HISTORY_RUNS + 3; i++) h = withRun(h, newSeries(`r${i}`, DEFAULT_CONFIG, 8));
    expect(h).toHaveLength(MAX_HISTORY_RUNS);
    expect(h.at(-1)!.id).toBe(`r${MAX_HISTORY_RUNS + 2}`);
  });
});

describe('notices', () => {
  it('have specific wording for every failure a person must know about', () => {
    for (const code of ['ERR_NO_WEBGPU', 'ERR_FALLBACK_ADAPTER', 'ERR_ROOM_FULL', 'ERR_ROOM_NOT_FOUND', 'ERR_BAD_LINK', 'ERR_PEER_LEFT', 'ERR_SIGNALING', 'ERR_RECONNECTING', 'ERR_DEVICE_LOST', 'ERR_BAD_FRAME', 'ERR_TIMEOUT', 'ERR_LINK_MISMATCH', 'ERR_NONFINITE_STATS', 'ERR_BAD_PEER_ROWS', 'ERR_WORLD_TOO_LARGE', 'ERR_NO_WORKER', 'ERR_WORKER_FAILED']) {
      expect(hasWording(code), code).toBe(true);
    }
  });
  it('name the peer and keep notices about different peers apart', () => {
    const a = toNotice(Object.assign(new Error('frame checksum mismatch'), { code: 'ERR_BAD_FRAME', peerId: 'peerAAAA' }));
    const b = toNotice(Object.assign(new Error('x'), { code: 'ERR_BAD_FRAME', peerId: 'peerBBBB' }));
    expect(a.key).not.toBe(b.key);
    expect(a.title).toContain('peerAAAA');
    expect(a.technical).toBe('frame checksum mismatch');
    expect(toNotice('weird').code).toBe('ERR_UNKNOWN');
  });
});
