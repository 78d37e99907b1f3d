import { LitElement, css, html, nothing } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { Notice } from '../app/errors.ts';
import { base } from './theme.ts';

/**
 * The one error surface: everything a person must know (no WebGPU, software GPU, room full, bad link,
 * peer lost, signaling reconnecting, GPU device lost, a peer's malformed frame), newest first, each
 * with what to do next and the technical message folded away.
 *
 * @fires sbn-dismiss - detail `{ key: string }`: the person closed a notice.
 */
@customElement('sbn-errors')
export class SbnErrors extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
        display: grid;
        gap: 0.5em;
      }
      li {
        display: grid;
        grid-template-columns: 1fr auto;
        gap: 0.3em 0.8em;
        padding: 0.6em 0.8em;
        border-radius: var(--sbn-radius);
        border: 1px solid var(--sbn-border);
        border-left: 4px solid var(--sbn-accent);
        background: var(--sbn-panel);
      }
      li.warning {
        border-left-color: var(--sbn-warn);
      }
      li.error {
        border-left-color: var(--sbn-error);
      }
      strong {
        display: block;
      }
      li > button {
        align-self: start;
      }
      p {
        margin: 0.2em 0 0;
      }
      details {
        grid-column: 1 / -1;
        font-size: 0.85em;
      }
      code {
        word-break: break-all;
      }
    `,
  ];

  /** Notices to show (oldest first, as the store keeps them; shown newest first). */
  @property({ attribute: false }) notices: readonly Notice[] = [];

  override render() {
    if (this.notices.length === 0) return nothing;
    const items = [...this.notices].reverse();
    return html`<ul aria-label="Messages">
      ${items.map(
        (n) => html`<li class=${n.level} role=${n.level === 'error' ? 'alert' : 'status'} data-code=${n.code}>
          <div>
            <strong>${n.title}</strong>
            <p>${n.detail}</p>
          </div>
          <button aria-label=${`Dismiss: ${n.title}`} @click=${() => this._onDismiss(n.key)}>✕</button>
          ${n.technical ? html`<details><summary>Technical details</summary><code>${n.code}: ${n.technical}</code></details>` : nothing}
        </li>`,
      )}
    </ul>`;
  }

  private _onDismiss(key: string): void {
    this.dispatchEvent(new CustomEvent('sbn-dismiss', { detail: { key }, bubbles: true, composed: true }));
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-errors': SbnErrors;
  }
}
