/**
 * The app's controller: joins or creates the room, keeps the room's shared configuration, turns the
 * room's run command into a local training session, and routes every failure to one notice list.
 * Elements call its methods and render `store.state`; they hold no logic of their own.
 */
import type { TrainConfig } from '../train/types.ts';
import { realTimers, type TimeoutTimers } from '../util/timers.ts';
import { appError, toNotice } from './errors.ts';
import { exportFile, type ExportFile } from './format.ts';
import { settingsFromLink, shareLink } from './link-settings.ts';
import { landingUrl, linksForOtherDevices, parseRoomLink, roomIdFromLocation, roomUrl } from './links.ts';
import type { BackendChoice, BackendProvider, OriginsProvider, PeerInfo, RoomConnection, RoomConnector, RoomListener, SessionFactory } from './ports.ts';
import { decodeRoomState, encodeRoomState, MAX_DROPPED_PEERS, newRunId, type RoomState } from './room-config.ts';
import { Run, type RunUpdate } from './run.ts';
import { RoomRunLogs } from './run-store/room-logs.ts';
import type { RunStore } from './run-store/store.ts';
import { withRuns } from './series.ts';
import type { AppStore } from './store.ts';

/** Lines kept in the on-screen log (newest last). */
export const MAX_LOG_LINES = 400;
/**
 * A pause stops every tab after the same step, chosen this far ahead of the pausing tab so the
 * command reaches every tab's training loop (src/train/session.ts pauseAfter) before it begins the
 * step after: at least PAUSE_LEAD_STEPS steps, and at least PAUSE_LEAD_MS of training time.
 */
export const PAUSE_LEAD_STEPS = 2;
export const PAUSE_LEAD_MS = 500;
/**
 * How often the status line re-reads what the session is doing (computing, exchanging…): 4 times a
 * second follows a 2 s step on a software GPU without re-rendering on every collective.
 */
export const ACTIVITY_POLL_MS = 250;

export interface Navigation {
  href(): string;
  /** Replaces the address bar's URL without reloading (so the room link can be shared from it). */
  replace(url: string): void;
}

export interface ControllerDeps {
  store: AppStore;
  connectRoom: RoomConnector | null;
  provideBackend: BackendProvider | null;
  createSession: SessionFactory | null;
  nav: Navigation;
  /** Where other devices reach the server (for the room view's link and QR code); absent: not asked. */
  origins?: OriginsProvider | null;
  timers?: TimeoutTimers;
  /** Where run logs are saved per room and run (IndexedDB in the page); absent: not saved. */
  runStore?: RunStore | null;
}

export type { ExportFile };

export class AppController {
  private readonly store: AppStore;
  private connection: RoomConnection | null = null;
  private backend: Promise<BackendChoice> | null = null;
  private run: Run | null = null;
  /** Our room changes the server has not echoed yet, and the newest of them. */
  private unechoed = 0;
  private lastSent: RoomState | null = null;
  private offBackendErrors: (() => void) | null = null;
  private activityTimer: ReturnType<typeof setTimeout> | undefined;
  /** Peers of `room.dropped` this tab has excluded already. */
  private droppedApplied = new Set<string>();
  /** The run the server's replay showed in progress when this tab had none: this tab joins it, never starts it alone. */
  private joiningRunId: string | null = null;
  private destroyed = false;
  /** Saved run logs of the room: continued after a reload, offered for export. */
  private readonly runLogs: RoomRunLogs;

  constructor(private readonly deps: ControllerDeps) {
    this.store = deps.store;
    this.runLogs = new RoomRunLogs(deps.runStore ?? null, (err) => this.store.notify(toNotice(err, { key: 'run-log' })), deps.timers);
  }

  /**
   * Starts the backend; when the page was opened from a room link, joins that room, and when the link
   * carries settings (a preset or fields) without a room, creates a room with them. Parameters that
   * cannot be used become one notice; the rest of the link still works.
   */
  async boot(): Promise<void> {
    this.ensureBackend();
    void this.loadOrigins();
    const href = this.deps.nav.href();
    const id = roomIdFromLocation(href);
    const settings = settingsFromLink(href);
    if (settings && settings.problems.length > 0) {
      const notice = toNotice(appError('ERR_LINK_SETTINGS', settings.problems.join('; ')));
      // Which parameters were not used is what the person needs to fix the link: said in the text itself.
      this.store.notify({ ...notice, detail: `${notice.detail} Not used: ${settings.problems.join('; ')}.` });
    }
    if (id !== null) await this.joinLink(id, settings?.config);
    else if (settings) await this.enterRoom(null, settings.config);
  }

