/**
 * Paths where a credited byte could be lost, each of which would hold a sender short of its window
 * (or stall it) for the life of the link: a credit the stats channel refuses, a sender waiting for
 * the link's own send buffer when the link is replaced, and the round-trip timing that credits carry.
 */
import { describe, expect, it } from 'vitest';
import { MeshEndpoint } from '../../src/mesh/endpoint.ts';
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { CREDIT_RETRY_MS, FlowControl } from '../../src/mesh/flow-control.ts';
import { FIXED_HIGH_BYTES, type CreditSample, type WindowPolicy } from '../../src/mesh/send-window.ts';
import { decodeFrame, FrameKind } from '../../src/mesh/wire.ts';
import type { Link } from '../../src/mesh/transport.ts';
import { fakeClock } from './fake-timers.ts';

const A = 'peer-aaaa';
const B = 'peer-bbbb';
const flush = async (rounds = 10) => {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

/** `link` with some methods replaced; the rest (and its state) stay the link's own. */
function wrapLink(link: Link, overrides: Partial<Pick<Link, 'send' | 'bufferedAmount' | 'whenDrained'>>): Link {
  return {
    get remoteId() {
      return link.remoteId;
    },
    get open() {
      return link.open;
    },
    send: overrides.send ?? ((channel, data) => link.send(channel, data)),
    bufferedAmount: overrides.bufferedAmount ?? ((channel) => link.bufferedAmount(channel)),
    whenDrained: overrides.whenDrained ?? ((channel, lowBytes) => link.whenDrained(channel, lowBytes)),
    onMessage: (handler) => link.onMessage(handler),
    onClose: (handler) => link.onClose(handler),
    destroy: (reason) => link.destroy(reason),
  };
}

/** `link` whose stats channel throws on credit frames while `refuse()` says so (a full or closing channel). */
function refusingCredits(link: Link, refuse: () => boolean): Link & { refused: number } {
  const wrapped = Object.assign(
    wrapLink(link, {
      send: (channel, data) => {
        if (channel === 'stats' && refuse() && decodeFrame(data).kind === FrameKind.Credit) {
          wrapped.refused++;
          throw new Error('send queue is full');
        }
        link.send(channel, data);
      },
    }),
    { refused: 0 },
  );
  return wrapped;
}

describe('no credited byte is lost', () => {
  it('a credit the stats channel refuses is sent again, so the sender does not stall', async () => {
    const clock = fakeClock(0);
    const sender = new MeshEndpoint({ selfId: A, heartbeatIntervalMs: 0, timers: clock.timers, sendWindow: { mode: 'fixed' } });
    const receiver = new MeshEndpoint({ selfId: B, heartbeatIntervalMs: 0, timers: clock.timers });
    const [aToB, bToA] = createMemoryLinkPair(A, B);
    let refuse = true;
    const flaky = refusingCredits(bToA, () => refuse);
    sender.addLink(aToB);
    receiver.addLink(flaky);
    const bytes = 8 * FIXED_HIGH_BYTES;
    let done = false;
    const sending = sender.sendPadding(B, bytes).then(() => (done = true));
    await flush();
    // Every credit refused: the sender stopped at its window.
    expect(flaky.refused).toBeGreaterThan(1);
    expect(done).toBe(false);
    expect(receiver.paddingReceived(A)).toBeLessThan(bytes);
    // The channel takes frames again; nothing more arrives to prompt a credit, only the retry.
    refuse = false;
    clock.advance(CREDIT_RETRY_MS);
    await flush();
    await sending;
    expect(done).toBe(true);
    expect(receiver.paddingReceived(A)).toBe(bytes);
    sender.destroy();
    receiver.destroy();
  });

  it('a sender waiting for the link’s own send buffer is released when the link is replaced', async () => {
    const clock = fakeClock(0);
    const sender = new MeshEndpoint({ selfId: A, heartbeatIntervalMs: 0, timers: clock.timers });
    const [aToB] = createMemoryLinkPair(A, B);
    // A send buffer that never drains, and no drain event when the link closes (a closed
    // RTCPeerConnection fires no channel events).
    const stuck = wrapLink(aToB, { bufferedAmount: (channel) => (channel === 'bulk' ? 1 << 20 : 0), whenDrained: () => new Promise<void>(() => {}) });
    sender.addLink(stuck);
    let outcome: unknown = 'pending';
    void sender.sendPadding(B, 4 * FIXED_HIGH_BYTES).then(
      () => (outcome = 'sent'),
      (err: unknown) => (outcome = err),
    );
    await flush();
    expect(outcome).toBe('pending');
    sender.addLink(createMemoryLinkPair(A, B)[0]); // the peer reconnected
    await flush();
    expect(outcome).toMatchObject({ code: 'ERR_PEER_LEFT', peerId: B });
    sender.destroy();
  });

  it('a credit times the round trip of the newest frame it covers, and cannot acknowledge more than was sent', () => {
    const clock = fakeClock(0);
    const samples: CreditSample[] = [];
    const policy: WindowPolicy = { highBytes: 1 << 20, lowBytes: 1 << 19, onCredit: (sample) => samples.push(sample) };
    const [aToB] = createMemoryLinkPair(A, B);
    const flow = new FlowControl(aToB, policy, clock.timers);
    for (const at of [0, 1, 2]) {
      clock.advance(at - clock.now);
      flow.send('bulk', new ArrayBuffer(1000));
    }
    flow.send('stats', new ArrayBuffer(500)); // not flow-controlled, not timed
    clock.advance(3); // t = 5
    flow.onCredit(2000);
    expect(samples).toEqual([{ rttMs: 4, ackedBytes: 2000, sentAtMs: 1, nowMs: 5, peakInFlightBytes: 3000 }]);
    expect(flow.bufferedAmount('bulk')).toBe(1000);
    clock.advance(2); // t = 7
    flow.onCredit(5000); // a peer crediting more than it got: only the 1000 in flight count
    expect(samples[1]).toEqual({ rttMs: 5, ackedBytes: 1000, sentAtMs: 2, nowMs: 7, peakInFlightBytes: 1000 });
    expect(flow.bufferedAmount('bulk')).toBe(0);
    flow.send('bulk', new ArrayBuffer(1000));
    flow.onCredit(500); // part of a frame: no round trip to time yet
    expect(samples).toHaveLength(2);
    expect(flow.bufferedAmount('bulk')).toBe(500);
    clock.advance(1); // t = 8
    flow.onCredit(500); // the rest of it
    expect(samples[2]).toEqual({ rttMs: 1, ackedBytes: 500, sentAtMs: 7, nowMs: 8, peakInFlightBytes: 500 });
    flow.close();
  });

  it('a receiver credits a refused batch together with the next one (no byte counted twice or dropped)', async () => {
    const clock = fakeClock(0);
    const [aToB, bToA] = createMemoryLinkPair(A, B);
    let refuse = true;
    const flaky = refusingCredits(bToA, () => refuse);
    const flow = new FlowControl(flaky, { highBytes: 1 << 20, lowBytes: 1 << 19, onCredit() {} }, clock.timers);
    const credited: number[] = [];
    aToB.onMessage((_channel, data) => credited.push(new DataView(decodeFrame(data).payload.buffer, decodeFrame(data).payload.byteOffset, 4).getUint32(0, true)));
    flow.onBulkProcessed(20_000, false);
    await Promise.resolve(); // the task ends: its credit is sent, and refused
    expect(flaky.refused).toBe(1);
    refuse = false;
    flow.onBulkProcessed(700, true);
    await flush(2);
    expect(credited).toEqual([20_700]);
    clock.advance(CREDIT_RETRY_MS); // the armed retry finds nothing left to send
    await flush(2);
    expect(credited).toEqual([20_700]);
    flow.close();
  });

  it('frames handled in one task are credited once, at its end; frames of separate tasks once each', async () => {
    const clock = fakeClock(0);
    const [aToB, bToA] = createMemoryLinkPair(A, B);
    const flow = new FlowControl(bToA, { highBytes: 1 << 20, lowBytes: 1 << 19, onCredit() {} }, clock.timers);
    const credited: number[] = [];
    aToB.onMessage((_channel, data) => credited.push(new DataView(decodeFrame(data).payload.buffer, decodeFrame(data).payload.byteOffset, 4).getUint32(0, true)));
    // A batch from the bulk worker: 16 frames of 16 KiB in one task, the last ending its message.
    for (let i = 0; i < 16; i++) flow.onBulkProcessed(16_384, i === 15);
    expect(credited).toEqual([]); // nothing before the task's end
    await flush(2);
    expect(credited).toEqual([16 * 16_384]);
    // Frames one task each (bulk on the page's main thread): one credit per frame, as before.
    for (let i = 0; i < 3; i++) {
      flow.onBulkProcessed(16_384, false);
      await flush(1);
    }
    expect(credited).toEqual([16 * 16_384, 16_384, 16_384, 16_384]);
    flow.close();
  });
});
