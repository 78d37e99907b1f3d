/**
 * The compute worker in Node: what src/worker/compute.worker.ts does with its messages (that entry
 * runs only in a Worker): report in, answer the backend request with the CPU backend, and serve every
 * session port with a SessionHost and the given session factory. The page's side is the real one
 * (startComputeWorker), so sessions cross real MessageChannels.
 */
import type { SessionLike } from '../../src/app/ports.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import type { ShapeDataset } from '../../src/train/dataset.ts';
import type { SessionFaults, TrainingSession } from '../../src/train/session.ts';
import { startComputeWorker, type ComputeWorker } from '../../src/worker/compute.ts';
import type { PortLike } from '../../src/worker/port.ts';
import type { ControlReply, ControlRequest } from '../../src/worker/protocol.ts';
import { SessionHost, trainingSessions, type WorkerSessionFactory } from '../../src/worker/session-host.ts';

export class StandInWorker extends EventTarget {
  private readonly hosts: SessionHost[] = [];
  constructor(private readonly make: WorkerSessionFactory) {
    super();
    setTimeout(() => this.reply({ type: 'ready' }));
  }
  postMessage(msg: ControlRequest): void {
    if (msg.type === 'backend') this.reply({ type: 'backend', ok: true, badge: 'cpu', label: 'float64 (Node)', kind: 'cpu', fallback: null });
    else this.hosts.push(new SessionHost(msg.port as unknown as PortLike, this.make));
  }
  terminate(): void {
    for (const host of this.hosts) host.destroy();
  }
  private reply(data: ControlReply): void {
    setTimeout(() => this.dispatchEvent(new MessageEvent('message', { data })));
  }
}

/** A started stand-in compute worker training TrainingSessions on the CPU backend. */
export interface StandInCompute {
  worker: ComputeWorker;
  /** The newest session the worker built (read directly: nothing crossed the port). */
  inner(): TrainingSession | null;
}

export async function standInCompute(base: { dataset: ShapeDataset; faults?: SessionFaults }): Promise<StandInCompute> {
  const make = trainingSessions(createCpuBackend(), base);
  let inner: TrainingSession | null = null;
  const stand = new StandInWorker((o): SessionLike => (inner = make(o) as TrainingSession));
  const worker = await startComputeWorker(() => stand as unknown as Worker);
  return { worker, inner: () => inner };
}
