import { LitElement, css, html } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { toCanvas } from 'qrcode';
import { base } from './theme.ts';

/** QR size in CSS pixels: large enough for a phone camera at arm's length. */
export const QR_SIZE_PX = 176;
/** How long the "Copied" confirmation stays, in ms. */
const COPIED_MS = 2_000;

/**
 * The room's link to share: the link as selectable text, a copy button, and a QR code of the same link
 * for phones.
 *
 * @fires sbn-copied - detail `{ link: string }`: the link was copied to the clipboard.
 */
@customElement('sbn-room-link')
export class SbnRoomLink extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: flex;
        flex-wrap: wrap;
        gap: 1em;
        align-items: center;
      }
      .text {
        flex: 1 1 16em;
        min-width: 0;
      }
      label {
        display: block;
        margin-bottom: 0.3em;
      }
      .row {
        display: flex;
        gap: 0.5em;
      }
      input {
        flex: 1;
        min-width: 0;
        font: 13px ui-monospace, Menlo, Consolas, monospace;
        color: var(--sbn-text);
        background: #0b0e13;
        border: 1px solid var(--sbn-border);
        border-radius: 6px;
        padding: 0.5em;
      }
      canvas {
        background: #fff;
        border-radius: 6px;
        display: block;
      }
      .status {
        min-height: 1.3em;
        font-size: 0.85em;
        margin-top: 0.3em;
      }
    `,
  ];

  /** The full room link (`…/?room=<id>`). */
  @property() link = '';

  @query('canvas') private _canvas!: HTMLCanvasElement;
  @query('input') private _input!: HTMLInputElement;
  @state() private _status = '';
  private _statusTimer: ReturnType<typeof setTimeout> | undefined;

  override render() {
    return html`<div class="text">
        <label for="room-link">Room link: open it on every device or tab that should train together</label>
        <div class="row">
          <input id="room-link" readonly .value=${this.link} @focus=${(e: FocusEvent) => (e.target as HTMLInputElement).select()} />
          <button class="primary" @click=${this._onCopy} ?disabled=${!this.link}>Copy link</button>
        </div>
        <div class="status muted" role="status" aria-live="polite">${this._status}</div>
      </div>
      <canvas role="img" aria-label="QR code of the room link, for phones" width=${QR_SIZE_PX} height=${QR_SIZE_PX}></canvas>`;
  }

  protected override updated(changed: Map<string, unknown>): void {
    if (changed.has('link') && this.link) {
      toCanvas(this._canvas, this.link, { width: QR_SIZE_PX, margin: 2, errorCorrectionLevel: 'M' }).catch((err: unknown) => {
        this._status = `Could not draw the QR code: ${(err as Error).message}`;
      });
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this._statusTimer);
  }

  private async _onCopy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.link);
      this._status = 'Copied.';
      this.dispatchEvent(new CustomEvent('sbn-copied', { detail: { link: this.link }, bubbles: true, composed: true }));
    } catch {
      // Clipboard access needs a secure context or permission: leave the text selected to copy by hand.
      this._input.focus();
      this._input.select();
      this._status = 'Press Ctrl+C (⌘C) to copy the selected link.';
    }
    clearTimeout(this._statusTimer);
    this._statusTimer = setTimeout(() => (this._status = ''), COPIED_MS);
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-room-link': SbnRoomLink;
  }
}
