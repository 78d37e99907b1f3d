/**
 * Page module for the bulk worker's link-level checks: two SimplePeerLinks in one tab, wired to each
 * other directly (their signals are handed over in the page, no server), with the bulk worker on.
 */
import { SimplePeerLink } from '../../src/mesh/simple-peer-link.ts';
import { bulkWorkerStatus, setBulkWorker } from '../../src/mesh/bulk-worker/host.ts';

async function linkedPair(): Promise<[SimplePeerLink, SimplePeerLink]> {
  let a: SimplePeerLink | null = null;
  let b: SimplePeerLink | null = null;
  const toB: unknown[] = [];
  const toA: unknown[] = [];
  a = new SimplePeerLink({ selfId: 'a', remoteId: 'b', initiator: true, iceServers: [], sendSignal: (s) => (b ? b.signal(s) : toB.push(s)) });
  b = new SimplePeerLink({ selfId: 'b', remoteId: 'a', initiator: false, iceServers: [], sendSignal: (s) => a!.signal(s) });
  for (const s of toB.splice(0)) b.signal(s);
  for (const s of toA.splice(0)) a.signal(s);
  await Promise.all([a.opened, b.opened]);
  return [a, b];
}

/**
 * Queues `bytes` of bulk on one link, waits for its send buffer to drain to 0 and closes the link
 * `closeAfterMs` later (null: never). Returns whether the wait ended and how, and the worker's status.
 */
export async function drainAcrossClose(bytes: number, closeAfterMs: number | null): Promise<{ inWorker: number; bufferedAtStart: number; outcome: string; ms: number }> {
  setBulkWorker(true);
  const [a, b] = await linkedPair();
  let received = 0;
  b.onMessage((_, data) => (received += data.byteLength));
  for (let sent = 0; sent < bytes; sent += 16 * 1024) a.send('bulk', new ArrayBuffer(16 * 1024));
  const bufferedAtStart = a.bufferedAmount('bulk');
  const t0 = performance.now();
  if (closeAfterMs !== null) setTimeout(() => a.destroy('closed by the test'), closeAfterMs);
  const outcome = await Promise.race([
    a.whenDrained('bulk', 0).then(() => (a.open ? 'drained' : 'released by close')),
    new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 5_000)),
  ]);
  const ms = performance.now() - t0;
  a.destroy();
  b.destroy();
  return { inWorker: bulkWorkerStatus().inWorker, bufferedAtStart, outcome: `${outcome} (${received} bytes received)`, ms };
}
