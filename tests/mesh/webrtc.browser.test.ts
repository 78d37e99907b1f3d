/**
 * Real WebRTC between headless Chromium tabs, inside the test network namespace. First four tabs of one
 * browser join a room by its link and allReduce 4 MiB; then two network namespaces joined by a veth pair
 * act as two hosts, each with its own Chromium, and form one mesh across the "network".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userInfo } from 'node:os';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { harnessUrl, launchBrowser, loadPageModule, openPage, startDevServer, type DevServer } from '../helpers/browser.ts';

type PageModule = typeof import('./mesh.page.ts');
const PAGE_MODULE = '/tests/mesh/mesh.page.ts';
const FLOATS_4MIB = (4 * 1024 * 1024) / 4;

/** Calls an export of the page module in the tab. The script is a string: vitest rewrites `import()` in functions. */
async function call<K extends keyof PageModule>(page: Page, fn: K, ...args: unknown[]): Promise<Awaited<ReturnType<Extract<PageModule[K], (...a: never[]) => unknown>>>> {
  const script = `import(${JSON.stringify(PAGE_MODULE)}).then((m) => m[${JSON.stringify(fn)}](...${JSON.stringify(args)}))`;
  return page.evaluate(script) as never;
}

/** Opens a tab on the room link (`?room=`), as a person following the link would. */
async function openRoomTab(browser: Browser, server: DevServer, roomId?: string): Promise<Page> {
  const url = `${harnessUrl(server)}${roomId ? `?room=${roomId}` : ''}`;
  return openPage(browser, url);
}

async function joinFromLink(page: Page): Promise<{ peerId: string; roomId: string }> {
  await loadPageModule(page, PAGE_MODULE);
  const roomId = await page.evaluate(() => new URL(location.href).searchParams.get('room') ?? undefined);
  return call(page, 'join', roomId);
}

