/**
 * The app controller over fake ports (Node): a room command from any tab drives this tab's session,
 * steps reach the store, failures become notices.
 */
import { describe, expect, it } from 'vitest';
import { AppController } from '../../src/app/controller.ts';
import type { SessionFactory, SessionLike, SessionState } from '../../src/app/ports.ts';
import { decodeRoomState, encodeRoomState } from '../../src/app/room-config.ts';
import { settingsFromLink } from '../../src/app/link-settings.ts';
import { PRESETS } from '../../src/app/presets.ts';
import { AppStore } from '../../src/app/store.ts';
import { DEFAULT_CONFIG, type StepLog, type TrainConfig } from '../../src/train/types.ts';
import { FAKE_ROOM_ID, fakeBackendProvider, fakeConnector, fakeServer, type FakeRoom } from './fakes.ts';
import { cyclic, stepLog } from './fixtures.ts';

class ManualSession extends EventTarget implements SessionLike {
  step = -1;
  state: SessionState = 'idle';
  destroyed = false;
  /** As a TrainingSession: pauses once the step given to pauseAfter has completed. */
  pauseAt: number | null = null;
  constructor(readonly config: TrainConfig) {
    super();
  }
  async start() {
    this.set('running');
  }
  pause() {
    this.pauseAt = null;
    this.set('paused');
  }
  pauseAfter(step: number) {
    if (step < 0 || this.step >= step) this.pause();
    else this.pauseAt = step;
  }
  resume() {
    this.pauseAt = null;
    this.set('running');
  }
  reset() {
    this.set('idle');
  }
  destroy() {
    this.destroyed = true;
  }
  emit(log: StepLog) {
    this.step = log.step;
    this.dispatchEvent(new CustomEvent('step', { detail: log }));
    if (this.pauseAt !== null && log.step >= this.pauseAt) this.pause();
  }
  fail(err: Error) {
    this.set('error');
    this.dispatchEvent(new CustomEvent('error', { detail: err }));
  }
  set(s: SessionState) {
    this.state = s;
    this.dispatchEvent(new Event('state'));
  }
}

/** Long enough for the fake server's echo (1 ms) and the batcher's zero-delay flush. */
const tick = () => new Promise((r) => setTimeout(r, 10));

function setup(opts: { href?: string; connectFail?: Error & { code: string }; unknownRooms?: string[]; storedConfig?: boolean; retriesBeforeJoin?: number } = {}) {
  const room: FakeRoom = { configs: [], listener: null };
  const sessions: ManualSession[] = [];
  const factory: SessionFactory = ({ config }) => {
    const s = new ManualSession(config);
    sessions.push(s);
    return s;
  };
  const store = new AppStore();
  let href = opts.href ?? 'http://127.0.0.1:5173/';
  // Zero interval: every step flushes at once, so assertions need no waiting.
  const timers = { now: () => 1e12 + sessions.length, setTimeout: (fn: () => void) => setTimeout(fn, 0), clearTimeout: (h: unknown) => clearTimeout(h as number) };
  const controller = new AppController({
    store,
    connectRoom: fakeConnector(room, { ...(opts.connectFail ? { fail: opts.connectFail } : {}), unknownRooms: opts.unknownRooms ?? [], storedConfig: opts.storedConfig ?? false, retriesBeforeJoin: opts.retriesBeforeJoin ?? 0 }),
    provideBackend: fakeBackendProvider('cpu', 'cpu'),
    createSession: factory,
    nav: { href: () => href, replace: (u) => (href = u) },
    timers,
  });
  return { room, sessions, store, controller, href: () => href };
}

