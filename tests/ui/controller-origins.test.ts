/**
 * The controller asks the page's server where other devices reach it, once at boot, and puts the answer
 * where the room view reads it; a server without the endpoint (or one that fails) leaves it null, and
 * the rest of the app boots as before.
 */
import { describe, expect, it } from 'vitest';
import { AppController } from '../../src/app/controller.ts';
import type { OriginsProvider } from '../../src/app/ports.ts';
import { AppStore } from '../../src/app/store.ts';
import type { ServerOrigins } from '../../src/signaling/origins.ts';
import { fakeBackendProvider } from './fakes.ts';

const ORIGINS: ServerOrigins = {
  tls: true,
  selfSigned: true,
  local: 'https://localhost:8443',
  lan: [{ origin: 'https://192.168.1.5:8443', address: '192.168.1.5', interface: 'wlan0' }],
};

async function boot(origins: OriginsProvider | undefined): Promise<{ store: AppStore; asked: number }> {
  const store = new AppStore();
  let asked = 0;
  const counted: OriginsProvider | undefined = origins && (() => (asked++, origins()));
  const controller = new AppController({
    store,
    connectRoom: null,
    provideBackend: fakeBackendProvider('webgpu', 'test GPU'),
    createSession: null,
    nav: { href: () => 'https://localhost:8443/', replace: () => {} },
    ...(counted ? { origins: counted } : {}),
  });
  await controller.boot();
  await new Promise((r) => setTimeout(r, 10));
  controller.destroy();
  return { store, asked };
}

describe('server origins in the app state', () => {
  it('are asked once at boot and stored as the server said', async () => {
    const { store, asked } = await boot(async () => ORIGINS);
    expect(asked).toBe(1);
    expect(store.state.origins).toEqual(ORIGINS);
  });

  it('stay null when the server does not say, or the request fails, without a notice', async () => {
    for (const provider of [async () => null, async () => { throw new TypeError('Failed to fetch'); }, undefined]) {
      const { store } = await boot(provider);
      expect(store.state.origins).toBeNull();
      expect(store.state.notices.map((n) => n.code)).not.toContain('ERR_UNKNOWN');
    }
  });
});
