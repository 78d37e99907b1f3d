/**
 * The rooms' state on disk (src/server/room-store.ts): what a restarted server gives back (rooms,
 * settings, seats, epoch, join numbers), when saved rooms expire, and that a damaged or oversized file
 * starts the server empty with a warning instead of failing it.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOM_STATE_FILE, ROOM_STATE_WRITE_DELAY_MS } from '../../src/server/room-store.ts';
import { ManualTimers, startTestServer, TestClient, type TestServer } from './helpers.ts';

const servers: TestServer[] = [];
const clients: TestClient[] = [];
const dirs: string[] = [];
const RESTORE_MS = 30_000;

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sbn-rooms-'));
  dirs.push(dir);
  return dir;
}

async function serve(stateDir: string, extra: Parameters<typeof startTestServer>[0] = {}): Promise<{ server: TestServer; timers: ManualTimers; log: string[] }> {
  const timers = new ManualTimers();
  const log: string[] = [];
  const server = await startTestServer({ resumeKey: new Uint8Array(32).fill(3), stateDir, timers, roomRestoreMs: RESTORE_MS, joinDeadlineMs: 600_000, log: (l) => log.push(l), ...extra });
  servers.push(server);
  return { server, timers, log };
}

async function connect(server: TestServer): Promise<TestClient> {
  const c = await TestClient.connect(server.url);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A room of two with a stored config, saved by the delayed write (the server is never closed: a crash). */
async function savedRoomOfTwo() {
  const dir = tempDir();
  const { server, timers } = await serve(dir);
  const [a, b] = [await connect(server), await connect(server)];
  const welcomeA = await a.create({ name: 'A', run: 'r1' });
  const welcomeB = await b.join(welcomeA.roomId, { meta: { name: 'B', run: 'r1' } });
  const config = { command: 'run', runId: 'r1', steps: 500 };
  a.send({ type: 'config', config });
  await b.next('config');
  const lastSeen = await a.membersWhere((l) => l.members.length === 2);
  timers.advance(ROOM_STATE_WRITE_DELAY_MS);
  // A copy of the file as it is now: whatever the first server does later cannot change it.
  const copy = tempDir();
  cpSync(path.join(dir, ROOM_STATE_FILE), path.join(copy, ROOM_STATE_FILE));
  return { dir: copy, roomId: welcomeA.roomId, welcomeA, welcomeB, config, lastSeen };
}

