/**
 * Headless browser plumbing for tests, benchmarks and the experiment runner: a Vite dev server (app + signaling on one port) and headless Chromium from
 * Debian's package, driven by playwright-core. Browser tests run in Node and load modules into pages
 * with `import('/src/...')` / `import('/tests/...')` inside `page.evaluate`.
 */
import { createServer, type ViteDevServer } from 'vite';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { SIGNAL_PATH } from '../../src/signaling/protocol.ts';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  // Real host candidates instead of mDNS names: mDNS does not resolve across network namespaces.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

export interface DevServer {
  /** Base URL, e.g. http://127.0.0.1:5173 (no trailing slash). */
  url: string;
  port: number;
  vite: ViteDevServer;
  close(): Promise<void>;
}

/**
 * Starts the Vite dev server with the signaling endpoint on an ephemeral port. `signalingTarget`
 * (e.g. 'ws://127.0.0.1:4100'): the pages' signaling socket is proxied to that server instead, so a
 * test can stop and restart signaling while the pages stay served.
 */
export async function startDevServer(opts: { host?: string; signalingTarget?: string } = {}): Promise<DevServer> {
  const host = opts.host ?? '127.0.0.1';
  const vite = await createServer({
    configFile: new URL('../../vite.config.ts', import.meta.url).pathname,
    // 'development', not Vitest's 'test': pages need the browser polyfills (see vite.config.ts).
    mode: 'development',
    server: { port: 0, host, strictPort: false, hmr: false, ...(opts.signalingTarget ? { proxy: { [SIGNAL_PATH]: { target: opts.signalingTarget, ws: true } } } : {}) },
    logLevel: 'warn',
    clearScreen: false,
  });
  await vite.listen();
  const port = (vite.httpServer!.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' ? '127.0.0.1' : host;
  return { url: `http://${shownHost}:${port}`, port, vite, close: () => vite.close() };
}

export interface LaunchOptions {
  /** Run this Chromium inside the named network namespace (`ip netns`), e.g. a second "host". */
  netns?: string;
  /** Pin this Chromium and every process it starts to these cores (a taskset list, e.g. '1'). */
  cpus?: string;
  /** Extra Chromium flags, e.g. '--disable-unsafe-webgpu'. */
  args?: string[];
}

/** Launches headless Chromium from Debian's package. */
export async function launchBrowser(opts: LaunchOptions = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it with 'apt-get install -y chromium' (or set CHROMIUM_PATH)`);
  }
  if (opts.netns && opts.cpus) throw new Error('launchBrowser: pass netns or cpus, not both');
  const executablePath = opts.netns
    ? new URL('../chromium-in-netns.sh', import.meta.url).pathname
    : opts.cpus
      ? new URL('../chromium-pinned.sh', import.meta.url).pathname
      : CHROMIUM_PATH;
  return chromium.launch({
    executablePath,
    args: [...CHROMIUM_ARGS, ...(opts.args ?? [])],
    env: { ...process.env, ...(opts.netns ? { SHUFFLEBN_NETNS_NAME: opts.netns } : {}), ...(opts.cpus ? { SHUFFLEBN_CPUS: opts.cpus } : {}) },
  });
}

/**
 * Opens a page and forwards page errors and console errors to the test output. A test-only
 * SBN_TEST_MISROUTE in the environment reaches the page as `globalThis.__SBN_TEST_MISROUTE__` (see
 * src/nn/batchnorm/exchange.ts), so a whole browser suite can run with the mis-routing on.
 */
export async function openPage(target: Browser | BrowserContext, url: string): Promise<Page> {
  const page = await target.newPage();
  const misroute = process.env.SBN_TEST_MISROUTE;
  if (misroute) await page.addInitScript(`globalThis.__SBN_TEST_MISROUTE__ = ${JSON.stringify(misroute)};`);
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`[page console] ${msg.text()}`);
  });
  await page.goto(url);
  return page;
}

/** The blank page that browser tests import their modules into. */
export function harnessUrl(server: DevServer): string {
  return `${server.url}/tests/pages/harness.html`;
}

/** An export of a page module, called in the page: arguments and result travel as JSON. */
export type PageCall<M> = <K extends keyof M>(fn: K, ...args: unknown[]) => Promise<M[K] extends (...a: never[]) => infer R ? Awaited<R> : never>;

/**
 * Calls exports of a module that Vite serves (e.g. '/tests/gpu/kernels.page.ts') in a page. The script
 * is a string: inside a function, Vitest's module transform would rewrite `import()` before it reached
 * the page.
 */
export function pageModuleCaller<M>(page: () => Page, modulePath: string): PageCall<M> {
  return (fn, ...args) =>
    page().evaluate(`import(${JSON.stringify(modulePath)}).then((m) => m[${JSON.stringify(String(fn))}](...${JSON.stringify(args)}))`) as never;
}

/**
 * Loads a page module, reloading the page once if Vite answers "504 Outdated Optimize Dep" (its
 * dependency cache was refreshed by another dev server on this machine while the page loaded).
 */
export async function loadPageModule(page: Page, modulePath: string): Promise<void> {
  const load = () => page.evaluate(`import(${JSON.stringify(modulePath)}).then(() => true)`);
  try {
    await load();
  } catch {
    await page.reload();
    await load();
  }
}

export interface Harness {
  server: DevServer;
  browser: Browser;
  /** The blank harness page, ready for page modules. */
  page: Page;
  close(): Promise<void>;
}

/** Dev server + Chromium + the harness page: what one browser test file needs. */
export async function openHarness(): Promise<Harness> {
  const server = await startDevServer();
  const browser = await launchBrowser();
  const page = await openPage(browser, harnessUrl(server));
  return {
    server,
    browser,
    page,
    async close() {
      await browser.close().catch(() => {});
      await server.close();
    },
  };
}

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/**
 * Firefox prefs for rooms on one machine: real host addresses in ICE candidates instead of mDNS names
 * (mDNS does not resolve across network namespaces; Chromium gets --disable-features=WebRtcHideLocalIpsWithMdns).
 */
export const FIREFOX_PREFS: Record<string, unknown> = {
  'media.peerconnection.ice.obfuscate_host_addresses': false,
};

/**
 * Launches headless Firefox ESR (Debian's `firefox-esr`) through puppeteer-core over WebDriver BiDi.
 * Firefox on Linux has no WebGPU, so the app runs there on the CPU backend.
 */
export async function launchFirefox(): Promise<import('puppeteer-core').Browser> {
  if (!existsSync(FIREFOX_PATH)) {
    throw new Error(`Firefox not found at ${FIREFOX_PATH}: install it with 'apt-get install -y firefox-esr' (or set FIREFOX_PATH)`);
  }
  const { default: puppeteer } = await import('puppeteer-core');
  return puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX_PATH, headless: true, protocol: 'webDriverBiDi', extraPrefsFirefox: FIREFOX_PREFS });
}