  /** Asks the server where other devices reach it; without an answer the room view offers this page's link. */
  private async loadOrigins(): Promise<void> {
    if (!this.deps.origins) return;
    const origins = await this.deps.origins().catch(() => null);
    if (!this.destroyed && origins) this.store.update({ origins });
  }

  async createRoom(): Promise<void> {
    await this.enterRoom(null);
  }

  /**
   * Joins the room of a pasted link (or bare id); a malformed link becomes a notice. `settings` (from
   * the link) become the room's settings if the room has none yet.
   */
  async joinLink(text: string, settings?: TrainConfig): Promise<void> {
    let roomId: string;
    try {
      roomId = parseRoomLink(text);
    } catch (err) {
      this.store.notify(toNotice(err));
      return;
    }
    await this.enterRoom(roomId, settings);
  }

  /** Trains in this tab alone, without a room (world = this tab's virtual workers). */
  trainSolo(): void {
    this.store.update({ view: 'solo', connection: 'offline', peers: [] });
    void this.refreshSelfRow();
  }

  /** Leaves the room (or solo mode) and returns to the landing view. */
  leave(): void {
    this.stopRun();
    this.connection?.destroy();
    this.connection = null;
    this.store.update({ view: 'landing', roomId: null, link: null, connection: 'offline', selfId: null, peers: [], runState: 'idle', pace: null, savedRuns: [] });
    this.deps.nav.replace(landingUrl(this.deps.nav.href()));
  }

  /** Changes the room's configuration: sent to every tab of the room. */
  setConfig(patch: Partial<TrainConfig>): void {
    const room = this.intended();
    this.publish({ ...room, config: { ...room.config, ...patch } });
  }

  /** Starts a new run on every tab, or resumes the paused one. */
  start(): void {
    const room = this.intended();
    const resumable = this.run !== null && this.run.state === 'paused' && room.command === 'pause';
    this.publish({ ...room, command: 'run', pauseAt: -1, ...(resumable ? {} : { runId: newRunId(), dropped: [], droppedBy: '' }) });
  }

  pause(): void {
    const stepMs = this.run?.lastStepMs ?? 0;
    const lead = Math.max(PAUSE_LEAD_STEPS, stepMs > 0 ? Math.ceil(PAUSE_LEAD_MS / stepMs) : 0);
    const pauseAt = this.run && this.run.completedStep >= 0 ? this.run.completedStep + lead : -1;
    this.publish({ ...this.intended(), command: 'pause', pauseAt });
  }

  reset(): void {
    this.publish({ ...this.intended(), command: 'reset' });
  }

  /**
   * The link that sets up a room like this one: this room and its settings (a new room with them
   * when training in this tab only), on the first address other devices can open (src/app/links.ts).
   */
  shareSettingsLink(): string {
    const s = this.store.state;
    const link = shareLink(this.deps.nav.href(), s.view === 'room' ? s.roomId : null, s.room.config);
    // Handed to a class, so on an address other devices reach (this page's own when it has one).
    return linksForOtherDevices(link, s.origins)[0]?.link ?? link;
  }

  dismiss(key: string): void {
    this.store.dismiss(key);
  }

  /** The current (or last) run as a file, or null before any step. */
  exportRun(format: 'json' | 'csv'): ExportFile | null {
    const run = this.run;
    if (!run || run.log.steps.length === 0) return null;
    return exportFile(run.log, format);
  }

  /** An earlier run of this room saved in this browser (`state.savedRuns`) as a file, or null when gone. */
  exportSaved(runId: string, format: 'json' | 'csv'): Promise<ExportFile | null> {
    const roomId = this.store.state.roomId;
    return roomId === null ? Promise.resolve(null) : this.runLogs.export(roomId, runId, format);
  }

