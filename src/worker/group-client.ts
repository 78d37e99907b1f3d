/**
 * The worker's side of the process group: a GroupSource whose groups post every collective to the
 * page, where src/worker/group-host.ts runs it on the real mesh group. Calls are posted in the order
 * the session makes them and the page starts them in that order, so concurrent collectives keep their
 * operation numbers; results and MeshErrors (code, message, peerId) come back as they were.
 * A collective's input tensor moves to the page when it owns its whole buffer (src/worker/port.ts):
 * as with postMessage, the caller must not read it afterwards (nothing in the trainer does).
 */
import { MeshError, type CollectiveOptions, type ProcessGroup, type ReduceOp } from '../mesh/types.ts';
import type { GroupSource, RoomPace } from '../train/session.ts';
import { decodeError, encodeError } from './errors.ts';
import { listen, movable, type PortLike } from './port.ts';
import type { CollectiveCall, GroupReply, GroupRequest, GroupWire, PaceReading } from './protocol.ts';

/**
 * How often the worker tells the page its step pace (and reads the room's back), in ms: heartbeats
 * go out about once a second, so each carries a reading at most this old (a long compute stretch
 * that blocks the worker is extrapolated on the page, see PaceReading.computingMs).
 */
export const PACE_PUSH_MS = 250;

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };

/** The meter the session shares: its pace, and the compute time of a step computing now. */
interface PaceSource {
  paceMs(): number;
  computing?(): number | null;
}

class RemoteGroup implements ProcessGroup {
  constructor(
    private readonly client: RemoteGroups,
    readonly wire: GroupWire,
  ) {}

  get rank(): number {
    return this.wire.rank;
  }
  get size(): number {
    return this.wire.size;
  }
  get epoch(): number {
    return this.wire.epoch;
  }

  peerIdOf(rank: number): string {
    const id = this.wire.peerIds[rank];
    if (id === undefined) throw new RangeError(`rank ${rank} is not in this group of ${this.wire.size}`);
    return id;
  }

  setStep(step: number): void {
    this.client.post({ type: 'g.setStep', group: this.wire.id, step });
  }

  broadcast(data: Float32Array | null, root?: number, opts?: CollectiveOptions): Promise<Float32Array> {
    return this.client.call(this.wire.id, { op: 'broadcast', data, root }, opts) as Promise<Float32Array>;
  }
  allGather(data: Float32Array, opts?: CollectiveOptions): Promise<Float32Array[]> {
    return this.client.call(this.wire.id, { op: 'allGather', data }, opts) as Promise<Float32Array[]>;
  }
  exchange(to: number, data: Float32Array, from: number, opts?: CollectiveOptions): Promise<Float32Array> {
    return this.client.call(this.wire.id, { op: 'exchange', to, data, from }, opts) as Promise<Float32Array>;
  }
  allReduce(data: Float32Array, op?: ReduceOp, opts?: CollectiveOptions): Promise<Float32Array> {
    return this.client.call(this.wire.id, { op: 'allReduce', data, reduce: op }, opts) as Promise<Float32Array>;
  }
  async barrier(opts?: CollectiveOptions): Promise<void> {
    await this.client.call(this.wire.id, { op: 'barrier' }, opts);
  }
}

export class RemoteGroups implements GroupSource {
  private group: RemoteGroup | null;
  private complete: boolean;
  private readonly listeners = new Set<(group: ProcessGroup | null, complete: boolean) => void>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private roomPace: RoomPace = { slowest: null, waitingFor: null };
  private paceSource: PaceSource | null = null;
  private paceTimer: ReturnType<typeof setInterval> | undefined;
  private readonly detach: () => void;
  private destroyed = false;

  constructor(
    private readonly port: PortLike,
    initial: { group: GroupWire | null; complete: boolean },
  ) {
    this.group = initial.group ? new RemoteGroup(this, initial.group) : null;
    this.complete = initial.complete;
    this.detach = listen(port, (data) => this.onMessage(data as GroupReply));
  }

  current(): ProcessGroup | null {
    return this.group;
  }

  subscribe(listener: (group: ProcessGroup | null, complete: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  restart(failed: ProcessGroup, reason: Error): void {
    // The session passes the group it got from current(), or a wrapper with the same epoch.
    const id = failed instanceof RemoteGroup ? failed.wire.id : this.group?.epoch === failed.epoch ? this.group.wire.id : null;
    if (id !== null) this.post({ type: 'g.restart', group: id, reason: encodeError(reason) });
  }

  exclude(peerId: string, reason: Error): void {
    this.post({ type: 'g.exclude', peerId, reason: encodeError(reason) });
  }

  /** The meter is read on every push; `computing` (when given) lets the page extrapolate. */
  setPace(paceMs: () => number, computing?: () => number | null): void {
    this.paceSource = { paceMs, ...(computing ? { computing } : {}) };
    this.pushPace(true);
    clearInterval(this.paceTimer);
    this.paceTimer = setInterval(() => this.pushPace(true), PACE_PUSH_MS);
  }

  /** The room's pace as the page last reported it (at most PACE_PUSH_MS old while the worker is free). */
  pace(): RoomPace {
    return this.roomPace;
  }

  /** Rejects every pending collective with ERR_DESTROYED and detaches from the port. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.paceTimer);
    this.detach();
    this.listeners.clear();
    const err = new MeshError('ERR_DESTROYED', 'the compute bridge was closed');
    for (const { reject } of this.pending.values()) reject(err);
    this.pending.clear();
  }

  /** @internal */
  post(message: GroupRequest, transfer: Transferable[] = []): void {
    if (!this.destroyed) this.port.postMessage(message, transfer);
  }

  /** @internal */
  call(group: number, call: CollectiveCall, opts: CollectiveOptions | undefined): Promise<unknown> {
    if (this.destroyed) return Promise.reject(new MeshError('ERR_DESTROYED', 'the compute bridge was closed'));
    const id = this.nextId++;
    const promise = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    const tensor = 'data' in call ? call.data : null;
    const { tensors, transfer } = movable(tensor ? [tensor] : []);
    const sent = tensor ? ({ ...call, data: tensors[0]! } as CollectiveCall) : call;
    // The compute before this call is over: the page's pace stops growing here.
    this.pushPace(false);
    this.post({ type: 'g.call', id, group, call: sent, opts }, transfer);
    return promise;
  }

  private pushPace(askRoom: boolean): void {
    if (!this.paceSource || this.destroyed) return;
    const reading: PaceReading = { paceMs: this.paceSource.paceMs(), computingMs: this.paceSource.computing?.() ?? null, at: performance.timeOrigin + performance.now() };
    this.post({ type: 'g.pace', reading, room: askRoom });
  }

  private onMessage(msg: GroupReply): void {
    if (this.destroyed || !msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'g.result': {
        const pending = this.pending.get(msg.id);
        if (!pending) return;
        this.pending.delete(msg.id);
        if (msg.ok) pending.resolve(msg.value);
        else pending.reject(decodeError(msg.error));
        // Compute resumes with this result: the page's pace grows again from here.
        queueMicrotask(() => this.pushPace(false));
        return;
      }
      case 'g.group':
        this.group = msg.group ? new RemoteGroup(this, msg.group) : null;
        this.complete = msg.complete;
        for (const listener of [...this.listeners]) listener(this.group, this.complete);
        return;
      case 'g.room-pace':
        this.roomPace = msg.pace;
        return;
    }
  }
}