describe('room state across a restart', () => {
  it('gives the room back with its config, seats in their order and its epoch; a newcomer gets the config and the next rank', async () => {
    const { dir, roomId, welcomeA, welcomeB, config, lastSeen } = await savedRoomOfTwo();
    const file = path.join(dir, ROOM_STATE_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const { server, log } = await serve(dir);
    expect(server.signaling.stats()).toMatchObject({ rooms: 1, members: 2, seatsInGrace: 2 });
    expect(log.join('\n')).toMatch(/1 room\(s\) restored/);

    // B comes back first, with its token: its own seat, and the member list it had, at the same epoch.
    const b2 = await connect(server);
    expect(await b2.join(roomId, { resumePeerId: welcomeB.peerId, resumeToken: welcomeB.resumeToken, meta: { name: 'B', run: 'r1' } })).toMatchObject({ peerId: welcomeB.peerId });
    const listB = await b2.next('members');
    expect(listB).toEqual(lastSeen);
    expect((await b2.next('config')).config).toEqual(config);

    // A newcomer (no token) during the restore window: a fresh id after the saved seats, and the run.
    const c = await connect(server);
    const welcomeC = await c.join(roomId, { meta: { name: 'C' } });
    expect([welcomeA.peerId, welcomeB.peerId]).not.toContain(welcomeC.peerId);
    const listC = await c.next('members');
    expect(listC.members.map((m) => [m.id, m.rank, m.meta.name])).toEqual([[welcomeA.peerId, 0, 'A'], [welcomeB.peerId, 1, 'B'], [welcomeC.peerId, 2, 'C']]);
    expect(listC.epoch).toBe(lastSeen.epoch + 1);
    expect(await c.next('config')).toEqual({ type: 'config', from: welcomeA.peerId, config });

    // A returns after the newcomer and still takes rank 0.
    const a2 = await connect(server);
    await a2.join(roomId, { resumePeerId: welcomeA.peerId, resumeToken: welcomeA.resumeToken, meta: { name: 'A', run: 'r1' } });
    expect((await a2.next('members')).members.map((m) => m.id)).toEqual([welcomeA.peerId, welcomeB.peerId, welcomeC.peerId]);
    expect(server.signaling.stats()).toMatchObject({ rooms: 1, members: 3, seatsInGrace: 0 });
  });

  it('writes through a temporary file and rename, and the last member leaving removes the room from the file', async () => {
    const dir = tempDir();
    const { server, timers } = await serve(dir);
    const a = await connect(server);
    const { roomId } = await a.create();
    timers.advance(ROOM_STATE_WRITE_DELAY_MS - 1);
    expect(existsSync(path.join(dir, ROOM_STATE_FILE))).toBe(false);
    timers.advance(1);
    expect(JSON.parse(readFileSync(path.join(dir, ROOM_STATE_FILE), 'utf8')).rooms.map((r: { id: string }) => r.id)).toEqual([roomId]);
    expect(readdirSync(dir)).toEqual([ROOM_STATE_FILE]);
    a.send({ type: 'leave' });
    await new Promise((r) => setTimeout(r, 50));
    timers.advance(ROOM_STATE_WRITE_DELAY_MS);
    expect(JSON.parse(readFileSync(path.join(dir, ROOM_STATE_FILE), 'utf8')).rooms).toEqual([]);
  });

  it('a clean shutdown saves at once what the delayed write had not saved yet', async () => {
    const dir = tempDir();
    const { server } = await serve(dir);
    const a = await connect(server);
    const { roomId } = await a.create();
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    const { server: second } = await serve(dir);
    expect(second.signaling.stats()).toMatchObject({ rooms: 1, seatsInGrace: 1 });
    const stranger = await connect(second);
    expect((await stranger.join(roomId)).roomId).toBe(roomId);
  });

  it('saved seats nobody resumes expire after the restore window, and the empty room is freed', async () => {
    const { dir, roomId, welcomeA } = await savedRoomOfTwo();
    const { server, timers } = await serve(dir);
    timers.advance(RESTORE_MS - 1);
    expect(server.signaling.stats()).toMatchObject({ rooms: 1, members: 2 });
    timers.advance(1);
    expect(server.signaling.stats()).toMatchObject({ rooms: 0, members: 0, pendingTimers: 0 });
    timers.advance(ROOM_STATE_WRITE_DELAY_MS);
    expect(JSON.parse(readFileSync(path.join(dir, ROOM_STATE_FILE), 'utf8')).rooms).toEqual([]);
    // Past the window an unknown room is simply not found; a member's token still recreates it.
    const stranger = await connect(server);
    stranger.send({ type: 'join', roomId });
    expect((await stranger.next('error')).code).toBe('ERR_ROOM_NOT_FOUND');
    const a2 = await connect(server);
    expect(await a2.join(roomId, { resumePeerId: welcomeA.peerId, resumeToken: welcomeA.resumeToken })).toMatchObject({ peerId: welcomeA.peerId });
  });
});

describe('a bad state file', () => {
  const cases: Array<[string, (good: string) => string]> = [
    ['not JSON', () => '{"version":1,"rooms":[{"id":'],
    ['another version', (good) => good.replace('"version":1', '"version":2')],
    ['a seat at or past the next join number', (good) => good.replace(/"nextSeq":\d+/, '"nextSeq":1')],
    ['a malformed meta', (good) => good.replace('"name":"B"', '"name":7')],
  ];
  for (const [what, damage] of cases) {
    it(`(${what}) starts the server empty with a warning; within the restart window an unknown room is "restoring", then "not found"`, async () => {
      const { dir, roomId } = await savedRoomOfTwo();
      const file = path.join(dir, ROOM_STATE_FILE);
      writeFileSync(file, damage(readFileSync(file, 'utf8')));
      const { server, timers, log } = await serve(dir);
      expect(server.signaling.stats()).toMatchObject({ rooms: 0, members: 0 });
      expect(log.join('\n')).toMatch(/warning: .*rooms\.json .*starting without the saved rooms/);
      const c = await connect(server);
      c.send({ type: 'join', roomId });
      expect(await c.next('error')).toMatchObject({ code: 'ERR_ROOM_RESTORING', message: expect.stringMatching(/just restarted/) });
      timers.advance(RESTORE_MS);
      c.send({ type: 'join', roomId });
      expect((await c.next('error')).code).toBe('ERR_ROOM_NOT_FOUND');
    });
  }

  it('over the server\'s caps (more rooms than it holds) is not loaded', async () => {
    const { dir } = await savedRoomOfTwo();
    const file = path.join(dir, ROOM_STATE_FILE);
    const state = JSON.parse(readFileSync(file, 'utf8'));
    state.rooms.push({ ...state.rooms[0], id: 'B'.repeat(22) });
    writeFileSync(file, JSON.stringify(state));
    const { server, log } = await serve(dir, { maxRooms: 1 });
    expect(server.signaling.stats().rooms).toBe(0);
    expect(log.join('\n')).toMatch(/warning: /);
  });

  it('a first start (no file) knows no restart window: an unknown room is not found at once', async () => {
    const { server } = await serve(tempDir());
    const c = await connect(server);
    c.send({ type: 'join', roomId: 'C'.repeat(22) });
    expect((await c.next('error')).code).toBe('ERR_ROOM_NOT_FOUND');
  });
});
