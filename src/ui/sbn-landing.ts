import { LitElement, css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { base } from './theme.ts';

/**
 * The first screen: create a room, join one by pasting its link, or train alone in this tab.
 *
 * @fires sbn-create-room - the person wants a new room.
 * @fires sbn-join-room - detail `{ link: string }`: the pasted link (validated by the controller).
 * @fires sbn-train-solo - the person wants to train in this tab only.
 */
@customElement('sbn-landing')
export class SbnLanding extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
        max-width: 40em;
        margin: 0 auto;
      }
      section {
        background: var(--sbn-panel);
        border: 1px solid var(--sbn-border);
        border-radius: var(--sbn-radius);
        padding: 1.2em;
        margin-bottom: 1em;
      }
      p {
        margin: 0 0 0.8em;
        line-height: 1.5;
      }
      form {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5em;
      }
      label {
        flex-basis: 100%;
      }
      input {
        flex: 1 1 14em;
        font: inherit;
        color: var(--sbn-text);
        background: #0b0e13;
        border: 1px solid var(--sbn-border);
        border-radius: 6px;
        padding: 0.5em;
        min-height: 2.5em;
      }
    `,
  ];

  /** Disables the actions while a room is being created or joined. */
  @property({ type: Boolean }) busy = false;
  @state() private _link = '';

  override render() {
    return html`<section>
        <h2>Train together</h2>
        <p>
          Every tab is one worker. Create a room, open its link on other tabs, phones or computers, and watch
          BatchNorm statistics being shuffled between them at every step.
        </p>
        <button class="primary" ?disabled=${this.busy} @click=${() => this._fire('sbn-create-room')}>Create a room</button>
      </section>
      <section>
        <form @submit=${this._onJoin}>
          <label for="join-link">Join a room: paste its link</label>
          <input id="join-link" name="link" autocomplete="off" placeholder="https://…/?room=…" .value=${this._link} @input=${(e: InputEvent) => (this._link = (e.target as HTMLInputElement).value)} />
          <button type="submit" ?disabled=${this.busy || this._link.trim() === ''}>Join</button>
        </form>
      </section>
      <section>
        <p class="muted">No other device at hand? Train with several virtual workers in this tab alone.</p>
        <button ?disabled=${this.busy} @click=${() => this._fire('sbn-train-solo')}>Train in this tab only</button>
      </section>`;
  }

  private _onJoin(e: SubmitEvent): void {
    e.preventDefault();
    this._fire('sbn-join-room', { link: this._link });
  }

  private _fire(type: string, detail?: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-landing': SbnLanding;
  }
}