describe('AppController', () => {
  it('creates a room, shows its link, and a start on this tab reaches the room and starts a session', async () => {
    const t = setup();
    await t.controller.boot();
    await t.controller.createRoom();
    expect(t.store.state.view).toBe('room');
    expect(t.store.state.link).toBe(`http://127.0.0.1:5173/?room=${FAKE_ROOM_ID}`);
    expect(t.href()).toBe(t.store.state.link);
    t.controller.setConfig({ mode: 'local', workersPerTab: 3 });
    t.controller.start();
    await tick();
    const sent = decodeRoomState(t.room.configs.at(-1)!).state;
    expect(sent.command).toBe('run');
    expect(sent.config.mode).toBe('local');
    expect(t.sessions).toHaveLength(1);
    expect(t.sessions[0]!.config.workersPerTab).toBe(3);
    // The session's groups are this run's, which this tab started (it does not join it in progress).
    expect(t.room.groupRuns).toEqual([{ id: sent.runId, joining: false }]);
    t.sessions[0]!.emit(stepLog(0, cyclic(3), { channels: 4 }));
    await tick();
    expect(t.store.state.step).toBe(0);
    expect(t.store.state.shuffle?.sourceOf).toEqual(cyclic(3));
    expect(t.store.state.log.at(-1)).toMatch(/^\[1\/2000\] Loss /);
    expect(t.store.state.runs.at(-1)!.loss).toHaveLength(1);
    expect(t.controller.exportRun('csv')!.text.trim().split('\n')).toHaveLength(2);
    // When the run is done, the lowest-ranked tab records it, so a tab joining later does not start.
    t.sessions[0]!.set('done');
    await tick();
    expect(decodeRoomState(t.room.configs.at(-1)!).state).toMatchObject({ command: 'idle', runId: sent.runId });
    expect(t.store.state.runState).toBe('done');
  });

  it('a start sent by another tab starts this tab; pause and resume keep the run; reset keeps its curve for overlay', async () => {
    const t = setup({ href: `http://h/?room=${FAKE_ROOM_ID}` });
    await t.controller.boot();
    expect(t.store.state.view).toBe('room');
    const remote = (patch: object) => t.room.listener!.onConfig(encodeRoomState({ ...t.store.state.room, ...patch }), 'other-peer-id');
    remote({ command: 'run', runId: 'run-1' });
    await tick();
    expect(t.sessions).toHaveLength(1);
    remote({ command: 'run', runId: 'run-1' }); // the echo: nothing new
    await tick();
    expect(t.sessions).toHaveLength(1);
    t.sessions[0]!.emit(stepLog(0, cyclic(4)));
    remote({ command: 'pause' });
    await tick();
    expect(t.sessions[0]!.state).toBe('paused');
    t.controller.start(); // resumes, same run
    await tick();
    expect(t.sessions).toHaveLength(1);
    expect(t.sessions[0]!.state).toBe('running');
    t.controller.reset();
    await tick();
    expect(t.sessions[0]!.destroyed).toBe(true);
    expect(t.store.state.runState).toBe('idle');
    t.controller.start();
    await tick();
    expect(t.sessions).toHaveLength(2);
    // A new run id, never the old one: the run's groups (runGroups) then start on a new epoch, where
    // step 0 cannot meet a tab still stamping the old run's steps (tests/app/run-epochs.test.ts).
    expect(t.store.state.room.runId).not.toBe('run-1');
    expect(t.room.groupRuns?.at(-1)).toEqual({ id: t.store.state.room.runId, joining: false });
    expect(t.store.state.runs.map((r) => r.id)).toEqual(['run-1', t.store.state.room.runId]);
    expect(t.store.state.runs[0]!.finished).toBe(true);
  });

  it('a pause stops every tab after the same step, chosen ahead of the pausing tab', async () => {
    const t = setup();
    await t.controller.createRoom();
    t.controller.start();
    await tick();
    const session = t.sessions[0]!;
    session.emit({ ...stepLog(0, cyclic(4)), computeMs: 40, commMs: 10 });
    t.controller.pause();
    await tick();
    const sent = decodeRoomState(t.room.configs.at(-1)!).state;
    // 500 ms ahead at 50 ms per step = 10 steps after step 0.
    expect(sent).toMatchObject({ command: 'pause', pauseAt: 10 });
    for (let s = 1; s < 10; s++) session.emit(stepLog(s, cyclic(4)));
    expect(session.state).toBe('running');
    session.emit(stepLog(10, cyclic(4)));
    expect(session.state).toBe('paused');
    // Another tab's pause for a step this tab already passed stops it at once.
    t.controller.start();
    await tick();
    expect(session.state).toBe('running');
    session.emit(stepLog(11, cyclic(4)));
    t.room.listener!.onConfig(encodeRoomState({ ...t.store.state.room, command: 'pause', pauseAt: 5 }), 'other-peer-id');
    await tick();
    expect(session.state).toBe('paused');
  });

  it('two tabs changing settings at the same time end in the same state (the server orders changes)', async () => {
    const server = fakeServer();
    const make = (id: string) => {
      const store = new AppStore();
      const controller = new AppController({
        store,
        connectRoom: server.connector(id),
        provideBackend: fakeBackendProvider('cpu', 'cpu'),
        createSession: null,
        nav: { href: () => `http://h/?room=${FAKE_ROOM_ID}`, replace: () => {} },
      });
      return { store, controller };
    };
    const a = make('peer-aaaa');
    const b = make('peer-bbbb');
    await a.controller.boot();
    await b.controller.boot();
    a.controller.setConfig({ seed: 5, lr: 0.5 });
    b.controller.setConfig({ seed: 7 });
    a.controller.setConfig({ steps: 33 }); // builds on A's own unechoed change
    await tick();
    expect(a.store.state.room).toEqual(b.store.state.room);
    expect(a.store.state.room.config).toMatchObject({ steps: 33, lr: 0.5 });
    // A third tab joining later receives the room's state.
    const c = make('peer-cccc');
    await c.controller.boot();
    await tick();
    expect(c.store.state.room).toEqual(a.store.state.room);
  });

  it('a tab joining mid-run joins the run (the session adopts the state of rank 0) and says so', async () => {
    const t = setup({ href: `http://h/?room=${FAKE_ROOM_ID}` });
    await t.controller.boot();
    t.room.listener!.onConfig(encodeRoomState({ ...t.store.state.room, command: 'run', runId: 'old' }), null);
    await tick();
    expect(t.sessions).toHaveLength(1);
    expect(t.store.state.room.runId).toBe('old');
    expect(t.store.state.notices.map((n) => n.code)).toContain('ERR_RUN_IN_PROGRESS');
    // It joins that run in progress: its session waits for the run's tabs instead of starting it alone.
    expect(t.room.groupRuns).toEqual([{ id: 'old', joining: true }]);
    // A run started later in the room is not joined in progress.
    t.room.listener!.onConfig(encodeRoomState({ ...t.store.state.room, command: 'run', runId: 'new' }), 'other-peer-id');
    await tick();
    expect(t.room.groupRuns).toEqual([{ id: 'old', joining: true }, { id: 'new', joining: false }]);
  });

  it('while the room server is unreachable, says that it is retrying (one notice, updated); the notice goes once joined', async () => {
    const t = setup({ href: `http://h/?room=${FAKE_ROOM_ID}`, retriesBeforeJoin: 3 });
    const seen: string[] = [];
    t.store.addEventListener('change', () => {
      const n = t.store.state.notices.find((x) => x.key === 'signaling');
      if (n && seen.at(-1) !== `${n.code}: ${n.technical}`) seen.push(`${n.code}: ${n.technical}`);
    });
    await t.controller.boot();
    expect(seen).toEqual([1, 2, 3].map((k) => `ERR_JOIN_RETRYING: attempt ${k} failed (socket closed (1006)); next try in ${(0.25 * 2 ** (k - 1)).toFixed(1)} s`));
    expect(t.store.state.notices.filter((n) => n.key === 'signaling')).toEqual([]);
    expect(t.store.state.view).toBe('room');
  });

  it('turns failures into notices: bad link, full room, signaling reconnect, session error, a peer by rank', async () => {
    const t = setup();
    await t.controller.joinLink('https://x.test/?room=nope');
    expect(t.store.state.notices.at(-1)!.code).toBe('ERR_BAD_LINK');
    expect(t.store.state.view).toBe('landing');

    const full = setup({ connectFail: Object.assign(new Error('room is full (16 peers)'), { code: 'ERR_ROOM_FULL' }) });
    await full.controller.createRoom();
    expect(full.store.state.view).toBe('landing');
    expect(full.store.state.notices.at(-1)).toMatchObject({ code: 'ERR_ROOM_FULL', level: 'error', technical: 'room is full (16 peers)' });

    const u = setup();
    await u.controller.createRoom();
    await tick();
    u.room.listener!.onState('reconnecting');
    expect(u.store.state.notices.at(-1)).toMatchObject({ code: 'ERR_RECONNECTING', level: 'warning' });
    expect(u.store.state.connection).toBe('reconnecting');
    u.room.listener!.onState('connected');
    expect(u.store.state.notices.map((n) => n.code)).not.toContain('ERR_RECONNECTING');
    u.room.listener!.onError(Object.assign(new Error('bad checksum'), { code: 'ERR_BAD_FRAME', peerId: 'other-peer-id' }));
    expect(u.store.state.notices.at(-1)!.title).toContain('rank 1');
    u.controller.start();
    await tick();
    u.sessions[0]!.fail(Object.assign(new Error('device lost'), { code: 'ERR_DEVICE_LOST' }));
    expect(u.store.state.runState).toBe('error');
    expect(u.store.state.notices.at(-1)!.code).toBe('ERR_DEVICE_LOST');
  });
});

