import { LitElement, css, html, nothing } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { AppController } from '../app/controller.ts';
import type { AppState, AppStore } from '../app/store.ts';
import type { TrainConfig } from '../train/types.ts';
import { downloadText } from './download.ts';
import { base } from './theme.ts';
import './sbn-controls.ts';
import './sbn-curves.ts';
import './sbn-errors.ts';
import './sbn-explain.ts';
import './sbn-landing.ts';
import './sbn-log.ts';
import './sbn-peers.ts';
import './sbn-room-link.ts';
import './sbn-saved-runs.ts';
import './sbn-share-settings.ts';
import './sbn-shuffle-view.ts';
import './sbn-status.ts';

const CONNECTION_TEXT: Record<AppState['connection'], string> = {
  offline: 'not in a room',
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  closed: 'disconnected',
};

const BACKEND_TEXT = { webgpu: 'WebGPU', 'webgpu-fallback': 'WebGPU (software)', cpu: 'CPU' } as const;

/**
 * The application root: renders the store's state (landing, room or solo view) and forwards what the
 * person does to the controller. Holds no state of its own beyond the two references.
 */
@customElement('sbn-app')
export class SbnApp extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
        min-height: 100vh;
        background: var(--sbn-bg);
        padding: 0.8em;
      }
      @media (max-width: 480px) {
        /* A phone: every pixel of width goes to the panels. */
        :host {
          padding: 0.4em;
        }
        .panel {
          padding: 0.6em;
        }
      }
      header {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5em 1em;
        margin-bottom: 0.8em;
      }
      h1 {
        font-size: 1.2rem;
        margin: 0;
      }
      .badges {
        display: flex;
        flex-wrap: wrap;
        gap: 0.4em;
        font-size: 0.8em;
        flex: 1;
      }
      .badge {
        border: 1px solid var(--sbn-border);
        border-radius: 999px;
        padding: 0.15em 0.7em;
        color: var(--sbn-muted);
      }
      sbn-errors {
        margin-bottom: 0.8em;
      }
      main {
        display: grid;
        gap: 0.8em;
        grid-template-columns: minmax(0, 1fr);
      }
      @media (min-width: 900px) {
        main.room {
          grid-template-columns: minmax(0, 5fr) minmax(0, 4fr);
        }
        .wide {
          grid-column: 1 / -1;
        }
      }
      .panel {
        background: var(--sbn-panel);
        border: 1px solid var(--sbn-border);
        border-radius: var(--sbn-radius);
        padding: 0.9em;
        min-width: 0;
      }
      .panel.status {
        padding: 0.6em 0.9em;
      }
      sbn-share-settings {
        margin-top: 0.8em;
      }
      /* The explanation sits beside the curves when there is room for both, below them otherwise. */
      .curves {
        display: grid;
        gap: 1em;
        grid-template-columns: minmax(0, 1fr);
      }
      @media (min-width: 1100px) {
        .curves {
          grid-template-columns: minmax(0, 1fr) minmax(16em, 22em);
        }
        sbn-explain {
          border-left: 1px solid var(--sbn-border);
          padding-left: 1em;
        }
      }
    `,
  ];

  /** Source of truth; re-rendered on every 'change'. */
  @property({ attribute: false }) store: AppStore | null = null;
  /** Receives every action. */
  @property({ attribute: false }) controller: AppController | null = null;

  private _subscribed: AppStore | null = null;
  private readonly _onChange = (): void => this.requestUpdate();

  override connectedCallback(): void {
    super.connectedCallback();
    // willUpdate re-subscribes after a move in the DOM.
    this.requestUpdate();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this._subscribed?.removeEventListener('change', this._onChange);
    this._subscribed = null;
  }

  protected override willUpdate(): void {
    if (this.store !== this._subscribed && this.isConnected) {
      this._subscribed?.removeEventListener('change', this._onChange);
      this.store?.addEventListener('change', this._onChange);
      this._subscribed = this.store;
    }
  }

  override render() {
    const s = this.store?.state;
    if (!s) return html`<p class="muted">Loading…</p>`;
    return html`<header>
        <h1>ShuffleBN Mesh</h1>
        <div class="badges">
          ${s.view === 'room' ? html`<span class="badge" data-badge="connection">room: ${CONNECTION_TEXT[s.connection]}</span>` : nothing}
          ${s.view === 'solo' ? html`<span class="badge">this tab only</span>` : nothing}
          <span class="badge" data-badge="backend">${s.backend ? `${BACKEND_TEXT[s.backend.badge]} · ${s.backend.label}` : 'starting backend…'}</span>
        </div>
        ${s.view !== 'landing' ? html`<button @click=${() => this.controller?.leave()}>Leave</button>` : nothing}
      </header>
      <sbn-errors .notices=${s.notices} @sbn-dismiss=${(e: CustomEvent<{ key: string }>) => this.controller?.dismiss(e.detail.key)}></sbn-errors>
      ${s.view === 'landing' ? this._landing(s) : this._room(s)}`;
  }

  private _landing(s: AppState) {
    return html`<sbn-landing
      ?busy=${s.busy}
      @sbn-create-room=${() => this.controller?.createRoom()}
      @sbn-join-room=${(e: CustomEvent<{ link: string }>) => this.controller?.joinLink(e.detail.link)}
      @sbn-train-solo=${() => this.controller?.trainSolo()}
    ></sbn-landing>`;
  }

  private _room(s: AppState) {
    const settingsLink = this.controller?.shareSettingsLink() ?? '';
    return html`<main class="room">
      <section class="panel wide status" aria-label="Status">
        <sbn-status
          .progress=${s.progress}
          .runState=${s.runState}
          .tabs=${Math.max(1, s.peers.length)}
          .connecting=${s.peers.filter((p) => p.link === 'connecting').length}
          ?solo=${s.view === 'solo'}
          .pace=${s.pace}
          .peers=${s.peers}
        ></sbn-status>
      </section>
      ${s.view === 'room' && s.link
        ? html`<section class="panel wide" aria-label="Room link">
            <sbn-room-link .link=${s.link} .origins=${s.origins}></sbn-room-link>
            <sbn-share-settings .link=${settingsLink}></sbn-share-settings>
          </section>`
        : html`<section class="panel wide" aria-label="Share"><sbn-share-settings new-room .link=${settingsLink}></sbn-share-settings></section>`}
      <section class="panel" aria-label="Peers"><sbn-peers
          .peers=${s.peers}
          .stepMs=${s.progress?.tabComputeMs ?? []}
          .pace=${s.pace}
          ?canDrop=${s.view === 'room' && s.runState === 'running'}
          @sbn-drop-peer=${(e: CustomEvent<{ peerId: string }>) => this.controller?.dropPeer(e.detail.peerId)}
        ></sbn-peers></section>
      <section class="panel" aria-label="Controls">
        <sbn-controls
          .config=${s.room.config}
          .runState=${s.runState}
          .step=${s.step}
          ?disabled=${s.busy}
          @sbn-config-change=${(e: CustomEvent<{ patch: Partial<TrainConfig> }>) => this.controller?.setConfig(e.detail.patch)}
          @sbn-command=${(e: CustomEvent<{ command: 'start' | 'pause' | 'reset' }>) => this._onCommand(e.detail.command)}
        ></sbn-controls>
      </section>
      <section class="panel wide" aria-label="Shuffle"><sbn-shuffle-view .frame=${s.shuffle}></sbn-shuffle-view></section>
      <section class="panel wide curves" aria-label="Curves">
        <sbn-curves .runs=${s.runs}></sbn-curves>
        <sbn-explain .mode=${s.room.config.mode}></sbn-explain>
      </section>
      <section class="panel wide" aria-label="Log">
        <sbn-log .lines=${s.log} ?can-export=${s.step >= 0} @sbn-export=${(e: CustomEvent<{ format: 'json' | 'csv' }>) => this._onExport(e.detail.format)}></sbn-log>
        <sbn-saved-runs .runs=${s.savedRuns} @sbn-export-saved=${(e: CustomEvent<{ runId: string; format: 'json' | 'csv' }>) => this._onExportSaved(e.detail.runId, e.detail.format)}></sbn-saved-runs>
      </section>
    </main>`;
  }

  private _onCommand(command: 'start' | 'pause' | 'reset'): void {
    if (command === 'start') this.controller?.start();
    else if (command === 'pause') this.controller?.pause();
    else this.controller?.reset();
  }

  private _onExport(format: 'json' | 'csv'): void {
    const file = this.controller?.exportRun(format);
    if (file) downloadText(file.filename, file.mime, file.text);
  }

  private async _onExportSaved(runId: string, format: 'json' | 'csv'): Promise<void> {
    const file = await this.controller?.exportSaved(runId, format);
    if (file) downloadText(file.filename, file.mime, file.text);
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-app': SbnApp;
  }
}