  /** Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.stopRun();
    this.runLogs.destroy();
    this.connection?.destroy();
    this.connection = null;
    this.offBackendErrors?.();
    clearTimeout(this.activityTimer);
  }

  private ensureBackend(): Promise<BackendChoice> | null {
    if (this.backend || !this.deps.provideBackend) return this.backend;
    this.backend = this.deps.provideBackend();
    this.backend.then(
      (choice) => {
        if (this.destroyed) return;
        this.store.update({ backend: { badge: choice.badge, label: choice.backend.label } });
        this.offBackendErrors = choice.onError?.((err) => {
          if (!this.destroyed) this.store.notify(toNotice(err));
        }) ?? null;
        for (const notice of choice.notices ?? []) this.store.notify(toNotice(notice));
        if (choice.fallbackReason) this.store.notify(toNotice(choice.fallbackReason));
        else if (choice.badge === 'webgpu-fallback') this.store.notify(toNotice(appError('ERR_FALLBACK_ADAPTER', choice.backend.label)));
        void this.refreshSelfRow();
      },
      (err: unknown) => {
        if (!this.destroyed) this.store.notify(toNotice(err));
      },
    );
    return this.backend;
  }

  private async meta() {
    const choice = await this.ensureBackend()?.catch(() => null);
    return {
      device: choice?.backend.label.slice(0, 128),
      backend: choice?.badge,
      virtualWorkers: this.store.state.room.config.workersPerTab,
    };
  }

  /** Outside a room the peers table shows this tab alone. */
  private async refreshSelfRow(): Promise<void> {
    const meta = await this.meta();
    if (this.destroyed) return;
    if (this.connection) this.connection.setMeta(meta);
    else if (this.store.state.view === 'solo') this.store.update({ peers: [{ id: 'this-tab', rank: 0, meta, link: 'self' }] });
  }

  private async enterRoom(roomId: string | null, settings?: TrainConfig): Promise<void> {
    if (!this.deps.connectRoom) {
      this.store.notify(toNotice(appError('ERR_SESSION', 'rooms are not available in this build')));
      return;
    }
    this.stopRun();
    this.connection?.destroy();
    this.connection = null;
    this.unechoed = 0;
    this.lastSent = null;
    this.store.update({ busy: true, connection: 'connecting', roomId, savedRuns: [] });
    try {
      const meta = await this.meta();
      const connection = await this.deps.connectRoom({ roomId, meta, listener: this.listener });
      if (this.destroyed) return connection.destroy();
      this.store.dismiss('signaling');
      this.connection = connection;
      const link = roomUrl(this.deps.nav.href(), connection.roomId);
      this.deps.nav.replace(link);
      this.store.update({ view: 'room', roomId: connection.roomId, link, selfId: connection.selfId, connection: 'connected' });
      // A room that already has settings keeps them: the class follows the room, not each link.
      if (settings && !connection.hasStoredConfig) this.setConfig(settings);
      void this.refreshSavedRuns();
    } catch (err) {
      if (this.destroyed) return;
      // A settings link outlives its room (emptied, or the server restarted): open a new room with them.
      if (settings && roomId !== null && (err as { code?: unknown }).code === 'ERR_ROOM_NOT_FOUND') {
        this.store.notify(toNotice(appError('ERR_ROOM_REPLACED', `room ${roomId} is gone`)));
        return await this.enterRoom(null, settings);
      }
      this.store.notify(toNotice(err));
      this.store.update({ view: 'landing', connection: 'offline', roomId: null });
      // Drop the failed link from the address bar, so a reload shows the landing, not the error again.
      this.deps.nav.replace(landingUrl(this.deps.nav.href()));
    } finally {
      if (!this.destroyed) this.store.update({ busy: false });
    }
  }

  private readonly listener: RoomListener = {
    onState: (connection) => {
      if (this.destroyed) return;
      this.store.update({ connection });
      if (connection === 'reconnecting') this.store.notify(toNotice(appError('ERR_RECONNECTING', 'signaling socket closed'), { key: 'signaling' }));
      if (connection === 'connected') this.store.dismiss('signaling');
    },
    onPeers: (peers: PeerInfo[]) => {
      if (!this.destroyed) this.store.update({ peers: [...peers].sort((a, b) => a.rank - b.rank) });
    },
    onConfig: (record, from) => {
      if (this.destroyed) return;
      if (from !== null && from === this.connection?.selfId && this.unechoed > 0) this.unechoed--;
      const { state, rejected } = decodeRoomState(record, this.store.state.room);
      if (rejected.length) this.store.notify(toNotice(appError('ERR_CONFIG_REJECTED', `rejected fields: ${rejected.join(', ')}`)));
      // The server replays the stored config to a tab that joins (from = null). If the room is
      // training, this tab joins the run: the session adopts rank 0's state at the next step boundary.
      if (from === null && state.command === 'run' && this.run === null) {
        this.joiningRunId = state.runId;
        this.store.notify(toNotice(appError('ERR_RUN_IN_PROGRESS', `joining run ${state.runId}`)));
      }
      void this.apply(state);
    },
    onError: (err) => {
      if (!this.destroyed) this.report(err);
    },
    // While joining: the server is down or restarting; the connection keeps trying (the notice says so).
    onRetry: (info) => {
      if (this.destroyed || info.admitted) return;
      const wait = `attempt ${info.attempt} failed (${info.reason}); next try in ${(info.delayMs / 1000).toFixed(1)} s`;
      this.store.notify(toNotice(appError('ERR_JOIN_RETRYING', wait), { key: 'signaling' }));
    },
  };