describe('AppController: the peer the room waits for', () => {
  async function training() {
    const t = setup();
    await t.controller.createRoom();
    await tick();
    t.controller.start();
    await tick();
    return { ...t, session: t.sessions[0]! };
  }

  it('puts the session’s pace report into the store as reported, and clears it when the run stops', async () => {
    const t = await training();
    const pace = { slowest: { peerId: 'other-peer-id', stepMs: 3_412.5 }, waitingFor: { peerId: 'other-peer-id', waitedMs: 1_250 } };
    t.session.dispatchEvent(new CustomEvent('pace', { detail: pace }));
    expect(t.store.state.pace).toEqual({ slowest: { peerId: 'other-peer-id', stepMs: 3_412.5 }, waitingFor: { peerId: 'other-peer-id', waitedMs: 1_250 } });
    t.session.dispatchEvent(new CustomEvent('pace', { detail: { slowest: { peerId: 'self-peer-id', stepMs: 90 }, waitingFor: null } }));
    expect(t.store.state.pace).toEqual({ slowest: { peerId: 'self-peer-id', stepMs: 90 }, waitingFor: null });
    t.session.set('paused');
    expect(t.store.state.pace).toBeNull();
  });

  it('drops the named peer through the room state, so every tab excludes it; never itself, never when idle', async () => {
    const idle = setup();
    await idle.controller.createRoom();
    await tick();
    idle.controller.dropPeer('other-peer-id');
    await tick();
    expect(idle.room.dropped ?? []).toEqual([]);

    const t = await training();
    t.controller.dropPeer('self-peer-id');
    t.controller.dropPeer('other-peer-id');
    await tick();
    // What the room receives names the peer and this tab; the echo makes this tab exclude it, once.
    expect(decodeRoomState(t.room.configs.at(-1)!).state).toMatchObject({ command: 'run', dropped: ['other-peer-id'], droppedBy: expect.stringMatching(/^rank 0 /) });
    expect(t.room.dropped).toEqual([{ peerId: 'other-peer-id', by: expect.stringMatching(/^rank 0 /) }]);
    t.room.listener!.onConfig(t.room.configs.at(-1)!, 'other-tab');
    expect(t.room.dropped).toHaveLength(1);
    expect(t.sessions).toHaveLength(1);
    expect(t.sessions[0]!.destroyed).toBe(false);
  });

  it('a tab the room dropped stops its run and says who dropped it; a new run starts with nobody dropped', async () => {
    const t = await training();
    const room = t.store.state.room;
    t.room.listener!.onConfig(encodeRoomState({ ...room, dropped: ['self-peer-id'], droppedBy: 'rank 1 (Phone GPU)' }), 'other-peer-id');
    await tick();
    expect(t.sessions[0]!.destroyed).toBe(true);
    expect(t.store.state.runState).toBe('idle');
    expect(t.store.state.notices.at(-1)).toMatchObject({ code: 'ERR_PEER_DROPPED', technical: 'this tab was dropped from the run by rank 1 (Phone GPU)' });
    t.controller.start();
    await tick();
    expect(decodeRoomState(t.room.configs.at(-1)!).state.dropped).toEqual([]);
  });

  it('a dropped (or excluded) peer is reported once: the session’s error and the room’s peer-left reason are one notice', async () => {
    const t = await training();
    const reason = Object.assign(new Error('peer other-peer-id dropped from the run by rank 0 (Laptop)'), { code: 'ERR_PEER_DROPPED', peerId: 'other-peer-id' });
    // The session's collective fails with ERR_PEER_LEFT whose cause is the mesh's reason…
    const left = Object.assign(new Error('peer other-peer-id left: dropped'), { code: 'ERR_PEER_LEFT', peerId: 'other-peer-id', cause: reason });
    t.session.dispatchEvent(new CustomEvent('error', { detail: left }));
    // …and the room reports the same peer leaving.
    t.room.listener!.onError(reason);
    const about = t.store.state.notices.filter((n) => n.title.includes('rank 1'));
    expect(about).toHaveLength(1);
    expect(about[0]).toMatchObject({ code: 'ERR_PEER_DROPPED', technical: reason.message });
    // A validation error naming the peer by group rank is the same peer's failure.
    const u = await training();
    u.session.dispatchEvent(new CustomEvent('error', { detail: Object.assign(new Error('bad rows'), { code: 'ERR_BAD_PEER_ROWS', rank: 1 }) }));
    u.room.listener!.onError(Object.assign(new Error('bad rows'), { code: 'ERR_BAD_PEER_DATA', peerId: 'other-peer-id' }));
    expect(u.store.state.notices.filter((n) => n.title.includes('rank 1')).map((n) => n.code)).toEqual(['ERR_BAD_PEER_ROWS']);
  });
});

