/**
 * The room's shared training configuration on the wire. The signaling server keeps one flat JSON
 * record per room (src/server/protocol.ts `RoomConfig`: string → string | number | boolean | null)
 * and hands the latest one to every peer, so a change made on one tab reaches every tab. Besides the
 * `TrainConfig` fields it carries the run command: `start` from one tab starts every tab because every
 * tab sees the same `command` and `runId`.
 */
import { MAX_WORKERS_PER_TAB } from '../nn/world.ts';
import type { RoomConfig } from '../signaling/protocol.ts';
import { WIRE_FORMATS } from '../mesh/half-codec.ts';
import { DEFAULT_CONFIG, type BnMode, type PermutationKind, type TrainConfig } from '../train/types.ts';

/** Bounds of the user-editable fields. BN in training needs at least 2 samples per worker. */
export const MIN_BATCH_PER_WORKER = 2;
export const MAX_BATCH_PER_WORKER = 1024;
/** The worker world's cap (src/nn/world.ts), which `PeerMeta.virtualWorkers` in the signaling protocol matches. */
export { MAX_WORKERS_PER_TAB };
export const MAX_STEPS = 1_000_000;
export const MAX_LR = 10;
export const MAX_SEED = 2 ** 31 - 1;

export const BN_MODES: readonly BnMode[] = ['local', 'shuffle', 'sync', 'samples'];
export const PERMUTATIONS: readonly PermutationKind[] = ['random', 'cyclic'];

/** What every tab of the room should be doing; `runId` changes on every fresh start. */
export type RunCommand = 'idle' | 'run' | 'pause' | 'reset';
export const RUN_COMMANDS: readonly RunCommand[] = ['idle', 'run', 'pause', 'reset'];

export interface RoomState {
  config: TrainConfig;
  command: RunCommand;
  /** Identifies one run across tabs ('' before the first start). */
  runId: string;
  /**
   * With `pause`: the 0-based step after which every tab stops. Tabs run in lockstep (every step
   * ends in collectives), so pausing all of them after the same step keeps them aligned; -1 = at once.
   */
  pauseAt: number;
  /**
   * Peers a person dropped from this run ("Drop from run"): every tab excludes them, so the rest of
   * the room re-forms without them; a new run starts with none. At most MAX_DROPPED_PEERS.
   */
  dropped: string[];
  /** Who dropped the newest of `dropped` (a tab's rank and name, for the notice). */
  droppedBy: string;
}

/** Peer ids kept in `dropped`: the server's 256-character field holds 10 of 22 characters with commas. */
export const MAX_DROPPED_PEERS = 10;
const PEER_ID = /^[A-Za-z0-9_-]{8,64}$/;

export const INITIAL_ROOM_STATE: Readonly<RoomState> = Object.freeze({
  config: { ...DEFAULT_CONFIG, hiddenDims: [...DEFAULT_CONFIG.hiddenDims] },
  command: 'idle',
  runId: '',
  pauseAt: -1,
  dropped: [],
  droppedBy: '',
});

/** Flattens the room state into the server's record (arrays become comma-separated strings). */
export function encodeRoomState(state: RoomState): RoomConfig {
  const { hiddenDims, ...scalars } = state.config;
  return { ...scalars, hiddenDims: hiddenDims.join(','), command: state.command, runId: state.runId, pauseAt: state.pauseAt, dropped: state.dropped.join(','), droppedBy: state.droppedBy };
}

function intIn(value: unknown, min: number, max: number): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : undefined;
}

function numIn(value: unknown, min: number, max: number): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max ? value : undefined;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | undefined {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : undefined;
}

function peerIds(value: unknown): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  if (value === '') return [];
  const ids = value.split(',');
  return ids.length <= MAX_DROPPED_PEERS && ids.every((id) => PEER_ID.test(id)) ? ids : undefined;
}

