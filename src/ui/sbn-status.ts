import { LitElement, css, html, nothing } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { PeerInfo, SessionState } from '../app/ports.ts';
import type { RoomPace } from '../train/session.ts';
import { formatStepTime } from './sbn-peers.ts';
import { formatDuration, formatRate, type RunProgress } from '../app/progress.ts';
import { base } from './theme.ts';

/** Another tab counts as the one the room waits for when its compute time exceeds ours by this factor. */
const SLOWER_FACTOR = 1.5;

const ACTIVITY_TEXT: Record<RunProgress['activity'], string> = {
  waiting: 'Waiting for peers: forming the training group',
  computing: 'Computing this tab’s part of the step',
  exchanging: 'Exchanging statistics, keys and gradients with the other tabs',
  evaluating: 'Evaluating kNN accuracy on held-out images',
  idle: 'Idle',
  paused: 'Paused',
  done: 'Done',
  error: 'Stopped by an error',
};

/**
 * The status line: what the room is doing now (waiting for peers, computing, exchanging, evaluating),
 * the step, the measured pace and the time left. Everything shown is read from the run's progress
 * (src/app/progress.ts), never estimated from the settings.
 */
@customElement('sbn-status')
export class SbnStatus extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: flex;
        flex-wrap: wrap;
        align-items: baseline;
        gap: 0.2em 1em;
        font-size: 0.95em;
      }
      .activity {
        font-weight: 600;
        overflow-wrap: anywhere;
      }
      .activity::before {
        content: '● ';
        color: var(--sbn-muted);
      }
      :host([activity='computing']) .activity::before,
      :host([activity='evaluating']) .activity::before {
        color: var(--sbn-accent);
      }
      :host([activity='exchanging']) .activity::before {
        color: var(--sbn-ok);
      }
      :host([activity='waiting']) .activity::before {
        color: var(--sbn-warn);
      }
      :host([activity='error']) .activity::before {
        color: var(--sbn-error);
      }
      .figures {
        display: flex;
        flex-wrap: wrap;
        gap: 0.2em 1em;
        font-variant-numeric: tabular-nums;
      }
    `,
  ];

  /** The run's progress (null before the first run of this tab). */
  @property({ attribute: false }) progress: RunProgress | null = null;
  /** This tab's session state. */
  @property() runState: SessionState = 'idle';
  /** Tabs in the room (1 when alone). */
  @property({ type: Number }) tabs = 1;
  /** Tabs of the room whose WebRTC link to this tab is not up yet. */
  @property({ type: Number }) connecting = 0;
  /** Training in this tab only: there is no room link to share. */
  @property({ type: Boolean }) solo = false;
  /** Who the room waits for, as the session reported it (null: no report). */
  @property({ attribute: false }) pace: RoomPace | null = null;
  /** The room's peers, to name the one in `pace` by rank. */
  @property({ attribute: false }) peers: readonly PeerInfo[] = [];
  /** The shown activity, reflected for styling and tests. */
  @property({ reflect: true }) activity: RunProgress['activity'] = 'idle';

  protected override willUpdate(): void {
    this.activity = this.progress?.activity ?? (this.runState === 'running' ? 'waiting' : this.runState);
  }

  override render() {
    const p = this.progress;
    const slowest = this.runState === 'running' && this.tabs > 1 ? this.pace?.slowest : null;
    return html`<span class="activity" data-activity=${this.activity}>${this._activityText()}</span>
      ${slowest ? html`<span data-figure="waits-for">everyone waits for ${this._name(slowest.peerId)}: ${formatStepTime(slowest.stepMs)} per step</span>` : nothing}
      ${p && p.done > 0
        ? html`<span class="figures">
            <span data-figure="step">step ${p.done}/${p.total}</span>
            ${p.stepsPerSecond !== null ? html`<span data-figure="rate">${formatRate(p.stepsPerSecond)}</span>` : nothing}
            ${p.etaSeconds !== null && p.done < p.total ? html`<span data-figure="eta">about ${formatDuration(p.etaSeconds)} left</span>` : nothing}
            ${p.computeMs + p.commMs > 0 ? html`<span class="muted" data-figure="split">last step: ${p.computeMs.toFixed(0)} ms computing, ${p.commMs.toFixed(0)} ms exchanging</span>` : nothing}
          </span>`
        : nothing}`;
  }

  private _name(peerId: string): string {
    const peer = this.peers.find((p) => p.id === peerId);
    if (!peer) return `peer ${peerId.slice(0, 8)}`;
    return peer.link === 'self' ? 'this tab' : `rank ${peer.rank}`;
  }

  private _activityText(): string {
    const p = this.progress;
    const linked = this.tabs - this.connecting;
    if (this.connecting > 0 && (this.activity === 'idle' || this.activity === 'waiting')) return `Waiting for a peer to connect: ${linked} of ${this.tabs} tabs linked`;
    if (this.activity === 'idle') {
      if (this.solo) return 'Idle: press Start to train in this tab';
      return this.tabs > 1 ? `Idle: ${this.tabs} tabs connected, press Start` : 'Idle: press Start, or open the room link in another tab to add a peer';
    }
    if (this.activity !== 'exchanging' || !p) return ACTIVITY_TEXT[this.activity];
    // The session names the peer this tab waits on in the collective: said as reported.
    const waiting = this.pace?.waitingFor;
    if (waiting) return `Exchanging: waiting for ${this._name(waiting.peerId)} (${formatStepTime(waiting.waitedMs)} so far)`;
    // In a collective, this tab waits for the slowest tab: name it when another tab computes much longer.
    const own = p.computeMs;
    let slowest = -1;
    p.tabComputeMs.forEach((ms, rank) => {
      if (ms > own * SLOWER_FACTOR && (slowest < 0 || ms > p.tabComputeMs[slowest]!)) slowest = rank;
    });
    return slowest >= 0 ? `Exchanging: waiting for the slowest tab (group rank ${slowest}, ${p.tabComputeMs[slowest]!.toFixed(0)} ms of compute)` : ACTIVITY_TEXT.exchanging;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-status': SbnStatus;
  }
}