describe('AppController: settings in the link', () => {
  const OTHER_ROOM = 'BBBBBBBBBBBBBBBBBBBBBBBB';

  it('a link with a preset and fields but no room creates a room with exactly those settings', async () => {
    const t = setup({ href: 'http://h/?preset=quick&mode=local&workers=2' });
    await t.controller.boot();
    await tick();
    expect(t.store.state.view).toBe('room');
    expect(t.href()).toBe(`http://h/?room=${FAKE_ROOM_ID}`);
    // Independent reference: the preset object itself with the two fields changed by hand.
    expect(decodeRoomState(t.room.configs.at(-1)!).state.config).toEqual({ ...PRESETS.quick, mode: 'local', workersPerTab: 2 });
    expect(t.store.state.room.config).toEqual({ ...PRESETS.quick, mode: 'local', workersPerTab: 2 });
    expect(t.store.state.notices).toEqual([]);
    // The share link of the room reads back to the same settings.
    expect(settingsFromLink(t.controller.shareSettingsLink())!.config).toEqual(t.store.state.room.config);
  });

  it('bad values become one notice naming each, and the rest of the link still applies', async () => {
    const t = setup({ href: 'http://h/?steps=300&workers=abc&mode=leaky' });
    await t.controller.boot();
    await tick();
    const notice = t.store.state.notices.find((n) => n.code === 'ERR_LINK_SETTINGS')!;
    expect(notice.level).toBe('warning');
    expect(notice.detail).toContain('workers="abc": expected an integer from 1 to 64');
    expect(notice.detail).toContain('mode="leaky"');
    expect(t.store.state.view).toBe('room');
    expect(t.store.state.room.config).toEqual({ ...DEFAULT_CONFIG, steps: 300 });
  });

  it('a room that already has settings keeps them; a room without any takes the link’s', async () => {
    const stored = setup({ href: `http://h/?room=${OTHER_ROOM}&preset=quick`, storedConfig: true });
    await stored.controller.boot();
    await tick();
    expect(stored.store.state.roomId).toBe(OTHER_ROOM);
    expect(stored.room.configs).toEqual([]);
    const fresh = setup({ href: `http://h/?room=${OTHER_ROOM}&preset=quick` });
    await fresh.controller.boot();
    await tick();
    expect(decodeRoomState(fresh.room.configs.at(-1)!).state.config).toEqual(PRESETS.quick);
  });

  it('a settings link whose room is gone opens a new room with the settings and says so', async () => {
    const t = setup({ href: `http://h/?room=${OTHER_ROOM}&steps=77`, unknownRooms: [OTHER_ROOM] });
    await t.controller.boot();
    await tick();
    expect(t.store.state.roomId).toBe(FAKE_ROOM_ID);
    expect(t.store.state.room.config.steps).toBe(77);
    expect(t.store.state.notices.map((n) => n.code)).toEqual(['ERR_ROOM_REPLACED']);
    // A plain room link to a gone room is an error and the landing, as before.
    const plain = setup({ href: `http://h/?room=${OTHER_ROOM}`, unknownRooms: [OTHER_ROOM] });
    await plain.controller.boot();
    expect(plain.store.state.view).toBe('landing');
    expect(plain.store.state.notices.map((n) => n.code)).toEqual(['ERR_ROOM_NOT_FOUND']);
  });
});

describe('AppController: the share link with settings, for other devices', () => {
  it('on localhost, the link is on the first address the server lists for other devices, room and settings kept', async () => {
    const room: FakeRoom = { configs: [], listener: null };
    const store = new AppStore();
    let href = 'http://localhost:8080/';
    const lan = { tls: false, selfSigned: false, local: 'http://localhost:8080', lan: [{ origin: 'http://192.168.1.5:8080', address: '192.168.1.5', interface: 'wlan0' }] };
    const controller = new AppController({
      store,
      connectRoom: fakeConnector(room),
      provideBackend: fakeBackendProvider('cpu', 'cpu'),
      createSession: null,
      origins: async () => lan,
      nav: { href: () => href, replace: (u) => (href = u) },
    });
    await controller.boot();
    await controller.createRoom();
    controller.setConfig({ steps: 99 });
    await tick();
    const link = new URL(controller.shareSettingsLink());
    expect(link.origin).toBe('http://192.168.1.5:8080');
    expect(link.searchParams.get('room')).toBe(FAKE_ROOM_ID);
    expect(settingsFromLink(link)!.config).toEqual({ ...DEFAULT_CONFIG, steps: 99 });
    controller.destroy();
  });
});
