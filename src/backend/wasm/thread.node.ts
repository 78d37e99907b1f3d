/**
 * A helper thread of the wasm kernel pool in Node (worker_threads; ./node-threads.ts starts it): the
 * same loop as the browser's ./thread.worker.ts. Node only; the app never loads it.
 */
import { parentPort } from 'node:worker_threads';
import { startThread, type ThreadStart } from './jobs.ts';

parentPort!.once('message', (start: ThreadStart) => startThread(start, () => parentPort!.postMessage('ready')));
