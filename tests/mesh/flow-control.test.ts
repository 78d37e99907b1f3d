import { describe, expect, it } from 'vitest';
import { MeshEndpoint } from '../../src/mesh/endpoint.ts';
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { creditFrame, CREDIT_BATCH_BYTES } from '../../src/mesh/flow-control.ts';
import { MAX_FRAME_BYTES } from '../../src/mesh/chunker.ts';
import { FIXED_HIGH_BYTES as BUFFER_HIGH_BYTES, FIXED_LOW_BYTES as BUFFER_LOW_BYTES } from '../../src/mesh/send-window.ts';
import { decodeFrame, FrameKind } from '../../src/mesh/wire.ts';
import { createMemoryGroups } from '../../src/mesh/memory.ts';

const flush = async (rounds = 5) => {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

describe('bulk flow control', () => {
  it('a sender stops once BUFFER_HIGH_BYTES are unprocessed by the receiver, and resumes on credit', async () => {
    const a = new MeshEndpoint({ selfId: 'peer-aaaa', heartbeatIntervalMs: 0, sendWindow: { mode: 'fixed' } });
    const [aToB, bToA] = createMemoryLinkPair('peer-aaaa', 'peer-bbbb');
    a.addLink(aToB);
    let bulkBytes = 0;
    bToA.onMessage((channel, data) => {
      if (channel === 'bulk') bulkBytes += data.byteLength;
    });
    let done = false;
    const sending = a.sendPadding('peer-bbbb', 4 * BUFFER_HIGH_BYTES).then(() => (done = true));
    await flush();
    // The receiver never credits: the sender has stopped just past the high-water mark.
    expect(done).toBe(false);
    expect(bulkBytes).toBeGreaterThan(BUFFER_HIGH_BYTES - MAX_FRAME_BYTES);
    expect(bulkBytes).toBeLessThanOrEqual(BUFFER_HIGH_BYTES + MAX_FRAME_BYTES);
    const stalledAt = bulkBytes;
    await flush();
    expect(bulkBytes).toBe(stalledAt);
    // Credit everything as it arrives: the rest flows.
    bToA.send('stats', creditFrame(bulkBytes));
    bToA.onMessage((channel, data) => {
      if (channel !== 'bulk') return;
      bulkBytes += data.byteLength;
      bToA.send('stats', creditFrame(data.byteLength));
    });
    await sending;
    expect(done).toBe(true);
    a.destroy();
  });

  it('a receiver returns credits on the stats channel for what it processed', async () => {
    const b = new MeshEndpoint({ selfId: 'peer-bbbb', heartbeatIntervalMs: 0 });
    const a = new MeshEndpoint({ selfId: 'peer-aaaa', heartbeatIntervalMs: 0 });
    const [aToB, bToA] = createMemoryLinkPair('peer-aaaa', 'peer-bbbb');
    b.addLink(bToA);
    let credited = 0;
    // Spy on A's end before handing it to A's endpoint: count credits arriving for A.
    const realOnMessage = aToB.onMessage.bind(aToB);
    aToB.onMessage = (handler) =>
      realOnMessage((channel, data) => {
        const frame = decodeFrame(data);
        if (frame.kind === FrameKind.Credit) {
          expect(channel).toBe('stats');
          credited += new DataView(frame.payload.buffer, frame.payload.byteOffset, 4).getUint32(0, true);
        }
        handler(channel, data);
      });
    a.addLink(aToB);
    const bytes = 10 * CREDIT_BATCH_BYTES + 123;
    await a.sendPadding('peer-bbbb', bytes);
    await expect.poll(() => b.paddingReceived('peer-aaaa')).toBe(bytes);
    await expect.poll(() => credited).toBeGreaterThanOrEqual(bytes); // frame headers are credited too
    a.destroy();
    b.destroy();
  });

  it('a stats frame sent behind 64 queued bulk chunks reaches the peer before all but a window of them', async () => {
    const a = new MeshEndpoint({ selfId: 'peer-aaaa', heartbeatIntervalMs: 0, sendWindow: { mode: 'fixed' } });
    const [aToB, bToA] = createMemoryLinkPair('peer-aaaa', 'peer-bbbb');
    a.addLink(aToB);
    // The memory link delivers both channels in one FIFO, like a receiving page's task queue.
    let bulkBytes = 0;
    let bulkBytesBeforeStats = -1;
    bToA.onMessage((channel, data) => {
      if (channel === 'bulk') bulkBytes += data.byteLength;
      else if (decodeFrame(data).kind === FrameKind.Heartbeat) bulkBytesBeforeStats = bulkBytes;
    });
    const total = 64 * MAX_FRAME_BYTES;
    const bulk = a.sendPadding('peer-bbbb', total);
    await flush();
    // The receiver credits nothing yet, so all but the window waits on this side, where stats overtake it.
    a.ping('peer-bbbb', 'stats', 50).catch(() => {});
    await flush();
    expect(bulkBytesBeforeStats).toBeGreaterThan(0);
    expect(bulkBytesBeforeStats).toBeLessThanOrEqual(BUFFER_HIGH_BYTES + MAX_FRAME_BYTES);
    bToA.onMessage((channel, data) => {
      if (channel !== 'bulk') return;
      bulkBytes += data.byteLength;
      bToA.send('stats', creditFrame(data.byteLength));
    });
    bToA.send('stats', creditFrame(bulkBytes));
    await bulk;
    expect(bulkBytes).toBeGreaterThanOrEqual(total); // payload plus frame headers
    a.destroy();
  });

  it('a send window whose resume mark is below the credit batch is refused (its last credit might never come)', () => {
    expect(() => new MeshEndpoint({ selfId: 'peer-aaaa', heartbeatIntervalMs: 0, sendWindow: { mode: 'fixed', lowBytes: CREDIT_BATCH_BYTES / 2 } })).toThrow(RangeError);
    expect(() => new MeshEndpoint({ selfId: 'peer-aaaa', heartbeatIntervalMs: 0, sendWindow: { mode: 'fixed', highBytes: BUFFER_LOW_BYTES - 4 } })).toThrow(RangeError);
    new MeshEndpoint({ selfId: 'peer-aaaa', heartbeatIntervalMs: 0, sendWindow: { mode: 'fixed', lowBytes: CREDIT_BATCH_BYTES } }).destroy();
    expect(() => new MeshEndpoint({ selfId: 'peer-aaaa', heartbeatIntervalMs: 0, sendWindow: { mode: 'adaptive', minBytes: CREDIT_BATCH_BYTES } })).toThrow(RangeError);
  });

  it('large ring allReduces complete through flow control (3 peers, 2 MiB)', async () => {
    const groups = createMemoryGroups(3);
    const n = (2 * 1024 * 1024) / 4;
    const inputs = groups.map((_, r) => Float32Array.from({ length: n }, (_, i) => ((i * 7 + r * 13) % 101) / 16));
    const sums = await Promise.all(groups.map((g, r) => g.allReduce(inputs[r]!)));
    for (const s of sums) for (let i = 0; i < n; i += 997) expect(s[i]).toBe(inputs[0]![i]! + inputs[1]![i]! + inputs[2]![i]!);
    for (const g of groups) g.leave();
  });
});
