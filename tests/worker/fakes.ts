/** Fakes for the compute bridge's unit tests: a scripted process group and group source, a counting port. */
import type { MessagePort as NodeMessagePort } from 'node:worker_threads';
import type { CollectiveOptions, ProcessGroup, ReduceOp } from '../../src/mesh/types.ts';
import type { GroupSource, RoomPace } from '../../src/train/session.ts';
import type { PortLike } from '../../src/worker/port.ts';

export interface RecordedCall {
  op: string;
  args: unknown[];
  opts: CollectiveOptions | undefined;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** A group whose collectives wait until the test settles them; every call is recorded in order. */
export class ScriptedGroup implements ProcessGroup {
  readonly calls: RecordedCall[] = [];
  readonly steps: number[] = [];
  constructor(
    readonly rank: number,
    readonly size: number,
    readonly epoch: number,
    readonly peers: string[],
  ) {}
  peerIdOf(rank: number): string {
    return this.peers[rank]!;
  }
  setStep(step: number): void {
    this.steps.push(step);
  }
  private record<T>(op: string, args: unknown[], opts: CollectiveOptions | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => this.calls.push({ op, args, opts, resolve: resolve as (v: unknown) => void, reject }));
  }
  broadcast(data: Float32Array | null, root?: number, opts?: CollectiveOptions): Promise<Float32Array> {
    return this.record('broadcast', [data && Array.from(data), root], opts);
  }
  allGather(data: Float32Array, opts?: CollectiveOptions): Promise<Float32Array[]> {
    return this.record('allGather', [Array.from(data)], opts);
  }
  exchange(to: number, data: Float32Array, from: number, opts?: CollectiveOptions): Promise<Float32Array> {
    return this.record('exchange', [to, Array.from(data), from], opts);
  }
  allReduce(data: Float32Array, op?: ReduceOp, opts?: CollectiveOptions): Promise<Float32Array> {
    return this.record('allReduce', [Array.from(data), op], opts);
  }
  barrier(opts?: CollectiveOptions): Promise<void> {
    return this.record('barrier', [], opts);
  }
}

/** A group source the test drives: membership changes, and a record of what the session asked of it. */
export class ScriptedSource implements GroupSource {
  private listeners = new Set<(g: ProcessGroup | null, complete: boolean) => void>();
  readonly restarts: Array<{ group: ProcessGroup; reason: Error }> = [];
  readonly excludes: Array<{ peerId: string; reason: Error }> = [];
  paceFn: (() => number) | null = null;
  roomPace: RoomPace = { slowest: { peerId: 'p1', stepMs: 1234 }, waitingFor: { peerId: 'p1', waitedMs: 56 } };
  constructor(public group: ProcessGroup | null) {}
  current(): ProcessGroup | null {
    return this.group;
  }
  subscribe(listener: (g: ProcessGroup | null, complete: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  get subscribers(): number {
    return this.listeners.size;
  }
  change(group: ProcessGroup | null, complete = true): void {
    this.group = group;
    for (const l of this.listeners) l(group, complete);
  }
  restart(group: ProcessGroup, reason: Error): void {
    this.restarts.push({ group, reason });
  }
  exclude(peerId: string, reason: Error): void {
    this.excludes.push({ peerId, reason });
  }
  setPace(paceMs: () => number): void {
    this.paceFn = paceMs;
  }
  pace(): RoomPace {
    return this.roomPace;
  }
}

/** A MessagePort that counts its 'message' listeners (teardown must leave none). */
export function countingPort(port: NodeMessagePort): PortLike & { listeners(): number } {
  let count = 0;
  const p = port as unknown as PortLike;
  return {
    postMessage: (m, t) => p.postMessage(m, t),
    addEventListener: (type, l) => {
      count++;
      p.addEventListener(type, l);
    },
    removeEventListener: (type, l) => {
      count--;
      p.removeEventListener(type, l);
    },
    start: () => p.start?.(),
    close: () => p.close?.(),
    listeners: () => count,
  };
}

/** Lets messages in flight on a MessageChannel arrive (a few turns of the event loop). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}
