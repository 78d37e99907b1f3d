/**
 * Helper threads for the kernel pool in Node (tests and `npm run bench:cpu`): worker_threads running
 * ./thread.node.ts, bundled once to plain JavaScript by esbuild (tsx's and Vite's own compiler), since
 * Node 20 worker threads do not take a TypeScript loader. Node only: the app and the browser never
 * import this file, and in Node the wasm backend runs one thread unless given this spawner.
 */
import { buildSync } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SpawnThread } from './pool.ts';

let bundled: string | null = null;

function threadScript(): string {
  bundled ??= buildSync({
    entryPoints: [fileURLToPath(new URL('./thread.node.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
  }).outputFiles[0]!.text;
  return bundled;
}

export const spawnNodeThread: SpawnThread = () => {
  const worker = new Worker(threadScript(), { eval: true });
  // A helper blocks in Atomics.wait between jobs: it must not keep the process alive on its own.
  worker.unref();
  return {
    post: (msg) => worker.postMessage(msg),
    onMessage: (cb) => worker.on('message', cb),
    onError: (cb) => worker.on('error', cb),
    terminate: () => void worker.terminate(),
  };
};
