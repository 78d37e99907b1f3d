/**
 * The page's side of the process group: runs the collectives the worker posts (src/worker/
 * group-client.ts) on the real group (the WebRTC mesh lives on the page: RTCPeerConnection is
 * main-thread only), and forwards group changes, restarts, exclusions and the step pace both ways.
 * A call is started on the real group inside the message handler that received it, so calls reach
 * the mesh in the order the worker made them.
 */
import { MeshError, type CollectiveOptions, type ProcessGroup } from '../mesh/types.ts';
import type { GroupSource } from '../train/session.ts';
import { decodeError, encodeError } from './errors.ts';
import { listen, movable, type PortLike } from './port.ts';
import type { CollectiveCall, GroupReply, GroupRequest, GroupWire, PaceReading } from './protocol.ts';

/**
 * Groups the worker may still name in a call. Older ones have been replaced by newer epochs; a call on
 * one fails with ERR_MEMBERSHIP_CHANGED, as the stale group itself would.
 */
export const MAX_TRACKED_GROUPS = 16;

export class GroupHost {
  private readonly ids = new Map<ProcessGroup, number>();
  private readonly groups = new Map<number, ProcessGroup>();
  private nextId = 1;
  private reading: PaceReading | null = null;
  private paceShared = false;
  private readonly detach: () => void;
  private readonly unsubscribe: () => void;
  private destroyed = false;
  /** The group at construction, for the worker's opening message. */
  readonly initial: { group: GroupWire | null; complete: boolean };

  constructor(
    private readonly port: PortLike,
    private readonly source: GroupSource,
  ) {
    this.initial = { group: this.wire(source.current()), complete: true };
    this.unsubscribe = source.subscribe((group, complete) => this.post({ type: 'g.group', group: this.wire(group), complete }));
    this.detach = listen(port, (data) => this.onMessage(data as GroupRequest));
  }

  /**
   * This tab's step pace as the worker last read it, extrapolated while a step computes (the worker
   * may be too busy computing to send a newer reading).
   */
  paceMs(now = performance.timeOrigin + performance.now()): number {
    const r = this.reading;
    if (!r) return -1;
    return r.computingMs === null ? r.paceMs : Math.max(r.paceMs, r.computingMs + Math.max(0, now - r.at));
  }

  /** Detaches from the port and the group source; replies to calls still running are dropped. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.detach();
    this.unsubscribe();
    this.ids.clear();
    this.groups.clear();
  }

  private wire(group: ProcessGroup | null): GroupWire | null {
    if (!group) return null;
    let id = this.ids.get(group);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(group, id);
      this.groups.set(id, group);
      for (const [oldId, old] of this.groups) {
        if (this.groups.size <= MAX_TRACKED_GROUPS) break;
        this.groups.delete(oldId);
        this.ids.delete(old);
      }
    }
    const peerIds = Array.from({ length: group.size }, (_, r) => group.peerIdOf(r));
    return { id, rank: group.rank, size: group.size, epoch: group.epoch, peerIds };
  }

  private post(message: GroupReply, transfer: Transferable[] = []): void {
    if (!this.destroyed) this.port.postMessage(message, transfer);
  }

  private onMessage(msg: GroupRequest): void {
    if (this.destroyed || !msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'g.call':
        return this.run(msg.id, msg.group, msg.call, msg.opts);
      case 'g.setStep':
        this.groups.get(msg.group)?.setStep(msg.step);
        return;
      case 'g.restart': {
        const group = this.groups.get(msg.group);
        if (group) this.source.restart?.(group, decodeError(msg.reason));
        return;
      }
      case 'g.exclude':
        this.source.exclude?.(msg.peerId, decodeError(msg.reason));
        return;
      case 'g.pace':
        this.reading = msg.reading;
        if (!this.paceShared) {
          this.paceShared = true;
          this.source.setPace?.(() => this.paceMs());
        }
        if (msg.room && this.source.pace) this.post({ type: 'g.room-pace', pace: this.source.pace() });
        return;
    }
  }

  private run(id: number, groupId: number, call: CollectiveCall, opts: CollectiveOptions | undefined): void {
    const group = this.groups.get(groupId);
    let result: Promise<Float32Array | Float32Array[] | void>;
    if (!group) {
      result = Promise.reject(new MeshError('ERR_MEMBERSHIP_CHANGED', `the group this call names (${groupId}) has been replaced by a newer epoch`));
    } else {
      try {
        result = start(group, call, opts);
      } catch (err) {
        result = Promise.reject(err);
      }
    }
    // What the worker sent stays with the mesh (it may still be sending from it): results that share
    // its buffer are copied, everything else moves.
    const input = 'data' in call && call.data ? new Set<ArrayBufferLike>([call.data.buffer]) : new Set<ArrayBufferLike>();
    result.then(
      (value) => {
        if (value === undefined) return this.post({ type: 'g.result', id, ok: true, value: null });
        const list = Array.isArray(value) ? value : [value];
        const { tensors, transfer } = movable(list, input);
        this.post({ type: 'g.result', id, ok: true, value: Array.isArray(value) ? tensors : tensors[0]! }, transfer);
      },
      (err: unknown) => this.post({ type: 'g.result', id, ok: false, error: encodeError(err) }),
    );
  }
}

function start(group: ProcessGroup, call: CollectiveCall, opts: CollectiveOptions | undefined): Promise<Float32Array | Float32Array[] | void> {
  switch (call.op) {
    case 'broadcast':
      return group.broadcast(call.data, call.root, opts);
    case 'allGather':
      return group.allGather(call.data, opts);
    case 'exchange':
      return group.exchange(call.to, call.data, call.from, opts);
    case 'allReduce':
      return group.allReduce(call.data, call.reduce, opts);
    case 'barrier':
      return group.barrier(opts);
  }
}
