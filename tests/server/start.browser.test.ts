/**
 * The README's run command end to end: `npm start` builds the app, serves it with signaling on one
 * port and prints a room link; two tabs that open that link land in the same room and connect over
 * WebRTC, with the production bundle (the other browser tests use the Vite dev server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openPage } from '../helpers/browser.ts';

const REPO = new URL('../../', import.meta.url).pathname;
const dist = mkdtempSync(path.join(tmpdir(), 'sbn-dist-'));
let child: ChildProcess | null = null;
let browser: Browser | null = null;

afterAll(async () => {
  await browser?.close();
  child?.kill('SIGTERM');
  rmSync(dist, { recursive: true, force: true });
});

/** The rows of the peers table as "rank:state". */
function peerStates(page: Page): Promise<string[]> {
  return page.locator('sbn-peers tbody tr[data-peer]').evaluateAll((rows) => rows.map((r) => `${r.children[0]!.textContent!.trim()}:${r.querySelector('td[data-label="State"]')!.textContent!.trim()}`));
}

it('npm start prints a room link that two tabs join and connect through', async () => {
  // globalThis.process: Vitest's build of this file may shadow the bare identifier.
  const proc = spawn(globalThis.process.execPath, [path.join(REPO, 'scripts/start.mjs'), '--port', '0', '--host', '127.0.0.1', '--dist', dist], { cwd: REPO });
  child = proc;
  let out = '';
  const banner = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops')) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`npm start exited with ${code}: ${out}`)));
  });
  await banner;
  expect(out).toMatch(/Building the app/);
  const link = /^ {2}(http:\/\/localhost:\d+\/\?room=[\w-]{22,})$/m.exec(out)?.[1];
  expect(link, out).toBeDefined();

  browser = await launchBrowser();
  const tabs: Page[] = [];
  for (let i = 0; i < 2; i++) tabs.push(await openPage(await browser.newContext(), link!));
  for (const [i, page] of tabs.entries()) {
    await expect.poll(() => peerStates(page), { timeout: 60_000 }).toEqual([0, 1].map((r) => `${r}:${r === i ? 'this tab' : 'connected'}`));
    expect(await page.locator('sbn-room-link input#room-link').inputValue()).toBe(link);
  }
});
