/**
 * In-memory process groups: N peers in one JS process, fully connected by in-memory links, running the
 * same wire format, reassembly, epoch handling and collective algorithms as the WebRTC mesh. For tests
 * of anything that calls a ProcessGroup (the training loop's Shuffle BN, the collectives themselves).
 *
 *   const groups = createMemoryGroups(4);
 *   const sums = await Promise.all(groups.map((g) => g.allReduce(grad)));
 *   groups[2].leave(); // every peer's in-flight collectives reject with ERR_PEER_LEFT naming peer 2
 */
import { MeshError, type CollectiveOptions, type ProcessGroup, type ReduceOp } from './types.ts';
import { MeshEndpoint } from './endpoint.ts';
import { createMemoryLinkPair } from './memory-link.ts';
import type { CollectiveConfig, CollectiveGroup } from './collectives.ts';
import type { Timers } from '../util/timers.ts';

export interface MemoryGroupOptions {
  /** Default timeout of every collective (ms); 60 s unless set. */
  timeoutMs?: number;
  /** Injectable clock/timers (e.g. a fake clock for timeout tests). */
  timers?: Timers;
  /** Membership epoch stamped on frames (default 1). */
  epoch?: number;
  /** Bytes per chunk payload (multiple of 4): small values exercise reassembly with small tensors. */
  chunkBytes?: number;
  collective?: Partial<CollectiveConfig>;
}

/** A ProcessGroup of an in-memory peer, plus test controls. */
export interface MemoryGroup extends ProcessGroup {
  readonly peerId: string;
  /** This peer disappears: its links close, in-flight collectives everywhere reject with ERR_PEER_LEFT. */
  leave(): void;
  /** The underlying endpoint (to inject frames or inspect links in tests). */
  readonly endpoint: MeshEndpoint;
}

/** Peer id of in-memory rank `rank` (8+ characters, like the server's ids). */
export function memoryPeerId(rank: number): string {
  return `mem-peer-${rank}`;
}

class MemoryProcessGroup implements MemoryGroup {
  constructor(
    readonly peerId: string,
    readonly endpoint: MeshEndpoint,
    private readonly group: CollectiveGroup,
  ) {}
  get rank(): number {
    return this.group.rank;
  }
  get size(): number {
    return this.group.size;
  }
  get epoch(): number {
    return this.group.epoch;
  }
  peerIdOf(rank: number): string {
    return this.group.peerIdOf(rank);
  }
  setStep(step: number): void {
    this.group.setStep(step);
  }
  broadcast(data: Float32Array | null, root?: number, opts?: CollectiveOptions): Promise<Float32Array> {
    return this.group.broadcast(data, root, opts);
  }
  allGather(data: Float32Array, opts?: CollectiveOptions): Promise<Float32Array[]> {
    return this.group.allGather(data, opts);
  }
  exchange(to: number, data: Float32Array, from: number, opts?: CollectiveOptions): Promise<Float32Array> {
    return this.group.exchange(to, data, from, opts);
  }
  allReduce(data: Float32Array, op?: ReduceOp, opts?: CollectiveOptions): Promise<Float32Array> {
    return this.group.allReduce(data, op, opts);
  }
  barrier(opts?: CollectiveOptions): Promise<void> {
    return this.group.barrier(opts);
  }
  leave(): void {
    this.endpoint.abortGroup(new MeshError('ERR_DESTROYED', `peer ${this.peerId} left the group`, this.peerId));
    this.endpoint.destroy();
  }
}

/** Creates `n` connected in-memory peers; element r is rank r's ProcessGroup. */
export function createMemoryGroups(n: number, opts: MemoryGroupOptions = {}): MemoryGroup[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`createMemoryGroups: n must be a positive integer, got ${n}`);
  const ids = Array.from({ length: n }, (_, r) => memoryPeerId(r));
  const collective = { ...opts.collective, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) };
  const endpoints = ids.map(
    (selfId) => new MeshEndpoint({ selfId, heartbeatIntervalMs: 0, collective, ...(opts.timers ? { timers: opts.timers } : {}), ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}) }),
  );
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const [linkAtoB, linkBtoA] = createMemoryLinkPair(ids[a]!, ids[b]!);
      endpoints[a]!.addLink(linkAtoB);
      endpoints[b]!.addLink(linkBtoA);
    }
  }
  const epoch = opts.epoch ?? 1;
  return endpoints.map((endpoint, r) => new MemoryProcessGroup(ids[r]!, endpoint, endpoint.formGroup(ids, epoch)));
}
