import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { PeerInfo } from '../app/ports.ts';
import { base } from './theme.ts';

const BACKEND_TEXT: Record<string, string> = {
  webgpu: 'WebGPU',
  'webgpu-fallback': 'WebGPU (software adapter)',
  cpu: 'CPU',
};

const LINK_TEXT: Record<PeerInfo['link'], string> = {
  self: 'this tab',
  connecting: 'connecting…',
  connected: 'connected',
  lost: 'lost',
};

/**
 * The room's peers in rank order: rank, device/adapter, backend, virtual workers, round-trip time and
 * link state. Purely presentational.
 */
@customElement('sbn-peers')
export class SbnPeers extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
        overflow-x: auto;
      }
      table {
        border-collapse: collapse;
        width: 100%;
        font-size: 0.9em;
      }
      th,
      td {
        text-align: left;
        padding: 0.35em 0.6em;
        border-bottom: 1px solid var(--sbn-border);
        white-space: nowrap;
      }
      td.device {
        white-space: normal;
        min-width: 10em;
      }
      td.num {
        text-align: right;
        font-variant-numeric: tabular-nums;
      }
      tr.self {
        background: #1b2434;
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
    `,
  ];

  /** Peers to list (sorted by rank by the controller). */
  @property({ attribute: false }) peers: readonly PeerInfo[] = [];

  override render() {
    return html`<h2 id="peers-title">Peers (${this.peers.length})</h2>
      <table aria-labelledby="peers-title">
        <thead>
          <tr>
            <th scope="col">Rank</th>
            <th scope="col">Device</th>
            <th scope="col">Backend</th>
            <th scope="col">Workers</th>
            <th scope="col">RTT</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          ${this.peers.length === 0
            ? html`<tr><td colspan="6" class="muted">No peers yet.</td></tr>`
            : this.peers.map(
                (p) => html`<tr class=${p.link === 'self' ? 'self' : ''} data-peer=${p.id}>
                  <td class="num">${p.rank}</td>
                  <td class="device">${p.meta.name ?? p.meta.device ?? '—'}</td>
                  <td>${p.meta.backend ? BACKEND_TEXT[p.meta.backend] : '—'}</td>
                  <td class="num">${p.meta.virtualWorkers ?? '—'}</td>
                  <td class="num">${p.rttMs == null ? '—' : `${p.rttMs.toFixed(1)} ms`}</td>
                  <td class=${p.link}>${LINK_TEXT[p.link]}</td>
                </tr>`,
              )}
        </tbody>
      </table>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-peers': SbnPeers;
  }
}
