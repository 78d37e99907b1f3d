import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { PeerInfo } from '../app/ports.ts';
import type { RoomPace } from '../train/session.ts';
import { base } from './theme.ts';

const BACKEND_TEXT: Record<string, string> = {
  webgpu: 'WebGPU',
  'webgpu-fallback': 'WebGPU (software)',
  cpu: 'CPU',
};

const LINK_TEXT: Record<PeerInfo['link'], string> = {
  self: 'this tab',
  connecting: 'connecting…',
  connected: 'connected',
  lost: 'lost',
};

/**
 * The room's peers in rank order: rank, device/adapter, backend, virtual workers, each tab's compute
 * time of the newest step, round-trip time and link state. Purely presentational. Below ~38em of
 * width (a phone, or a narrow panel) each peer becomes a small card instead of a table row, so nothing
 * is cut off or scrolled sideways. The peer the room waits for (the session's pace report) is marked
 * with its step time, and while training its row offers to drop it from the run ('sbn-drop-peer').
 */
@customElement('sbn-peers')
export class SbnPeers extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
        container-type: inline-size;
      }
      table {
        border-collapse: collapse;
        width: 100%;
        font-size: 0.9em;
      }
      th,
      td {
        text-align: left;
        padding: 0.35em 0.4em;
        border-bottom: 1px solid var(--sbn-border);
        white-space: nowrap;
      }
      td.device {
        white-space: normal;
        overflow-wrap: break-word;
        min-width: 7em;
        width: 100%;
      }
      td.backend {
        white-space: normal;
      }
      td.num,
      th.num {
        text-align: right;
        font-variant-numeric: tabular-nums;
      }
      tr.self {
        background: #1b2434;
      }
      .waits-for {
        display: block;
        color: var(--sbn-warn);
        font-size: 0.9em;
      }
      td.device button {
        margin-top: 0.25em;
      }
      .connected {
        color: var(--sbn-ok);
      }
      .lost {
        color: var(--sbn-error);
      }
      .connecting {
        color: var(--sbn-warn);
      }
      @container (max-width: 38em) {
        table,
        tbody,
        tr,
        td {
          display: block;
        }
        thead {
          display: none;
        }
        tr {
          display: grid;
          grid-template-columns: repeat(auto-fill, minmax(8.5em, 1fr));
          gap: 0.1em 0.8em;
          padding: 0.4em 0.5em;
          border-bottom: 1px solid var(--sbn-border);
        }
        td {
          border: 0;
          padding: 0.1em 0;
          white-space: normal;
          text-align: left !important;
        }
        td.device {
          grid-column: 1 / -1;
        }
        td[data-label]::before {
          content: attr(data-label) ': ';
          color: var(--sbn-muted);
        }
      }
    `,
  ];

  /** Peers to list (sorted by rank by the controller). */
  @property({ attribute: false }) peers: readonly PeerInfo[] = [];
  /** Every tab's compute time of the newest step, ms, by group rank (StepLog.tabComputeMs). */
  @property({ attribute: false }) stepMs: readonly number[] = [];
  /** Who the room waits for, as the session reported it (null: no report). */
  @property({ attribute: false }) pace: RoomPace | null = null;
  /** The room is training: other peers' rows offer "Drop from run". */
  @property({ type: Boolean }) canDrop = false;

  override render() {
    return html`<h2 id="peers-title">Peers (${this.peers.length})</h2>
      <table aria-labelledby="peers-title">
        <thead>
          <tr>
            <th scope="col" class="num">Rank</th>
            <th scope="col">Device</th>
            <th scope="col">Backend</th>
            <th scope="col" class="num" title="Virtual workers in the tab">Workers</th>
            <th scope="col" class="num" title="The tab's compute time of the newest step">Step</th>
            <th scope="col" class="num" title="Round-trip time of the data channel">RTT</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          ${this.peers.length === 0
            ? html`<tr><td colspan="7" class="muted">No peers yet.</td></tr>`
            : this.peers.map((p) => {
                const stepMs = this.stepMs[p.groupRank ?? p.rank];
                const slowest = this.pace?.slowest?.peerId === p.id ? this.pace.slowest : null;
                return html`<tr class=${p.link === 'self' ? 'self' : ''} data-peer=${p.id}>
                  <td class="num" data-label="Rank">${p.rank}</td>
                  <td class="device">
                    ${p.meta.name ?? p.meta.device ?? '—'}
                    ${slowest ? html`<span class="waits-for" data-waits-for>everyone waits for this tab: ${formatStepTime(slowest.stepMs)} per step</span>` : ''}
                    ${slowest && this.canDrop && p.link !== 'self'
                      ? html`<button data-drop=${p.id} title="Stop waiting for this tab: the others continue without it" @click=${() => this._drop(p.id)}>Drop from run</button>`
                      : ''}
                  </td>
                  <td class="backend" data-label="Backend">${p.meta.backend ? BACKEND_TEXT[p.meta.backend] : '—'}</td>
                  <td class="num" data-label="Workers">${p.meta.virtualWorkers ?? '—'}</td>
                  <td class="num" data-label="Step" data-step-ms=${stepMs ?? ''}>${stepMs === undefined ? '—' : `${stepMs.toFixed(0)} ms`}</td>
                  <td class="num" data-label="RTT">${p.rttMs == null ? '—' : `${p.rttMs.toFixed(1)} ms`}</td>
                  <td class=${p.link} data-label="State">${LINK_TEXT[p.link]}</td>
                </tr>`;
              })}
        </tbody>
      </table>`;
  }

  private _drop(peerId: string): void {
    this.dispatchEvent(new CustomEvent('sbn-drop-peer', { detail: { peerId }, bubbles: true, composed: true }));
  }
}

/** A step time as the person reads it: "850 ms", "3.4 s". */
export function formatStepTime(ms: number): string {
  return ms < 1_000 ? `${ms.toFixed(0)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-peers': SbnPeers;
  }
}
