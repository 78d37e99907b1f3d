/**
 * The app's one entry to saved run logs: the saved log a run continues, the recorder that saves a
 * running log, the earlier runs of a room and their export. Every storage failure becomes one notice
 * (through `onError`) and an empty answer; nothing here can fail a run.
 */
import type { RunLog } from '../../train/types.ts';
import type { TimeoutTimers } from '../../util/timers.ts';
import { appError } from '../errors.ts';
import { exportFile, type ExportFile } from '../format.ts';
import { RunRecorder } from './recorder.ts';
import type { RunStore, SavedRunInfo } from './store.ts';

export class RoomRunLogs {
  private current: RunRecorder | null = null;

  constructor(
    private readonly store: RunStore | null,
    private readonly onError: (err: Error & { code: string }) => void,
    private readonly timers?: TimeoutTimers,
  ) {}

  /** The saved log of this run in this room (this tab trained in it before a reload), or null. */
  async saved(roomId: string | null, runId: string): Promise<RunLog | null> {
    if (!this.store || roomId === null) return null;
    return this.store.load(roomId, runId).catch((err: unknown) => this.failed(err, null));
  }

  /** Starts saving a run's log (the previous run's recorder writes what it has and stops). */
  record(roomId: string | null, runId: string, log: () => RunLog): RunRecorder | null {
    void this.current?.destroy();
    this.current = null;
    if (!this.store || roomId === null) return null;
    this.current = new RunRecorder({ store: this.store, roomId, runId, log, onError: this.onError, ...(this.timers ? { timers: this.timers } : {}) });
    return this.current;
  }

  /** Saved runs of the room that hold steps, newest first. */
  async list(roomId: string | null): Promise<SavedRunInfo[]> {
    if (!this.store || roomId === null) return [];
    // After the current run's pending steps are written, so the counts are up to date.
    await this.current?.flush();
    const runs = await this.store.list(roomId).catch((err: unknown) => this.failed(err, []));
    return runs.filter((r) => r.stepCount > 0);
  }

  /** A saved run as a file, or null when it is gone (evicted, or site data cleared). */
  async export(roomId: string, runId: string, format: 'json' | 'csv'): Promise<ExportFile | null> {
    const log = await this.saved(roomId, runId);
    return log && log.steps.length > 0 ? exportFile(log, format) : null;
  }

  /** Writes what is pending and stops; idempotent. */
  destroy(): void {
    void this.current?.destroy();
    this.current = null;
  }

  private failed<T>(err: unknown, fallback: T): T {
    const message = String((err as Error)?.message ?? err);
    this.onError(appError('ERR_RUN_LOG_STORAGE', `saved run logs cannot be read: ${message}`));
    return fallback;
  }
}
