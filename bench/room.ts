/**
 * A full room: up to 16 tabs (the room cap, MAX_PEERS_PER_ROOM) in one headless Chromium form a room
 * and train a small model in `shuffle` mode over the real mesh. The world is the same at every tab
 * count (16 workers, split evenly over the tabs), so every run must reproduce the losses of one tab
 * running all 16 workers; that is checked (relative tolerance LOSS_TOLERANCE) and a mismatch exits 1.
 * For 2, 4, 8 and 16 tabs it prints the connection set-up time (all tabs join at once; until every tab
 * is linked to every other), the step time and its split, and the bytes each tab sent per step as its
 * mesh counted them (src/mesh/traffic.ts). Timing figures are printed, never asserted.
 */
import { cpus, loadavg } from 'node:os';
import { launchBrowser, startDevServer, type DevServer } from '../scripts/lib/browser.ts';
import { callWorker, HeadlessRoom } from '../scripts/lib/headless-run.ts';
import { parseArgsOrExit, usageError } from '../scripts/lib/cli.ts';
import { kib, median, trainAndMeasure, type RunFigures, type StepBytes } from './lib/room-figures.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/train/types.ts';
import { MAX_PEERS_PER_ROOM } from '../src/server/config.ts';
import type { BackendPreference } from '../src/backend/index.ts';
import { PEER_TIMEOUT_MS } from '../src/mesh/endpoint.ts';

/**
 * The bench's default silence limit: 16 tabs in one browser on a 2-core machine shared with other work
 * (load average 20-40) left pages silent for 4.1-4.7 s, so the mesh's 4 s dropped live peers and the
 * room kept re-forming. A starved page is not a departed one; the drops it still sees are counted.
 */
const ROOM_PEER_TIMEOUT_MS = 30_000;

const USAGE = `usage: npm run bench:room -- [options]
  A full room: 2, 4, 8 and 16 tabs train a small model (shuffle mode) over the real mesh, each run
  checked against 1 tab × 16 workers. Prints set-up time, step time and bytes sent per tab per step.
  --tabs N,..     tab counts (each dividing --world, at most ${MAX_PEERS_PER_ROOM})  [2,4,8,16]
  --world W       workers in the world, split evenly over the tabs       [16]
  --steps S       training steps (the first is left out of the figures)  [5]
  --backend B     cpu | wasm | webgpu                                    [cpu]
  --peer-timeout-ms T  silence after which a tab drops a peer (the mesh's default: ${PEER_TIMEOUT_MS})
                  16 tabs on 2 loaded cores starve pages for seconds      [${ROOM_PEER_TIMEOUT_MS}]`;

/** Losses of a room and of the one-tab run may differ by this much, relative (float32 sums in another order). */
const LOSS_TOLERANCE = 1e-5;
/** The first step builds the world and broadcasts the initial state: left out of the figures. */
const WARMUP = 1;
/** How long a room may take to link every pair of tabs. */
const SETUP_TIMEOUT_MS = 180_000;

const args = parseArgsOrExit(
  {
    tabs: { type: 'string', default: '2,4,8,16' },
    world: { type: 'string', default: '16' },
    steps: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'cpu' },
    'peer-timeout-ms': { type: 'string', default: String(ROOM_PEER_TIMEOUT_MS) },
  },
  USAGE,
).values;
const WORLD = Number(args.world);
if (!Number.isInteger(WORLD) || WORLD < 2 || WORLD > 64) usageError(`--world must be an integer from 2 to 64, got '${args.world}'`, USAGE);
const TABS = args.tabs!.split(',').map(Number);
for (const n of TABS) {
  if (!Number.isInteger(n) || n < 2 || n > MAX_PEERS_PER_ROOM || WORLD % n !== 0) usageError(`each of --tabs must be 2-${MAX_PEERS_PER_ROOM} and divide --world ${WORLD}, got '${n}'`, USAGE);
}
const STEPS = Number(args.steps);
if (!Number.isInteger(STEPS) || STEPS < WARMUP + 2) usageError(`--steps must be an integer ≥ ${WARMUP + 2}, got '${args.steps}'`, USAGE);
const PEER_TIMEOUT = Number(args['peer-timeout-ms']);
if (!Number.isInteger(PEER_TIMEOUT) || PEER_TIMEOUT < 1000) usageError(`--peer-timeout-ms must be an integer ≥ 1000, got '${args['peer-timeout-ms']}'`, USAGE);
const BACKEND = args.backend as BackendPreference;
if (!['cpu', 'wasm', 'webgpu'].includes(BACKEND)) usageError(`--backend must be cpu, wasm or webgpu, got '${BACKEND}'`, USAGE);

/** The small model of the two-host test (tests/server/devices.browser.test.ts): 256 → 32 → 16, 4 samples per worker. */
function smallModel(tabs: number): TrainConfig {
  return { ...DEFAULT_CONFIG, mode: 'shuffle', hiddenDims: [32], outputDim: 16, queueSize: 64, batchPerWorker: 4, knnEvery: 0, steps: STEPS, workersPerTab: WORLD / tabs };
}

interface RoomRun extends RunFigures {
  /** Page loads done, from the joins' start until every tab is linked to every other (ms). */
  setupMs: number;
  /** Largest difference between any tab's loss and rank 0's at the same step. */
  tabSpread: number;
  worldSize: number;
}

