/**
 * What the training loop needs from the mesh: the DistributedDataParallel-like process group of one
 * tab. Ranks are the room's join order among the peers that are currently connected; `epoch` changes
 * whenever that membership changes. All peers must call the collectives in the same order (like NCCL);
 * each call has a timeout and fails with a `MeshError` naming the peer it was waiting for.
 */
import type { WireFormat } from './half-codec.ts';

export type ReduceOp = 'sum' | 'mean';

/** Traffic class: `stats` (small, latency-critical) never waits behind `bulk` (gradients, keys). */
export type Priority = 'stats' | 'bulk';

export interface CollectiveOptions {
  /** Default depends on size: small tensors go as `stats`, large as `bulk`. */
  priority?: Priority;
  /** Milliseconds before the collective fails with ERR_TIMEOUT. */
  timeoutMs?: number;
  /**
   * allReduce only: check every rank's contribution before it is summed: its length, finiteness and
   * |value| ≤ maxAbs. A violation rejects with ERR_BAD_PEER_DATA naming that peer, the same verdict on
   * every rank: small tensors (and any on 2 ranks) are exchanged directly, so each rank sees every
   * contribution; large ones from 3 ranks on go to the owner of each segment, which checks every
   * contribution to it and shares its verdict (validated-reduce.ts).
   */
  validate?: { maxAbs: number };
  /**
   * allReduce only: how each contribution travels (half-codec.ts): 'f32' (default), or 'f16'/'bf16',
   * rounded to nearest even and summed in float32 after decoding (every rank, its own part included).
   * A 16-bit allReduce exchanges directly, like a validated one.
   */
  wire?: WireFormat;
}

export interface ProcessGroup {
  readonly rank: number;
  readonly size: number;
  /** Membership epoch: frames from another epoch are discarded. */
  readonly epoch: number;
  /** Peer id of `rank` in this epoch (to name a misbehaving contributor). */
  peerIdOf(rank: number): string;
  /** Training step that outgoing frames are stamped with; frames of an older step are discarded. */
  setStep(step: number): void;
  /** Returns root's data on every rank (`data` is ignored on other ranks, may be null). */
  broadcast(data: Float32Array | null, root?: number, opts?: CollectiveOptions): Promise<Float32Array>;
  /** Result[r] is rank r's contribution; lengths may differ between ranks. */
  allGather(data: Float32Array, opts?: CollectiveOptions): Promise<Float32Array[]>;
  /** Sends `data` to rank `to` and receives from rank `from` (one step of a permutation). */
  exchange(to: number, data: Float32Array, from: number, opts?: CollectiveOptions): Promise<Float32Array>;
  /** Element-wise reduction; every rank passes the same length. */
  allReduce(data: Float32Array, op?: ReduceOp, opts?: CollectiveOptions): Promise<Float32Array>;
  barrier(opts?: CollectiveOptions): Promise<void>;
}

export type MeshErrorCode =
  | 'ERR_TIMEOUT'
  | 'ERR_PEER_LEFT'
  | 'ERR_BAD_FRAME'
  /** A peer exceeded a memory cap (partial messages, held frames, early messages, operation window). */
  | 'ERR_PEER_OVER_LIMIT'
  /** A peer's contribution failed validation (length, non-finite or out-of-bound values). */
  | 'ERR_BAD_PEER_DATA'
  /** A person dropped the peer from the run (the message names the tab that did). */
  | 'ERR_PEER_DROPPED'
  | 'ERR_MEMBERSHIP_CHANGED'
  /** The two sides of a pair use different link types (split links on one side only): never linked. */
  | 'ERR_LINK_MISMATCH'
  | 'ERR_SIGNALING'
  | 'ERR_ROOM_FULL'
  | 'ERR_ROOM_NOT_FOUND'
  | 'ERR_DESTROYED';

export class MeshError extends Error {
  constructor(
    readonly code: MeshErrorCode,
    message: string,
    /** The peer this error is about (the one missing, misbehaving or gone), when there is one. */
    readonly peerId?: string,
  ) {
    super(message);
    this.name = 'MeshError';
  }
}
