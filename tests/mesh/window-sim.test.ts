/**
 * Fixed against adaptive send windows over the link model (sim-link.ts) on a driven clock: on a fast
 * link with a long round trip the adaptive window fills the wire where a fixed 32 KiB one is capped at
 * window/RTT; beside a slow receiving page it keeps a statistics frame's wait near its target where a
 * large fixed window makes it wait for the whole window.
 */
import { describe, expect, it } from 'vitest';
import { MeshEndpoint } from '../../src/mesh/endpoint.ts';
import { DEFAULT_ADAPTIVE_WINDOW, type SendWindowOption } from '../../src/mesh/send-window.ts';
import { MAX_FRAME_BYTES } from '../../src/mesh/chunker.ts';
import { createSimLinkPair, runUntil, type SimLinkConfig } from './sim-link.ts';
import { fakeClock } from './fake-timers.ts';

const A = 'peer-aaaa';
const B = 'peer-bbbb';
const MIB = 1024 * 1024;

function pair(config: SimLinkConfig, sendWindow: SendWindowOption) {
  const clock = fakeClock(0);
  const sender = new MeshEndpoint({ selfId: A, heartbeatIntervalMs: 0, timers: clock.timers, sendWindow });
  const receiver = new MeshEndpoint({ selfId: B, heartbeatIntervalMs: 0, timers: clock.timers, sendWindow });
  const [aToB, bToA] = createSimLinkPair(clock, A, B, config);
  sender.addLink(aToB);
  receiver.addLink(bToA);
  return { clock, sender, receiver, close: () => (sender.destroy(), receiver.destroy()) };
}

/** Model time (ms) until `bytes` of padding have all been handled by the receiving page. */
async function transferMs(config: SimLinkConfig, sendWindow: SendWindowOption, bytes: number): Promise<number> {
  const { clock, sender, receiver, close } = pair(config, sendWindow);
  const sending = sender.sendPadding(B, bytes);
  await runUntil(clock, 60_000, () => receiver.paddingReceived(A) >= bytes);
  await sending;
  const ms = clock.now;
  close();
  return ms;
}

/**
 * Stats pings (ms, model time) sent every `everyMs` while `bytes` of bulk stream from A to B, after the
 * first `skipMs` (the window settling); and the same ping on the idle link.
 */
async function pingsUnderLoad(config: SimLinkConfig, sendWindow: SendWindowOption, bytes: number, everyMs: number, skipMs: number): Promise<{ idleMs: number; loadedMs: number[] }> {
  const { clock, sender, receiver, close } = pair(config, sendWindow);
  let idleMs = NaN;
  void sender.ping(B, 'stats').then((ms) => (idleMs = ms));
  await runUntil(clock, 1_000, () => !Number.isNaN(idleMs));
  const start = clock.now;
  let streaming = true;
  const sending = sender.sendPadding(B, bytes).then(() => (streaming = false));
  const loadedMs: number[] = [];
  for (let at = start + skipMs; streaming; at += everyMs) {
    await runUntil(clock, at, () => !streaming);
    if (!streaming) break;
    let rtt = NaN;
    void sender.ping(B, 'stats').then((ms) => (rtt = ms));
    await runUntil(clock, at + 1_000, () => !Number.isNaN(rtt));
    if (streaming && receiver.paddingReceived(A) < bytes) loadedMs.push(rtt);
  }
  await sending;
  close();
  return { idleMs, loadedMs };
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

describe('adaptive against fixed send window, in the link model', () => {
  it('fills a 50 MB/s link with a 5 ms round trip, where a fixed 32 KiB window gets about window/RTT', async () => {
    // A fast page: a frame costs it 10 µs. The wire is the bottleneck.
    const link: SimLinkConfig = { bytesPerMs: 50_000, oneWayMs: 2.5, processMs: () => 0.01 };
    const bytes = 16 * MIB;
    const wireMs = (bytes * (1 + 40 / (MAX_FRAME_BYTES - 40))) / link.bytesPerMs; // frames' headers included
    const adaptive = await transferMs(link, { mode: 'adaptive' }, bytes);
    const fixed = await transferMs(link, { mode: 'fixed' }, bytes);
    // Independent reference: the wire's own time for these bytes, and window/RTT for the fixed window.
    expect(wireMs / adaptive).toBeGreaterThan(0.85);
    const windowPerRtt = (32 * 1024 + MAX_FRAME_BYTES) / (2 * link.oneWayMs); // bytes/ms, high mark plus the frame past it
    expect(bytes / fixed).toBeLessThan(1.05 * windowPerRtt);
    expect(fixed / adaptive).toBeGreaterThan(4);
  }, 60_000);

  it('beside a slow receiving page, keeps a statistics frame’s wait near the target; a 256 KiB fixed window does not', async () => {
    // The page handles bulk at 32 MB/s (0.5 ms a frame) behind a 200 MB/s wire: bulk queues in its task queue.
    const frameMs = 0.5;
    const link: SimLinkConfig = { bytesPerMs: 200_000, oneWayMs: 0.1, processMs: (channel, n) => (channel === 'bulk' ? (frameMs * n) / MAX_FRAME_BYTES : 0.005) };
    const bytes = 8 * MIB;
    const adaptive = await pingsUnderLoad(link, { mode: 'adaptive' }, bytes, 3, 50);
    const fixed = await pingsUnderLoad(link, { mode: 'fixed', highBytes: 256 * 1024, lowBytes: 128 * 1024 }, bytes, 3, 50);
    expect(adaptive.loadedMs.length).toBeGreaterThan(20);
    const adaptiveWait = median(adaptive.loadedMs) - adaptive.idleMs;
    const fixedWait = median(fixed.loadedMs) - fixed.idleMs;
    // A stats frame waits for the bulk queued ahead of it at the page: the target, plus the frame in hand.
    expect(adaptiveWait).toBeLessThanOrEqual(DEFAULT_ADAPTIVE_WINDOW.targetDelayMs + frameMs);
    // The same bound fails with a 256 KiB fixed window (it keeps 128-256 KiB queued, here ~9 frames).
    expect(fixedWait).toBeGreaterThan(DEFAULT_ADAPTIVE_WINDOW.targetDelayMs + frameMs);
    // And the bulk still moves at the page's pace.
    const pageMs = (bytes / MAX_FRAME_BYTES) * frameMs;
    expect(pageMs / (await transferMs(link, { mode: 'adaptive' }, bytes))).toBeGreaterThan(0.9);
  }, 60_000);
});