async function room(server: DevServer, tabs: number): Promise<RoomRun> {
  const browser = await launchBrowser();
  const r = await HeadlessRoom.open({ server, browser, peerTimeoutMs: PEER_TIMEOUT });
  try {
    for (let i = 0; i < tabs; i++) await r.openTab();
    // Every page is loaded first, so the set-up time is signaling and WebRTC, not module loading.
    const t0 = performance.now();
    await r.join(r.tabs[0]!);
    await Promise.all(r.tabs.slice(1).map((t) => r.join(t)));
    await Promise.all(r.tabs.map((t) => callWorker(t.page, 'waitForPeers', tabs, SETUP_TIMEOUT_MS)));
    const setupMs = performance.now() - t0;
    const figures = await trainAndMeasure(r, { config: smallModel(tabs), tabs, backend: BACKEND, traceEvery: 0, traceChannels: 1 }, WARMUP);
    let tabSpread = 0;
    for (const tab of r.tabs) tab.steps.forEach((s, i) => (tabSpread = Math.max(tabSpread, Math.abs(s.loss - figures.losses[i]!))));
    const world = r.tabs[0]!.worlds.at(-1);
    return { ...figures, setupMs, tabSpread, worldSize: world?.worldSize ?? NaN };
  } finally {
    await r.close();
  }
}

/** One tab running every worker of the world: the reference the rooms must reproduce. */
async function oneTab(server: DevServer): Promise<number[]> {
  const r = await HeadlessRoom.open({ server, browser: await launchBrowser() });
  try {
    await r.addTab();
    return (await trainAndMeasure(r, { config: smallModel(1), tabs: 1, backend: BACKEND, traceEvery: 0, traceChannels: 1 }, WARMUP)).losses;
  } finally {
    await r.close();
  }
}

const meanOf = (runs: StepBytes[], key: keyof StepBytes) => runs.reduce((a, b) => a + b[key], 0) / runs.length;

console.log(`bench:room — small model (256→32→16, 4 samples/worker, queue 64), shuffle mode, ${WORLD} workers, ${STEPS} steps (step 1 left out), ${BACKEND} backend, one headless Chromium, peers dropped after ${PEER_TIMEOUT} ms of silence; ${cpus().length} cores`);
const server = await startDevServer();
let failed = false;
try {
  const reference = await oneTab(server);
  console.log(`1 tab × ${WORLD} workers: losses ${reference.map((l) => l.toFixed(6)).join(', ')}`);
  const runs: RoomRun[] = [];
  for (const tabs of TABS) {
    const run = await room(server, tabs);
    runs.push(run);
    const worst = Math.max(...run.losses.map((l, i) => Math.abs(l - reference[i]!) / Math.abs(reference[i]!)));
    const match = run.losses.length === reference.length && worst <= LOSS_TOLERANCE && run.tabSpread === 0 && run.worldSize === WORLD;
    failed ||= !match;
    if (run.notices.length > 0) console.log(`  ${run.notices.length} notices from the tabs during the run, e.g. ${run.notices.slice(0, 3).join('; ')}`);
    console.log(
      `${tabs} tabs × ${WORLD / tabs} workers (world ${run.worldSize}): losses ${run.losses.map((l) => l.toFixed(6)).join(', ')}; ` +
        `largest relative difference from 1 tab ${worst.toExponential(2)}, between tabs ${run.tabSpread}: ${match ? 'match' : 'MISMATCH'} (tolerance ${LOSS_TOLERANCE})`,
    );
  }
  console.log('\n| tabs | set-up ms | peers dropped, recovered | step ms | in-page step ms | compute ms | comm ms | sent/tab/step KiB: stats-channel tensors | bulk tensors | control | total (max over tabs) | total vs 2 tabs |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const base = meanOf(runs[0]!.bytes, 'total');
  for (const r of runs) {
    const total = meanOf(r.bytes, 'total');
    const maxTotal = Math.max(...r.bytes.map((b) => b.total));
    console.log(
      `| ${r.tabs} | ${r.setupMs.toFixed(0)} | ${r.notices.filter((n) => n.includes('ERR_PEER_LEFT')).length} | ${r.stepMs.toFixed(1)} | ${r.inPageStepMs.toFixed(1)} | ${r.computeMs.toFixed(1)} | ${r.commMs.toFixed(1)} | ${kib(meanOf(r.bytes, 'statsTensor'))} | ${kib(meanOf(r.bytes, 'bulkTensor'))} | ${kib(meanOf(r.bytes, 'control'))} | ${kib(total)} (${kib(maxTotal)}) | ${(total / base).toFixed(2)}× |`,
    );
  }
  console.log(`(bytes: each tab's median over steps 2-${STEPS}, averaged over the tabs; step ms: median wall time between rank 0's step reports; in-page: rank 0's compute + communication waited, as its page timed each step)`);
  console.log(`machine: load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min) at the end; median set-up ${median(runs.map((r) => r.setupMs)).toFixed(0)} ms`);
} catch (err) {
  console.error(err);
  failed = true;
} finally {
  await server.close();
}
process.exit(failed ? 1 : 0);
