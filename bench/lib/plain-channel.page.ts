/**
 * The ceiling bench:mesh compares our mesh with: plain RTCDataChannels between two tabs, none of our
 * code on the path (no frames, checksums, chunking or flow control). Two negotiated ordered channels
 * like ours, `bulk` and a high-priority `stats`, on one RTCPeerConnection per tab (one SCTP
 * association, as our links have), or with `separate` on two (each channel its own association, so a
 * stats message never queues behind bulk inside SCTP). The offers and answers are carried by the bench
 * script (complete SDP, no trickle, a JSON array of one SDP per connection). Runs inside a tab
 * (tests/pages/harness.html).
 */

/** A ping is this long (never a bulk message length); its echo is one byte longer. */
const PING_BYTES = 8;
const PONG_BYTES = PING_BYTES + 1;
/** Bulk message sizes are multiples of 1 KiB, so they never look like a ping or its echo. */
const MIN_MESSAGE_BYTES = 1024;

let conns: RTCPeerConnection[] = [];
let channels: { bulk: RTCDataChannel; stats: RTCDataChannel } | null = null;
const pongWaiters: Record<'bulk' | 'stats', Array<() => void>> = { bulk: [], stats: [] };

function open(): { bulk: RTCDataChannel; stats: RTCDataChannel } {
  if (!channels) throw new Error('plain channel: connect first');
  return channels;
}

function create(separate: boolean): RTCPeerConnection[] {
  plainClose();
  conns = Array.from({ length: separate ? 2 : 1 }, () => new RTCPeerConnection({ iceServers: [] }));
  const make = (pc: RTCPeerConnection, name: 'bulk' | 'stats', id: number, priority: RTCPriorityType): RTCDataChannel => {
    const dc = pc.createDataChannel(`plain-${name}`, { negotiated: true, id, ordered: true, priority } as RTCDataChannelInit);
    dc.binaryType = 'arraybuffer';
    dc.onmessage = (ev: MessageEvent<ArrayBuffer>) => {
      // Every message is looked at (its length), as a receiver must; pings are echoed on their channel.
      const length = ev.data.byteLength;
      if (length === PING_BYTES) dc.send(new Uint8Array(PONG_BYTES));
      else if (length === PONG_BYTES) pongWaiters[name].shift()?.();
    };
    return dc;
  };
  channels = { bulk: make(conns[0]!, 'bulk', 0, 'very-low'), stats: make(conns[conns.length - 1]!, 'stats', 1, 'high') };
  return conns;
}

async function gathered(conn: RTCPeerConnection): Promise<string> {
  if (conn.iceGatheringState !== 'complete') {
    await new Promise<void>((resolve) => conn.addEventListener('icegatheringstatechange', () => conn.iceGatheringState === 'complete' && resolve()));
  }
  return conn.localDescription!.sdp;
}

/** Offering side: returns the complete offers (a JSON array, one SDP per connection). */
export async function plainOffer(separate = false): Promise<string> {
  const sdps: string[] = [];
  for (const conn of create(separate)) {
    await conn.setLocalDescription(await conn.createOffer());
    sdps.push(await gathered(conn));
  }
  return JSON.stringify(sdps);
}

/** Answering side: takes the offers, returns the complete answers. */
export async function plainAnswer(offers: string): Promise<string> {
  const offered = JSON.parse(offers) as string[];
  const sdps: string[] = [];
  for (const [i, conn] of create(offered.length === 2).entries()) {
    await conn.setRemoteDescription({ type: 'offer', sdp: offered[i]! });
    await conn.setLocalDescription(await conn.createAnswer());
    sdps.push(await gathered(conn));
  }
  return JSON.stringify(sdps);
}

/** Offering side: takes the answers. */
export async function plainAccept(answers: string): Promise<void> {
  if (conns.length === 0) throw new Error('plain channel: offer first');
  const answered = JSON.parse(answers) as string[];
  for (const [i, conn] of conns.entries()) await conn.setRemoteDescription({ type: 'answer', sdp: answered[i]! });
}

/** Resolves once both channels are open (either side). */
export async function plainWaitOpen(): Promise<void> {
  const dcs = Object.values(open());
  await Promise.all(dcs.map((dc) => (dc.readyState === 'open' ? undefined : new Promise((resolve) => dc.addEventListener('open', resolve, { once: true })))));
}

/** Round trip (ms) of one ping on `channel`: it queues behind whatever was sent before it there. */
function ping(channel: 'bulk' | 'stats'): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    pongWaiters[channel].push(() => resolve(performance.now() - t0));
    open()[channel].send(new Uint8Array(PING_BYTES));
  });
}

/** Sends `bytes` on bulk in messages of `messageBytes`, pausing above `highBytes` buffered until ¼ of it. */
async function sendBulk(bytes: number, messageBytes: number, highBytes: number): Promise<void> {
  if (messageBytes < MIN_MESSAGE_BYTES || messageBytes % MIN_MESSAGE_BYTES !== 0) throw new RangeError(`message size ${messageBytes} must be a multiple of ${MIN_MESSAGE_BYTES}`);
  const dc = open().bulk;
  const message = new Uint8Array(messageBytes);
  dc.bufferedAmountLowThreshold = highBytes / 4;
  for (let sent = 0; sent < bytes; sent += messageBytes) {
    if (dc.bufferedAmount > highBytes) await new Promise((resolve) => dc.addEventListener('bufferedamountlow', resolve, { once: true }));
    dc.send(message);
  }
}

/**
 * One-way throughput (MB/s = 1e6 bytes/s) of `bytes` on the plain bulk channel: the time until a ping
 * sent behind them returns, minus one idle round trip (the same reckoning as our rawThroughput).
 */
export async function plainThroughput(bytes: number, messageBytes: number, highBytes: number): Promise<number> {
  const rtt = await ping('bulk');
  const t0 = performance.now();
  await sendBulk(bytes, messageBytes, highBytes);
  await ping('bulk');
  return bytes / ((performance.now() - t0 - rtt) / 1000) / 1e6;
}

/** Median stats-channel ping (ms) while `bytes` stream on the plain bulk channel. */
export async function plainPingDuringBulk(bytes: number, messageBytes: number, highBytes: number): Promise<{ medianMs: number; samples: number }> {
  let running = true;
  const bulk = sendBulk(bytes, messageBytes, highBytes).then(() => ping('bulk')).then(() => (running = false));
  const times: number[] = [];
  while (running) {
    const ms = await ping('stats');
    if (running) times.push(ms);
  }
  await bulk;
  times.sort((a, b) => a - b);
  return { medianMs: times.length ? times[Math.floor(times.length / 2)]! : NaN, samples: times.length };
}

export function plainClose(): void {
  for (const conn of conns) conn.close();
  conns = [];
  channels = null;
}

/**
 * Whether SCTP lets `stats` overtake bulk queued in this tab: `burstBytes` are handed to the bulk
 * channel at once (all of it in bufferedAmount), then one ping goes on `stats` and one on `bulk`.
 * With priority scheduling the stats ping returns long before the bulk one; in one FIFO both wait.
 */
export async function plainPingBehindBurst(burstBytes: number, messageBytes: number): Promise<{ statsMs: number; bulkMs: number; bufferedBytes: number }> {
  const dc = open().bulk;
  const message = new Uint8Array(messageBytes);
  for (let sent = 0; sent < burstBytes; sent += messageBytes) dc.send(message);
  const bufferedBytes = dc.bufferedAmount;
  const [statsMs, bulkMs] = await Promise.all([ping('stats'), ping('bulk')]);
  return { statsMs, bulkMs, bufferedBytes };
}
