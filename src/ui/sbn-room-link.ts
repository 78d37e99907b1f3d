import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { toCanvas } from 'qrcode';
import { isLoopbackHost, linksForOtherDevices, reachNote, type ReachNote } from '../app/links.ts';
import { CERTIFICATE_STEPS, HTTPS_COMMAND, type ServerOrigins } from '../signaling/origins.ts';
import { base } from './theme.ts';

/** QR size in CSS pixels: large enough for a phone camera at arm's length. */
export const QR_SIZE_PX = 176;
/** How long the "Copied" confirmation stays, in ms. */
const COPIED_MS = 2_000;

/**
 * The room's link to share. For this machine's tabs: the page's own link. For other devices: the same
 * link on an address they can reach (the server lists its network origins; with several interfaces a
 * choice), as text and as a QR code, with what the other device will meet there: the CPU backend over
 * plain http (and the command that fixes it), or a certificate warning and what to tap.
 * When both links are the same (the page was opened on a network address), one link is shown.
 *
 * @fires sbn-copied - detail `{ link: string }`: a link was copied to the clipboard.
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
        margin-bottom: 0.6em;
      }
      input,
      select {
        flex: 1;
        min-width: 0;
        font: 13px ui-monospace, Menlo, Consolas, monospace;
        color: var(--sbn-text);
        background: #0b0e13;
        border: 1px solid var(--sbn-border);
        border-radius: 6px;
        padding: 0.5em;
      }
      select {
        flex: 0 1 auto;
      }
      canvas {
        background: #fff;
        border-radius: 6px;
        display: block;
      }
      .note {
        font-size: 0.9em;
        margin: 0.2em 0 0.4em;
        border-left: 3px solid var(--sbn-warn);
        padding-left: 0.6em;
      }
      .note ul {
        margin: 0.3em 0 0;
        padding-left: 1.2em;
      }
      code {
        font: 13px ui-monospace, Menlo, Consolas, monospace;
        background: #0b0e13;
        padding: 0.1em 0.35em;
        border-radius: 4px;
        user-select: all;
        white-space: nowrap;
      }
      .status {
        min-height: 1.3em;
        font-size: 0.85em;
      }
    `,
  ];

  /** The room link of this page (`…/?room=<id>`, with any other parameters it carries). */
  @property() link = '';
  /** Where other devices reach the server (`GET /api/origins`); null when the server did not say. */
  @property({ attribute: false }) origins: ServerOrigins | null = null;

  @query('canvas') private _canvas!: HTMLCanvasElement;
  @state() private _status = '';
  /** Index of the chosen network address among the links for other devices. */
  @state() private _choice = 0;
  private _drawn = '';
  private _statusTimer: ReturnType<typeof setTimeout> | undefined;

  protected override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('origins') || changed.has('link')) {
      // Prefer the address this page was opened on (it is known to work from here), else the first.
      const own = this.link ? new URL(this.link).origin : '';
      const at = this.link ? linksForOtherDevices(this.link, this.origins).findIndex((c) => new URL(c.link).origin === own) : -1;
      this._choice = at >= 0 ? at : 0;
    }
  }

  /** The link other devices should open, or null when there is none they can reach. */
  get deviceLink(): string | null {
    if (!this.link) return null;
    const links = linksForOtherDevices(this.link, this.origins);
    return links[Math.min(this._choice, links.length - 1)]?.link ?? null;
  }

  override render() {
    const choices = this.link ? linksForOtherDevices(this.link, this.origins) : [];
    const deviceLink = this.deviceLink;
    const separate = deviceLink !== null && deviceLink !== this.link;
    const note = this.link ? reachNote(deviceLink, this.origins) : null;
    return html`<div class="text">
        ${separate
          ? html`${this._linkRow('room-link', this._onLoopback() ? 'This machine: open it in more tabs here' : 'This page: open it in more tabs here', this.link)}
            ${choices.length > 1
              ? html`<label for="device-origin">Network address (the one on the other device's network)</label>
                  <div class="row">
                    <select id="device-origin" @change=${this._onChoose}>
                      ${choices.map((c, i) => html`<option value=${i} ?selected=${i === this._choice}>${c.label}</option>`)}
                    </select>
                  </div>`
              : nothing}
            ${this._linkRow('device-link', 'Other devices (phones, laptops on this network): scan the QR code or open this link', deviceLink)}`
          : this._linkRow('room-link', 'Room link: open it on every device or tab that should train together', this.link)}
        ${note ? this._note(note, deviceLink) : nothing}
        <div class="status muted" role="status" aria-live="polite">${this._status}</div>
      </div>
      <canvas role="img" aria-label=${separate ? 'QR code of the link for other devices' : 'QR code of the room link, for phones'} width=${QR_SIZE_PX} height=${QR_SIZE_PX}></canvas>`;
  }

  private _onLoopback(): boolean {
    return isLoopbackHost(new URL(this.link).hostname);
  }

  private _linkRow(id: string, label: string, link: string) {
    return html`<label for=${id}>${label}</label>
      <div class="row">
        <input id=${id} readonly .value=${link} @focus=${(e: FocusEvent) => (e.target as HTMLInputElement).select()} />
        <button class="primary" data-copy=${id} @click=${() => this._onCopy(link, id)} ?disabled=${!link}>Copy link</button>
      </div>`;
  }

  private _note(note: ReachNote, deviceLink: string | null) {
    switch (note) {
      case 'cpu':
        return html`<p class="note" data-note="cpu">
          Other devices will train on the <strong>CPU backend</strong>, not their GPU: this server runs without TLS, and browsers
          offer WebGPU only on https pages (or localhost). For WebGPU on other devices, restart the server with
          <code>${HTTPS_COMMAND}</code> and share the new link.
        </p>`;
      case 'certificate': {
        const host = deviceLink ? new URL(deviceLink).hostname : 'the address';
        return html`<div class="note" data-note="certificate">
          The server's certificate is self-signed, so another device first shows a warning ("Your connection is not private",
          "This Connection Is Not Private"). Once per device, tap through it to ${host}:
          <ul>
            ${CERTIFICATE_STEPS.map((c) => html`<li>${c.browser}: <strong>${c.steps}</strong></li>`)}
          </ul>
        </div>`;
      }
      case 'local-only':
        return html`<p class="note" data-note="local-only">
          Other devices cannot reach this server: it listens on this machine only (or has no network address). Restart it with
          <code>npm start</code>, which listens on every network interface, to share the room.
        </p>`;
      case 'unknown':
        return html`<p class="note" data-note="unknown">
          This link opens on this machine only, and the server did not list its network addresses. On another device, use this
          machine's address instead of localhost (<code>npm start</code> prints the links).
        </p>`;
    }
  }

  protected override updated(): void {
    // The QR code is for phones: the link for other devices when there is one, else the page's own.
    const target = this.deviceLink ?? this.link;
    if (target && target !== this._drawn) {
      this._drawn = target;
      toCanvas(this._canvas, target, { width: QR_SIZE_PX, margin: 2, errorCorrectionLevel: 'M' }).catch((err: unknown) => {
        this._status = `Could not draw the QR code: ${(err as Error).message}`;
      });
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this._statusTimer);
  }

  private _onChoose(e: Event): void {
    this._choice = Number((e.target as HTMLSelectElement).value);
  }

  private async _onCopy(link: string, inputId: string): Promise<void> {
    try {
      await navigator.clipboard.writeText(link);
      this._status = 'Copied.';
      this.dispatchEvent(new CustomEvent('sbn-copied', { detail: { link }, bubbles: true, composed: true }));
    } catch {
      // Clipboard access needs a secure context or permission: leave the text selected to copy by hand.
      const input = this.renderRoot.querySelector<HTMLInputElement>(`#${inputId}`);
      input?.focus();
      input?.select();
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
