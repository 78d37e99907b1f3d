/**
 * A helper thread of the wasm kernel pool in the browser (a dedicated module worker started by the
 * compute worker, ./pool.ts): instantiates the kernels over the pool's shared memory and serves jobs.
 */
import { startThread, type ThreadStart } from './jobs.ts';

const scope = self as unknown as { onmessage: ((ev: MessageEvent<ThreadStart>) => void) | null; postMessage(msg: unknown): void };
scope.onmessage = (ev) => {
  scope.onmessage = null;
  startThread(ev.data, () => scope.postMessage('ready'));
};
