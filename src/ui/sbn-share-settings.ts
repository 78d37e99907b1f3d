import { LitElement, css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { base } from './theme.ts';

/** How long the "Copied" confirmation stays, in ms. */
const COPIED_MS = 2_000;

/**
 * "Copy share link with these settings": the room link plus the room's settings (a preset and the
 * fields that differ from it), so a link handed out to a class sets the room up as it is now. The
 * link is built by the app (src/app/link-settings.ts); this element shows and copies it.
 *
 * @fires sbn-copied - detail `{ link: string }`: the link was copied to the clipboard.
 */
@customElement('sbn-share-settings')
export class SbnShareSettings extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      details > summary {
        cursor: pointer;
        font-size: 0.9em;
      }
      .row {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5em;
        margin-top: 0.5em;
      }
      code {
        flex: 1 1 16em;
        min-width: 0;
        overflow-wrap: anywhere;
        font: 12px/1.5 ui-monospace, Menlo, Consolas, monospace;
        background: #0b0e13;
        border: 1px solid var(--sbn-border);
        border-radius: 6px;
        padding: 0.4em 0.5em;
      }
      p {
        margin: 0.4em 0 0;
        font-size: 0.85em;
      }
    `,
  ];

  /** The link with the room's settings. */
  @property() link = '';
  /** True when the link opens a new room (no room yet: training in this tab only). */
  @property({ type: Boolean, attribute: 'new-room' }) newRoom = false;
  @state() private _status = '';
  private _timer: ReturnType<typeof setTimeout> | undefined;

  override render() {
    return html`<div class="row">
        <button @click=${this._onCopy} ?disabled=${!this.link}>Copy share link with these settings</button>
        <code data-link>${this.link}</code>
      </div>
      <p class="muted" role="status" aria-live="polite">
        ${this._status ||
        (this.newRoom
          ? 'Opens a new room with these settings.'
          : 'Joins this room; if the room no longer exists, opens a new room with these settings. Change a setting and the link follows.')}
      </p>`;
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this._timer);
  }

  private async _onCopy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.link);
      this._status = 'Copied.';
      this.dispatchEvent(new CustomEvent('sbn-copied', { detail: { link: this.link }, bubbles: true, composed: true }));
    } catch {
      // Clipboard access needs a secure context or permission: select the text to copy by hand.
      const range = document.createRange();
      range.selectNodeContents(this.renderRoot.querySelector('code')!);
      const selection = getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
      this._status = 'Press Ctrl+C (⌘C) to copy the selected link.';
    }
    clearTimeout(this._timer);
    this._timer = setTimeout(() => (this._status = ''), COPIED_MS);
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-share-settings': SbnShareSettings;
  }
}
