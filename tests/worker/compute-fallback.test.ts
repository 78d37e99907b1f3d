/**
 * Without a worker the app still trains, on the page, and says so: a Worker constructor that throws
 * (a CSP), a worker script that fails to load, or one that never reports in all end in ERR_NO_WORKER,
 * and the app's ports then come from the page with that notice attached to the backend choice.
 */
import { describe, expect, it } from 'vitest';
import type { BackendChoice, BackendHandle } from '../../src/app/ports.ts';
import { noWorkerError, startComputeWorker, workerCompute, type ComputePorts } from '../../src/worker/compute.ts';

/** A Worker stand-in that the test makes fail or report in. */
class FakeWorker extends EventTarget {
  terminated = false;
  posted: unknown[] = [];
  postMessage(message: unknown): void {
    this.posted.push(message);
  }
  terminate(): void {
    this.terminated = true;
  }
}

describe('starting the compute worker', () => {
  it('a constructor that throws (CSP) rejects with ERR_NO_WORKER and the browser’s reason', async () => {
    const started = startComputeWorker(() => {
      throw new DOMException("Refused to create a worker from 'blob:' because it violates the Content Security Policy", 'SecurityError');
    });
    await expect(started).rejects.toMatchObject({ code: 'ERR_NO_WORKER', message: expect.stringContaining('Content Security Policy') });
  });

  it('a worker whose script fails to load rejects with ERR_NO_WORKER and is terminated', async () => {
    const worker = new FakeWorker();
    const started = startComputeWorker(() => worker as unknown as Worker);
    worker.dispatchEvent(Object.assign(new Event('error'), { message: 'SyntaxError: import declarations may only appear at top level' }));
    await expect(started).rejects.toMatchObject({ code: 'ERR_NO_WORKER', message: expect.stringContaining('import declarations') });
    expect(worker.terminated).toBe(true);
  });

  it('a worker that reports in resolves, and asks nothing before the page does', async () => {
    const worker = new FakeWorker();
    const started = startComputeWorker(() => worker as unknown as Worker);
    worker.dispatchEvent(new MessageEvent('message', { data: { type: 'ready' } }));
    const compute = await started;
    expect(typeof compute.createSession).toBe('function');
    expect(worker.posted).toEqual([]);
    expect(worker.terminated).toBe(false);
  });
});

describe('the app’s compute ports', () => {
  it('without a worker, train on the page and carry ERR_NO_WORKER as a notice of the backend choice', async () => {
    const handle: BackendHandle = { label: 'page backend' };
    const sessions: unknown[] = [];
    const onPage: ComputePorts = {
      provideBackend: async (): Promise<BackendChoice> => ({ backend: handle, badge: 'cpu' }),
      createSession: (opts) => {
        sessions.push(opts);
        return new EventTarget() as never;
      },
    };
    const ports = workerCompute(() => Promise.reject(noWorkerError('blocked by the page’s Content-Security-Policy')), onPage);
    const choice = await ports.provideBackend();
    expect(choice.backend).toBe(handle);
    expect(choice.notices?.map((n) => [n.code, n.message])).toEqual([['ERR_NO_WORKER', 'no compute worker: blocked by the page’s Content-Security-Policy']]);
    ports.createSession({ backend: choice.backend, groups: null, config: {} as never, trace: true });
    expect(sessions).toHaveLength(1);
  });
});
