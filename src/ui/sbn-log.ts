import { LitElement, css, html } from 'lit';
import { customElement, property, query } from 'lit/decorators.js';
import { base } from './theme.ts';

/**
 * The run's text log in the seed's format (`[r]mean before shuffle: [...]`, `[r]mean after shuffle:
 * [...]`, `[step/steps] Loss x`), newest last, plus export of the run as JSON or CSV. Keeps itself
 * scrolled to the end unless the person has scrolled up to read.
 *
 * @fires sbn-export - detail `{ format: 'json' | 'csv' }`: the person asked for a download.
 */
@customElement('sbn-log')
export class SbnLog extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      header {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5em;
        align-items: center;
        justify-content: space-between;
        margin-bottom: 0.5em;
      }
      h2 {
        margin: 0;
      }
      pre {
        margin: 0;
        height: 16em;
        overflow: auto;
        background: #0b0e13;
        border: 1px solid var(--sbn-border);
        border-radius: 6px;
        padding: 0.5em;
        font: 12px/1.45 ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace;
        white-space: pre;
      }
    `,
  ];

  /** Log lines, newest last (the store bounds their number). */
  @property({ attribute: false }) lines: readonly string[] = [];
  /** Whether there is a run to export. */
  @property({ type: Boolean, attribute: 'can-export' }) canExport = false;

  @query('pre') private _pre!: HTMLPreElement;
  private _stickToEnd = true;

  override render() {
    return html`<header>
        <h2 id="log-title">Log</h2>
        <div>
          <button ?disabled=${!this.canExport} @click=${() => this._onExport('json')}>Export JSON</button>
          <button ?disabled=${!this.canExport} @click=${() => this._onExport('csv')}>Export CSV</button>
        </div>
      </header>
      <pre role="log" aria-labelledby="log-title" tabindex="0" @scroll=${this._onScroll}>${this.lines.length ? this.lines.join('\n') : 'No steps yet: press Start.'}</pre>`;
  }

  protected override updated(): void {
    if (this._stickToEnd && this._pre) this._pre.scrollTop = this._pre.scrollHeight;
  }

  private _onScroll(): void {
    const pre = this._pre;
    // Within a line of the end counts as "at the end".
    this._stickToEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 20;
  }

  private _onExport(format: 'json' | 'csv'): void {
    this.dispatchEvent(new CustomEvent('sbn-export', { detail: { format }, bubbles: true, composed: true }));
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-log': SbnLog;
  }
}