function dims(value: unknown): number[] | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const parts = value.split(',').map((s) => Number(s));
  return parts.every((d) => Number.isInteger(d) && d >= 1 && d <= 65_536) ? parts : undefined;
}

/**
 * Reads a room record written by any peer. Fields that are missing or out of range keep the value of
 * `fallback` (a peer running an older build must not be able to break the others' configuration);
 * the names of rejected fields are returned so the UI can say so.
 */
export function decodeRoomState(record: RoomConfig, fallback: RoomState = INITIAL_ROOM_STATE): { state: RoomState; rejected: string[] } {
  const f = fallback.config;
  const rejected: string[] = [];
  const pick = <T>(key: string, parsed: T | undefined, current: T): T => {
    if (!(key in record)) return current;
    if (parsed === undefined) {
      rejected.push(key);
      return current;
    }
    return parsed;
  };
  const r = record as Record<string, unknown>;
  const config: TrainConfig = {
    mode: pick('mode', oneOf(r.mode, BN_MODES), f.mode),
    permutation: pick('permutation', oneOf(r.permutation, PERMUTATIONS), f.permutation),
    seed: pick('seed', intIn(r.seed, 0, MAX_SEED), f.seed),
    steps: pick('steps', intIn(r.steps, 1, MAX_STEPS), f.steps),
    batchPerWorker: pick('batchPerWorker', intIn(r.batchPerWorker, MIN_BATCH_PER_WORKER, MAX_BATCH_PER_WORKER), f.batchPerWorker),
    workersPerTab: pick('workersPerTab', intIn(r.workersPerTab, 1, MAX_WORKERS_PER_TAB), f.workersPerTab),
    queueSize: pick('queueSize', intIn(r.queueSize, 1, 1 << 20), f.queueSize),
    temperature: pick('temperature', numIn(r.temperature, 1e-4, 100), f.temperature),
    lr: pick('lr', numIn(r.lr, 0, MAX_LR), f.lr),
    momentum: pick('momentum', numIn(r.momentum, 0, 1), f.momentum),
    weightDecay: pick('weightDecay', numIn(r.weightDecay, 0, 1), f.weightDecay),
    keyMomentum: pick('keyMomentum', numIn(r.keyMomentum, 0, 1), f.keyMomentum),
    knnEvery: pick('knnEvery', intIn(r.knnEvery, 0, MAX_STEPS), f.knnEvery),
    inputDim: pick('inputDim', intIn(r.inputDim, 1, 65_536), f.inputDim),
    hiddenDims: pick('hiddenDims', dims(r.hiddenDims), f.hiddenDims),
    outputDim: pick('outputDim', intIn(r.outputDim, 1, 65_536), f.outputDim),
    compareWith: pick('compareWith', r.compareWith === null ? null : oneOf(r.compareWith, BN_MODES), f.compareWith),
    gradientWire: pick('gradientWire', oneOf(r.gradientWire, WIRE_FORMATS), f.gradientWire),
  };
  const command = pick('command', oneOf(r.command, RUN_COMMANDS), fallback.command);
  const runId = pick('runId', typeof r.runId === 'string' && r.runId.length <= 64 ? r.runId : undefined, fallback.runId);
  const pauseAt = pick('pauseAt', intIn(r.pauseAt, -1, MAX_STEPS), fallback.pauseAt);
  const dropped = pick('dropped', peerIds(r.dropped), fallback.dropped);
  const droppedBy = pick('droppedBy', typeof r.droppedBy === 'string' && r.droppedBy.length <= 128 ? r.droppedBy : undefined, fallback.droppedBy);
  return { state: { config, command, runId, pauseAt, dropped, droppedBy }, rejected };
}

/** A fresh run id: time-ordered so runs sort naturally, with random bits so two tabs never collide. */
export function newRunId(now: number = Date.now(), random: () => number = Math.random): string {
  return `${now.toString(36)}-${Math.floor(random() * 36 ** 6).toString(36).padStart(6, '0')}`;
}