  /**
   * One notice per failure. A peer's failure reaches the app twice: as the session's error (the
   * validation error, or ERR_PEER_LEFT whose cause is the mesh's reason) and as the room's peer-left
   * reason; both are keyed by the peer, and the first one (the more specific) stays.
   */
  private report(err: Error & { code?: string; peerId?: string; rank?: unknown; cause?: unknown }): void {
    const cause = err.cause as (Error & { code?: string; peerId?: string }) | undefined;
    const reason = err.code === 'ERR_PEER_LEFT' && typeof cause?.code === 'string' && cause.code !== 'ERR_PEER_LEFT' ? cause : err;
    const peers = this.store.state.peers;
    const peer =
      (typeof err.peerId === 'string' ? peers.find((p) => p.id === err.peerId) : undefined) ??
      (typeof err.rank === 'number' && err.code?.startsWith('ERR_BAD_PEER_') ? peers.find((p) => (p.groupRank ?? p.rank) === err.rank) : undefined);
    if (!peer) return this.store.notify(toNotice(reason));
    const key = `peer:${peer.id}`;
    if (this.store.state.notices.some((n) => n.key === key)) return;
    this.store.notify(toNotice(reason, { key, peerLabel: `rank ${peer.rank}` }));
  }

  /**
   * Drops `peerId` from the run (a person chose to stop waiting for it): only while training, never
   * this tab itself. Sent through the room state, so every tab excludes it and the rest re-form together.
   */
  dropPeer(peerId: string): void {
    const s = this.store.state;
    const room = this.intended();
    if (!this.connection?.dropPeer || s.runState !== 'running' || peerId === this.connection.selfId || room.dropped.includes(peerId)) return;
    if (room.dropped.length >= MAX_DROPPED_PEERS) return;
    const self = s.peers.find((p) => p.id === this.connection?.selfId);
    const by = self ? `rank ${self.rank} (${self.meta.name ?? self.meta.device ?? self.id})` : this.connection.selfId;
    this.publish({ ...room, dropped: [...room.dropped, peerId], droppedBy: by });
  }

  /** Excludes every peer the room dropped from this run (once each); a tab that was dropped stops its run. */
  private applyDrops(room: RoomState): void {
    const connection = this.connection;
    if (!connection?.dropPeer) return;
    for (const peerId of room.dropped) {
      if (this.droppedApplied.has(peerId)) continue;
      this.droppedApplied.add(peerId);
      if (peerId !== connection.selfId) {
        connection.dropPeer(peerId, room.droppedBy);
      } else if (this.run && this.run.id === room.runId) {
        this.stopRun();
        this.store.update({ runState: 'idle', pace: null });
        this.store.notify(toNotice(Object.assign(new Error(`this tab was dropped from the run by ${room.droppedBy}`), { code: 'ERR_PEER_DROPPED' })));
      }
    }
  }

  /**
   * A change made here. In a room it is only sent: the server relays it to every member, the sender
   * included, so all tabs apply changes in the server's order (two tabs changing at once end in the
   * same state). Alone, it applies at once.
   */
  private publish(next: RoomState): void {
    if (this.connection) {
      this.unechoed++;
      this.lastSent = next;
      this.connection.sendConfig(encodeRoomState(next));
    } else {
      void this.apply(next);
    }
  }

  /** The state the next change builds on: our newest unechoed change, else the room's. */
  private intended(): RoomState {
    return this.unechoed > 0 && this.lastSent ? this.lastSent : this.store.state.room;
  }

  /** Makes this tab do what the room state says. Applying the same state twice changes nothing. */
  private async apply(next: RoomState): Promise<void> {
    const workersChanged = next.config.workersPerTab !== this.store.state.room.config.workersPerTab;
    this.store.update({ room: next });
    if (workersChanged) void this.refreshSelfRow();
    this.applyDrops(next);
    if (next.command === 'run') {
      if (this.run && this.run.id === next.runId) this.run.resume();
      else await this.beginRun(next);
    } else if (next.command === 'pause') {
      this.run?.pauseAfter(next.pauseAt);
    } else if (next.command === 'reset') {
      this.stopRun();
      this.store.update({ runState: 'idle', step: -1, shuffle: null, log: [], progress: null, pace: null });
    }
  }

