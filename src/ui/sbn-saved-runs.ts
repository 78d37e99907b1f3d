import { LitElement, css, html, nothing } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { SavedRunInfo } from '../app/run-store/store.ts';
import { seriesLabel } from '../app/series.ts';
import { base } from './theme.ts';

/**
 * Earlier runs of this room saved in this browser (src/app/run-store/), newest first, each with its
 * settings, start time and steps, offered for export as JSON or CSV. Renders nothing when there are none.
 *
 * @fires sbn-export-saved - detail `{ runId: string; format: 'json' | 'csv' }`: the person asked for a download.
 */
@customElement('sbn-saved-runs')
export class SbnSavedRuns extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      h3 {
        font-size: 0.9rem;
        font-weight: 600;
        margin: 0.8em 0 0.4em;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
        display: grid;
        gap: 0.3em;
      }
      li {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.3em 0.6em;
      }
      li > span {
        flex: 1 1 16em;
        min-width: 0;
        overflow-wrap: anywhere;
      }
      /* The two buttons of a run stay together when the line wraps. */
      li > div {
        display: flex;
        gap: 0.3em;
      }
      button {
        min-height: 2em;
        padding: 0.2em 0.7em;
      }
    `,
  ];

  /** Saved runs to offer (the store's `savedRuns`: the run on screen is not among them). */
  @property({ attribute: false }) runs: readonly SavedRunInfo[] = [];

  override render() {
    if (this.runs.length === 0) return nothing;
    return html`<h3 id="saved-title">Earlier runs in this room</h3>
      <ul aria-labelledby="saved-title">
        ${this.runs.map(
          (r) => html`<li data-run=${r.runId}>
            <span>${seriesLabel(r.header.config, r.header.worldSize)}${r.header.config.compareWith ? ` vs ${r.header.config.compareWith}` : ''} · ${startedText(r.header.startedAt)} · <span class="muted">${r.stepCount} steps saved, up to ${r.lastStep + 1}/${r.header.config.steps}</span></span>
            <div>
              <button aria-label=${`Export JSON of run ${r.runId}`} @click=${() => this._onExport(r.runId, 'json')}>JSON</button>
              <button aria-label=${`Export CSV of run ${r.runId}`} @click=${() => this._onExport(r.runId, 'csv')}>CSV</button>
            </div>
          </li>`,
        )}
      </ul>`;
  }

  private _onExport(runId: string, format: 'json' | 'csv'): void {
    this.dispatchEvent(new CustomEvent('sbn-export-saved', { detail: { runId, format }, bubbles: true, composed: true }));
  }
}

/** Local date and time of an ISO timestamp, to the minute. */
function startedText(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-saved-runs': SbnSavedRuns;
  }
}
