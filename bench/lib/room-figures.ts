/**
 * Figures of one headless training run, read from what the tabs reported: wall time between rank 0's
 * step reports, the step-time split each step logged, and the bytes each tab's mesh counted as sent.
 * Shared by bench:train-style benchmarks (bench/devices.ts, bench/room.ts).
 */
import type { HeadlessRoom, HeadlessTab } from '../../scripts/lib/headless-run.ts';
import type { HeadlessRunOptions } from '../../src/train/headless-worker.ts';
import type { TrafficTotals } from '../../src/mesh/traffic.ts';
import type { TrainConfig } from '../../src/train/types.ts';
import { anchorConfig } from './step-phases.ts';

export { ANCHOR_BATCH } from './step-phases.ts';

/** The anchor workload (step-phases.ts anchorConfig) on `tabs` tabs: shuffle BN across them. */
export function anchorWorkload(tabs: number, steps: number): TrainConfig {
  return { ...anchorConfig(steps), mode: tabs > 1 ? 'shuffle' : 'local' };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Bytes one tab sent in one step, split by what the mesh counted. */
export interface StepBytes {
  /** Tensor frames on the stats channel (BatchNorm statistics rows, small gathers such as small models' keys). */
  statsTensor: number;
  /** Tensor frames on the bulk channel (gradients, large key gathers). */
  bulkTensor: number;
  /** Heartbeats, their acks, flow-control credit. */
  control: number;
  total: number;
}

function stepBytes(before: TrafficTotals, after: TrafficTotals): StepBytes {
  const statsTensor = after.tensorBytes.stats - before.tensorBytes.stats;
  const bulkTensor = after.tensorBytes.bulk - before.tensorBytes.bulk;
  const total = after.bytes.stats + after.bytes.bulk - before.bytes.stats - before.bytes.bulk;
  return { statsTensor, bulkTensor, control: total - statsTensor - bulkTensor, total };
}

/** Median over a tab's steps after `skip` of the bytes it sent per step (each field's own median). */
export function bytesPerStep(tab: HeadlessTab, skip: number): StepBytes {
  const diffs: StepBytes[] = [];
  for (let i = Math.max(1, skip); i < tab.steps.length; i++) diffs.push(stepBytes(tab.steps[i - 1]!.sent, tab.steps[i]!.sent));
  return {
    statsTensor: median(diffs.map((d) => d.statsTensor)),
    bulkTensor: median(diffs.map((d) => d.bulkTensor)),
    control: median(diffs.map((d) => d.control)),
    total: median(diffs.map((d) => d.total)),
  };
}

export interface RunFigures {
  tabs: number;
  /** Median wall time between rank 0's consecutive step reports after the warm-up (ms). */
  stepMs: number;
  /**
   * Median of rank 0's own step time as its page measured it (compute + communication waited, from
   * the step's start to its log): unlike `stepMs`, not stretched or bunched by the reports' way to
   * the driver, which a starved page delays.
   */
  inPageStepMs: number;
  /** Medians of what the steps logged (rank 0). */
  computeMs: number;
  commMs: number;
  /**
   * Median over rank 0's steps of how much longer the slowest other tab computed than rank 0 (ms, ≥ 0),
   * from the compute times every tab reported in the step's figures (StepLog.tabComputeMs): the part of
   * rank 0's communication that is waiting for a slower peer rather than moving bytes.
   */
  peerLagMs: number;
  /** Rank 0's losses, by step. */
  losses: number[];
  /** Bytes sent per step, one entry per tab (rank order of the tabs' joins). */
  bytes: StepBytes[];
  backend: string;
  /**
   * What the tabs reported during the run (a peer dropped as silent, the group re-formed): the run
   * recovered from these, but its step times include the recovery.
   */
  notices: string[];
}

/**
 * Trains `opts` on every tab of `room` and reads the figures; the first `warmup` steps (and the gap
 * that ends them) are left out of every median.
 */
export async function trainAndMeasure(room: HeadlessRoom, opts: HeadlessRunOptions, warmup: number): Promise<RunFigures> {
  const stamps: number[] = [];
  const root = room.tabs[0]!;
  root.onStep = () => stamps.push(performance.now());
  const results = await Promise.all(room.tabs.map((t) => t.run(opts))).catch((err: unknown) => {
    // What the tabs reported (peers left, and why) says more than the first rejection alone.
    const seen = room.tabs.flatMap((t) => t.errors.map((e) => `tab ${t.index}: ${e.code}: ${e.message}`));
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n  ${[...new Set(seen)].slice(0, 20).join('\n  ')}`);
  });
  const gaps = stamps.slice(warmup).map((t, i, a) => (i ? t - a[i - 1]! : NaN)).filter(Number.isFinite);
  const logs = root.steps.slice(warmup);
  return {
    tabs: room.tabs.length,
    stepMs: median(gaps),
    inPageStepMs: median(logs.map((l) => l.computeMs + l.commMs)),
    computeMs: median(logs.map((l) => l.computeMs)),
    commMs: median(logs.map((l) => l.commMs)),
    peerLagMs: median(logs.map((l) => peerLag(l.tabComputeMs, 0))),
    losses: root.steps.map((s) => s.loss),
    bytes: room.tabs.map((t) => bytesPerStep(t, warmup)),
    backend: results[0]!.backend,
    notices: room.tabs.flatMap((t) => t.errors.map((e) => `tab ${t.index}: ${e.code}: ${e.message}`)),
  };
}

/** How much longer the slowest tab other than `rank` computed than `rank` did (ms, ≥ 0; 0 without figures). */
export function peerLag(tabComputeMs: readonly number[] | undefined, rank: number): number {
  if (!tabComputeMs || tabComputeMs.length < 2) return 0;
  const others = tabComputeMs.filter((_, r) => r !== rank);
  return Math.max(0, Math.max(...others) - tabComputeMs[rank]!);
}

/** Bytes as KiB with one decimal. */
export const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