  private async beginRun(room: RoomState): Promise<void> {
    this.stopRun();
    const choice = await this.ensureBackend()?.catch(() => null);
    if (this.destroyed || !choice || !this.deps.createSession) {
      if (!this.deps.createSession) this.store.notify(toNotice(appError('ERR_SESSION', 'training is not available in this build')));
      return;
    }
    // This tab's log of the same run from before a reload: the run's log continues it.
    const roomId = this.connection ? this.store.state.roomId : null;
    const saved = await this.runLogs.saved(roomId, room.runId);
    // Another command may have arrived while the backend was starting.
    const current = this.store.state.room;
    if (this.destroyed || current.command !== 'run' || current.runId !== room.runId || this.run?.id === room.runId) return;
    const run: Run = new Run({
      saved,
      sink: this.runLogs.record(roomId, room.runId, () => run.log),
      id: room.runId,
      config: room.config,
      backend: choice.backend,
      backendLabel: choice.backend.label,
      groups: this.connection?.groups({ id: room.runId, joining: this.joiningRunId === room.runId }) ?? null,
      createSession: this.deps.createSession,
      timers: this.deps.timers ?? realTimers,
      callbacks: {
        onUpdate: (u) => this.onRunUpdate(run, u),
        onState: (runState) => {
          if (this.run !== run) return;
          this.store.update({ runState, runs: withRuns(this.store.state.runs, run.allSeries()), progress: run.progress(), ...(runState === 'running' ? {} : { pace: null }) });
          if (runState === 'running') this.pollActivity(run);
          if (runState === 'done') this.markRunFinished(run.id);
        },
        onError: (err) => {
          if (this.run === run) this.report(err);
        },
        // Read as the session reported it: who the room waits for, and for how long.
        onPace: (pace) => {
          if (this.run === run && !this.destroyed) this.store.update({ pace });
        },
      },
    });
    this.run = run;
    this.store.update({ runState: 'running', step: run.lastStep, shuffle: null, log: [], pace: null, runs: withRuns(this.store.state.runs, run.allSeries()), progress: run.progress() });
    run.start();
    this.pollActivity(run);
    void this.refreshSavedRuns();
  }

  /** The room's earlier runs saved in this browser (the run shown has its own export). */
  private async refreshSavedRuns(): Promise<void> {
    const roomId = this.store.state.roomId;
    const saved = await this.runLogs.list(roomId);
    if (!this.destroyed && this.store.state.roomId === roomId) this.store.update({ savedRuns: saved.filter((r) => r.runId !== this.run?.id) });
  }

  /**
   * Re-reads what the running session is doing (waiting for peers, computing, exchanging) until it
   * stops. Real timers: this only feeds the status line, never the training or the batching.
   */
  private pollActivity(run: Run): void {
    clearTimeout(this.activityTimer);
    const poll = () => {
      if (this.destroyed || this.run !== run || run.state !== 'running') return;
      const activity = run.progress().activity;
      if (activity !== this.store.state.progress?.activity) this.store.update({ progress: run.progress() });
      this.activityTimer = setTimeout(poll, ACTIVITY_POLL_MS);
    };
    this.activityTimer = setTimeout(poll, ACTIVITY_POLL_MS);
  }

  private onRunUpdate(run: Run, u: RunUpdate): void {
    if (this.run !== run || this.destroyed) return;
    const log = [...this.store.state.log, ...u.lines].slice(-MAX_LOG_LINES);
    this.store.update({
      step: u.step,
      log,
      runs: withRuns(this.store.state.runs, [u.series, ...(u.compareSeries ? [u.compareSeries] : [])].map((r) => ({ ...r }))),
      progress: u.progress,
      ...(u.shuffle ? { shuffle: u.shuffle } : {}),
    });
  }

  /**
   * The room's stored command still says `run` after a run ends, and a tab that joins later would
   * start a session nobody answers. The lowest-ranked tab records the end (`idle`): running tabs
   * ignore it, joiners then wait for the next Start.
   */
  private markRunFinished(runId: string): void {
    const room = this.intended();
    const lowest = this.store.state.peers[0];
    if (!this.connection || room.command !== 'run' || room.runId !== runId || lowest?.id !== this.connection.selfId) return;
    this.publish({ ...room, command: 'idle' });
  }

  /** Ends the current run; its curves stay in the history for overlay. */
  private stopRun(): void {
    const run = this.run;
    if (!run) return;
    run.destroy();
    this.store.update({ runs: withRuns(this.store.state.runs, run.allSeries()) });
    // Keep the object for export until a new run replaces it.
  }
}
