import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { BnMode } from '../train/types.ts';
import { base } from './theme.ts';

export const MOCO_PAPER_URL = 'https://arxiv.org/abs/1911.05722';

/** What each curve should do in each mode (the figures in README's leak experiment back these words). */
const EXPECTED: Record<BnMode, { name: string; text: string }> = {
  local: {
    name: 'local',
    text: 'pretext accuracy shoots up (past 90% within a few hundred steps) while kNN accuracy stalls: the model found the shortcut, not the shapes.',
  },
  shuffle: {
    name: 'shuffle',
    text: 'each key is normalised with another worker’s statistics, so the fingerprint points nowhere: pretext accuracy stays low (the task stays hard) and kNN accuracy keeps improving.',
  },
  sync: {
    name: 'sync',
    text: 'statistics of all workers together: the fingerprint is shared by every key of the step, a weaker shortcut; pretext accuracy still climbs high, kNN improves.',
  },
  samples: {
    name: 'samples',
    text: 'official MoCo: key samples are dealt out across workers before encoding; pretext accuracy rises part of the way and kNN improves like shuffle.',
  },
};

/**
 * A few sentences beside the curves: why BatchNorm leaks in MoCo, and what each curve should do in
 * each mode, the room's current mode first. Static text; `mode` only chooses the emphasis.
 */
@customElement('sbn-explain')
export class SbnExplain extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
        font-size: 0.9em;
        line-height: 1.5;
      }
      p {
        margin: 0 0 0.6em;
      }
      ul {
        margin: 0 0 0.6em;
        padding-left: 1.2em;
      }
      li {
        margin-bottom: 0.3em;
      }
      li.current {
        color: var(--sbn-text);
      }
      li:not(.current) {
        color: var(--sbn-muted);
      }
      a {
        color: var(--sbn-accent);
      }
    `,
  ];

  /** The room's BatchNorm mode: its line comes first and is highlighted. */
  @property() mode: BnMode = 'shuffle';

  override render() {
    const order = [this.mode, ...(Object.keys(EXPECTED) as BnMode[]).filter((m) => m !== this.mode)];
    return html`<h2>What to look for</h2>
      <p>
        MoCo teaches the query encoder to pick its <em>positive key</em>, another view of the same image, out of a queue of
        keys from earlier steps. With ordinary BatchNorm every key is normalised with its own batch’s mean and variance, so
        the positive carries the fingerprint of the query’s batch and the queued negatives do not: the model can find the
        positive by the fingerprint instead of by what the image shows. It cheats, and its features stay poor.
      </p>
      <ul>
        ${order.map((m) => html`<li class=${m === this.mode ? 'current' : ''} data-mode=${m}><strong>${EXPECTED[m].name}</strong>: ${EXPECTED[m].text}</li>`)}
      </ul>
      <p class="muted">
        The loss falls in every mode; a low loss with a stalled kNN accuracy is the leak. See
        <a href=${MOCO_PAPER_URL} target="_blank" rel="noopener">MoCo, §3.3 “Shuffling BN”</a>.
      </p>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-explain': SbnExplain;
  }
}