describe('WebRTC mesh in one browser', () => {
  let server: DevServer;
  let browser: Browser;
  beforeAll(async () => {
    server = await startDevServer();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('4 tabs join one room by its link; allReduce of 4 MiB equals the reference on every tab', async () => {
    const first = await openRoomTab(browser, server);
    const { roomId } = await joinFromLink(first);
    const others = await Promise.all([1, 2, 3].map(() => openRoomTab(browser, server, roomId)));
    for (const page of others) await joinFromLink(page);
    const tabs = [first, ...others];
    const views = await Promise.all(tabs.map((p) => call(p, 'waitForSize', 4, 90_000)));
    // Everyone agrees on the epoch and the rank order; ranks are distinct.
    expect(new Set(views.map((v) => v.epoch)).size).toBe(1);
    expect(new Set(views.map((v) => v.members.join(','))).size).toBe(1);
    expect(views.map((v) => v.rank).sort()).toEqual([0, 1, 2, 3]);

    const results = await Promise.all(tabs.map((p) => call(p, 'allReduceCheck', FLOATS_4MIB, 42)));
    for (const r of results) expect(r.maxAbsError).toBeLessThan(1e-5); // 4 inputs of |x| ≤ 2: float32 rounding only
    expect(new Set(results.map((r) => r.resultHash)).size).toBe(1);
    console.log(`allReduce 4 MiB on 4 tabs: ${results.map((r) => r.ms.toFixed(0)).join(', ')} ms`);

    // A tab leaves: the others see a new epoch of 3 and keep working.
    await call(tabs[3]!, 'leave');
    const after = await Promise.all(tabs.slice(0, 3).map((p) => call(p, 'waitForSize', 3)));
    expect(after.map((v) => v.rank).sort()).toEqual([0, 1, 2]);
    for (const page of tabs.slice(0, 3)) expect((await call(page, 'log')).some((line) => line.startsWith('peer-left'))).toBe(true);
    expect(new Set(after.map((v) => v.epoch)).size).toBe(1);
    const small = await Promise.all(tabs.slice(0, 3).map((p) => call(p, 'allReduceCheck', 1000, 7)));
    for (const r of small) expect(r.maxAbsError).toBeLessThan(1e-5);
    for (const page of tabs) await page.close();
  });

  it('statistics on a connection of their own (split links): 2 tabs allReduce 4 MiB and exchange statistics', async () => {
    const first = await openRoomTab(browser, server);
    await loadPageModule(first, PAGE_MODULE);
    const { roomId } = await call(first, 'join', undefined, undefined, undefined, true);
    const second = await openRoomTab(browser, server, roomId);
    await loadPageModule(second, PAGE_MODULE);
    await call(second, 'join', roomId, undefined, undefined, true);
    const tabs = [first, second];
    await Promise.all(tabs.map((p) => call(p, 'waitForSize', 2, 90_000)));
    const results = await Promise.all(tabs.map((p) => call(p, 'allReduceCheck', FLOATS_4MIB, 43)));
    for (const r of results) expect(r.maxAbsError).toBeLessThan(1e-5);
    expect(new Set(results.map((r) => r.resultHash)).size).toBe(1);
    // Each tab checks it received its neighbour's rows (statsExchange throws otherwise).
    await Promise.all(tabs.map((p) => call(p, 'statsExchange')));
    for (const page of tabs) await page.close();
  });
});

// The Node polyfills of vite.config.ts replace the bare `process` in transformed files: use the real one.
const nodeProcess = globalThis.process;
/** Two "hosts": network namespaces joined by a veth pair, each with a default route over it. */
const HOST_A = { ns: `sbn-a-${nodeProcess.pid}`, ip: '10.78.0.1', dev: `sbna${nodeProcess.pid % 100_000}` };
const HOST_B = { ns: `sbn-b-${nodeProcess.pid}`, ip: '10.78.0.2', dev: `sbnb${nodeProcess.pid % 100_000}` };
const isRoot = userInfo().uid === 0;

function sh(...args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}
function removeNamespaces(): void {
  for (const host of [HOST_A, HOST_B]) {
    try {
      sh('ip', 'netns', 'del', host.ns);
    } catch {
      // not there
    }
  }
}

if (!isRoot) console.warn('skipping the two-host WebRTC test: creating network namespaces (ip netns add) needs root');

describe.skipIf(!isRoot)('WebRTC mesh across two hosts (network namespaces; needs root)', () => {
  let serverProcess: ChildProcess | null = null;
  let port = 0;
  const browsers: Browser[] = [];

  beforeAll(async () => {
    removeNamespaces();
    sh('ip', 'netns', 'add', HOST_A.ns);
    sh('ip', 'netns', 'add', HOST_B.ns);
    sh('ip', 'link', 'add', HOST_A.dev, 'netns', HOST_A.ns, 'type', 'veth', 'peer', 'name', HOST_B.dev, 'netns', HOST_B.ns);
    for (const [host, other] of [[HOST_A, HOST_B], [HOST_B, HOST_A]] as const) {
      const inNs = (...args: string[]) => sh('ip', 'netns', 'exec', host.ns, ...args);
      inNs('ip', 'link', 'set', 'lo', 'up');
      inNs('ip', 'addr', 'add', `${host.ip}/24`, 'dev', host.dev);
      inNs('ip', 'link', 'set', host.dev, 'up');
      // Without a default route Chromium gathers no ICE candidates.
      inNs('ip', 'route', 'add', 'default', 'via', other.ip, 'dev', host.dev);
    }
    // The dev server (page + signaling) runs on host A; host B reaches it over the veth.
    serverProcess = spawn('ip', ['netns', 'exec', HOST_A.ns, nodeProcess.execPath, '--import', 'tsx', new URL('./serve-dev.ts', import.meta.url).pathname], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      serverProcess!.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve((JSON.parse(line) as { port: number }).port);
      });
      serverProcess!.on('exit', (code) => reject(new Error(`dev server in ${HOST_A.ns} exited with ${code}`)));
    });
  });

  afterAll(async () => {
    for (const b of browsers) await b.close().catch(() => {});
    if (serverProcess && serverProcess.exitCode === null) {
      serverProcess.stdin?.end();
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          serverProcess!.kill('SIGKILL');
          resolve(null);
        }, 5_000);
        serverProcess!.once('exit', () => {
          clearTimeout(timer);
          resolve(null);
        });
      });
    }
    removeNamespaces();
  });

  it('a tab on each host forms one mesh over the veth and allReduces correctly', async () => {
    const base = `http://${HOST_A.ip}:${port}/tests/pages/harness.html`;
    const browserA = await launchBrowser({ netns: HOST_A.ns });
    browsers.push(browserA);
    const browserB = await launchBrowser({ netns: HOST_B.ns });
    browsers.push(browserB);
    const pageA = await openPage(browserA, base);
    const { roomId } = await joinFromLink(pageA);
    const pageB = await openPage(browserB, `${base}?room=${roomId}`);
    await joinFromLink(pageB);
    const views = await Promise.all([pageA, pageB].map((p) => call(p, 'waitForSize', 2, 90_000)));
    expect(views[0]!.epoch).toBe(views[1]!.epoch);
    const results = await Promise.all([pageA, pageB].map((p) => call(p, 'allReduceCheck', 300_000, 5)));
    for (const r of results) expect(r.maxAbsError).toBeLessThan(1e-5);
    expect(results[0]!.resultHash).toBe(results[1]!.resultHash);
    // The link really crosses the veth: B's page sees A's address as the server, and stats flow both ways.
    expect(await pageB.evaluate(() => location.hostname)).toBe(HOST_A.ip);
    await Promise.all([pageA, pageB].map((p) => call(p, 'statsExchange')));
  });
});
