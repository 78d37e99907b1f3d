/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite';
import { nodePolyfills } from 'vite-plugin-node-polyfills';
import { CROSS_ORIGIN_ISOLATION_HEADERS } from './src/server/static.ts';

/**
 * Serves the signaling WebSocket and `GET /api/origins` (where other devices reach this server) on the
 * dev server's own port, as `npm start` does in production.
 */
function signaling(): Plugin {
  return {
    name: 'shufflebn-signaling',
    async configureServer(server) {
      if (!server.httpServer) return;
      const { SIGNAL_PATH } = await import('./src/signaling/protocol.ts');
      // A dev server that proxies the signaling path to a separate server (`npm start` elsewhere, or a
      // test that restarts it) leaves that path to the proxy.
      if (server.config.server.proxy && SIGNAL_PATH in server.config.server.proxy) return;
      const { attachSignaling } = await import('./src/server/signaling.ts');
      const { createOriginsHandler } = await import('./src/server/urls.ts');
      const { isSelfSigned } = await import('./src/server/certs.ts');
      const { ORIGINS_PATH } = await import('./src/signaling/origins.ts');
      // Vite serves HTTP/1.1 here (no http2 option is set).
      const handle = attachSignaling(server.httpServer as import('node:http').Server);
      server.httpServer.once('close', () => handle.close());
      const { host, https } = server.config.server;
      const cert = https && (typeof https.cert === 'string' || Buffer.isBuffer(https.cert)) ? String(https.cert) : '';
      server.middlewares.use(
        ORIGINS_PATH,
        createOriginsHandler({
          protocol: https ? 'https' : 'http',
          // `vite --host` (true) listens on every interface; without it, on localhost only.
          host: host === true ? '0.0.0.0' : host || 'localhost',
          port: () => (server.httpServer!.address() as import('node:net').AddressInfo).port,
          selfSigned: cert !== '' && isSelfSigned(cert),
        }),
      );
    },
  };
}

export default defineConfig(({ mode }) => ({
  plugins: [
    // simple-peer expects Node's globals in the browser. Not in Vitest's own Node runs (mode 'test'),
    // where they would shadow Node's real Buffer and process.
    mode === 'test' ? null : nodePolyfills({ include: ['buffer', 'process', 'events', 'stream', 'util'], globals: { global: true, process: true, Buffer: true } }),
    signaling(),
  ],
  build: { target: 'es2022', outDir: 'dist', sourcemap: true },
  // The compute worker (src/worker/compute.worker.ts) is a module worker that loads backends on demand.
  worker: { format: 'es' },
  optimizeDeps: {
    // Pre-bundle up front: a mid-test "new dependencies optimized, reloading" would break browser tests.
    include: ['lit', 'lit/decorators.js', 'simple-peer', 'uplot', 'qrcode', 'zod'],
  },
  // COOP/COEP as `npm start` sends them (src/server/static.ts): the page is cross-origin isolated, so
  // the wasm backend may run threads over shared memory.
  server: { host: '127.0.0.1', headers: { ...CROSS_ORIGIN_ISOLATION_HEADERS } },
  preview: { headers: { ...CROSS_ORIGIN_ISOLATION_HEADERS } },
  test: {
    // After the summary: every test that needed its retry, with its first attempt's error.
    reporters: ['default', './tests/helpers/retry-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/**/*.browser.test.ts', 'node_modules/**'],
          environment: 'node',
          testTimeout: 60_000,
          // Unit tests first, then the browser tests (they differ in maxWorkers, so they run as two groups).
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['tests/**/*.browser.test.ts'],
          environment: 'node',
          // Each file drives its own Chromium; two at once is what 2 cores hold.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          testTimeout: 240_000,
          hookTimeout: 120_000,
          // A browser test that fails is run once more, and vitest reports it as retried. Two real-tab
          // tests at once on 2 cores can starve a page past its waits; a failure that repeats is still
          // a failure.
          retry: 1,
          // A failed attempt that is retried prints its error at once (vitest shows only the last).
          setupFiles: ['tests/helpers/report-retries.ts'],
        },
      },
    ],
  },
}));
