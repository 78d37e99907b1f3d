import { LitElement, css, html, nothing, svg } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { ShuffleFrame } from '../app/store.ts';
import { checkBnTrace } from '../nn/batchnorm/check-trace.ts';
import type { BnLayerTrace } from '../train/types.ts';
import { base } from './theme.ts';
import {
  CELL_H,
  CELL_W,
  DEFAULT_CHANNELS,
  HEAD_H,
  MAX_CHANNELS,
  MAX_WORKERS_DRAWN,
  arrowPath,
  colourScale,
  heatColour,
  layout,
  rowY,
  workerColour,
  type Layout,
} from './shuffle-geometry.ts';

/**
 * The shuffle, live: for every BatchNorm layer of the key encoder, each worker's channel means before
 * the shuffle (its own batch) and after (the statistics it normalised with, as read back from what the
 * layer consumed), as heat strips of the first channels, with an arrow from source to receiver for
 * this step's permutation. Each layer's caption says whether the measured values check out
 * (checkBnTrace: the output means agree with the statistics used, and those are the promised ones).
 * Re-renders only when handed a new frame (the controller hands at most ~10 per second).
 * In compare mode a switch picks which of the two models is drawn; the choice holds across frames.
 */
@customElement('sbn-shuffle-view')
export class SbnShuffleView extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      .layers {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(min(100%, 24em), 1fr));
        gap: 1em;
      }
      figure {
        margin: 0;
      }
      figcaption {
        font-size: 0.85em;
        margin-bottom: 0.3em;
      }
      svg {
        width: 100%;
        height: auto;
        display: block;
      }
      text {
        fill: var(--sbn-muted);
        font: 10px system-ui, sans-serif;
      }
      .check[data-ok='true'] {
        color: var(--sbn-ok);
      }
      .check[data-ok='false'] {
        color: var(--sbn-error);
      }
      .models {
        display: flex;
        gap: 0.4em;
        margin: 0 0 0.4em;
      }
      .models button[aria-pressed='true'] {
        border-color: var(--sbn-accent);
        font-weight: 600;
      }
      .pairs {
        font: 12px ui-monospace, Menlo, Consolas, monospace;
        margin: 0.3em 0 0;
        word-spacing: 0.3em;
      }
    `,
  ];

  /** The newest traced step, or null before the first. */
  @property({ attribute: false }) frame: ShuffleFrame | null = null;
  /** Channels drawn per worker (1…32). */
  @property({ type: Number }) channels = DEFAULT_CHANNELS;
  /** Compare mode: which model is drawn (0 = the run's mode, 1 = the second model). */
  @state() private _model: 0 | 1 = 0;

  override render() {
    const both = this.frame;
    const f = this._model === 1 && both?.compare ? both.compare : both;
    if (!f || f.layers.length === 0) {
      return html`<h2>Shuffle</h2>
        <p class="muted">No statistics yet. Start a run: each step shows whose BatchNorm statistics every worker used.</p>`;
    }
    const workers = Math.min(f.sourceOf.length, MAX_WORKERS_DRAWN);
    const pairs = f.sourceOf.slice(0, workers).map((s, w) => `w${w}←w${s}`).join(' ');
    return html`<h2>Shuffle at step ${f.step + 1}</h2>
      ${both?.compare ? this._modelSwitch(both) : nothing}
      <p class="pairs" aria-label="Who received whose statistics">${pairs}</p>
      ${f.sourceOf.length > workers ? html`<p class="muted">Showing the first ${workers} of ${f.sourceOf.length} workers.</p>` : nothing}
      <div class="layers">${f.layers.map((l) => this._layer(l, f.sourceOf, workers))}</div>`;
  }

  private _modelSwitch(frame: ShuffleFrame) {
    const models = [frame, frame.compare!];
    return html`<div class="models" role="group" aria-label="Model shown">
      ${models.map(
        (m, i) => html`<button data-model=${i} aria-pressed=${String(this._model === i)} @click=${() => (this._model = i as 0 | 1)}>
          ${i === 0 ? 'Model 1' : 'Model 2'}: ${m.mode ?? ''} BN</button>`,
      )}
    </div>`;
  }

  private _layer(trace: BnLayerTrace, sourceOf: readonly number[], workers: number) {
    const channels = Math.max(1, Math.min(MAX_CHANNELS, this.channels, trace.meanBefore[0]?.length ?? 0));
    const l = layout(workers, channels);
    const before = trace.meanBefore.slice(0, workers);
    const after = trace.meanAfter.slice(0, workers);
    const scale = colourScale([...before, ...after], channels);
    const label = `BatchNorm layer ${trace.layer}: channel means of ${workers} workers before and after the shuffle, first ${channels} channels, colour scale ±${scale.toPrecision(3)}`;
    const check = checkBnTrace(trace);
    const verdict = check.ok ? '✓ measured, checks out' : `✗ ${check.problems[0] ?? 'does not check out'}`;
    return html`<figure data-layer=${trace.layer}>
      <figcaption>BN layer ${trace.layer} <span class="muted">· first ${channels} channels · scale ±${scale.toPrecision(3)}</span>
        <span class="check" data-ok=${String(check.ok)} title="output means agree with the statistics used, and those are the ones the mode promises">${verdict}</span></figcaption>
      <svg viewBox="0 0 ${l.width} ${l.height}" role="img" aria-label=${label}>
        <defs>
          <marker id="head-${trace.layer}" viewBox="0 0 6 6" refX="5" refY="3" markerWidth="6" markerHeight="6" orient="auto">
            <path d="M0,0 L6,3 L0,6 z" fill="#c9d1d9"></path>
          </marker>
        </defs>
        <text x=${l.beforeX} y=${HEAD_H - 6}>before (own batch)</text>
        <text x=${l.afterX} y=${HEAD_H - 6}>after (used)</text>
        ${this._strips(l, 'before', before, scale)} ${this._strips(l, 'after', after, scale, trace.meanOut)}
        ${sourceOf.slice(0, workers).map((source, receiver) =>
          source < workers
            ? svg`<path class="arrow" data-from=${source} data-to=${receiver} d=${arrowPath(l, source, receiver)} fill="none"
                stroke=${workerColour(source)} stroke-width="1.5" marker-end="url(#head-${trace.layer})"><title>worker ${receiver} used worker ${source}'s statistics</title></path>`
            : nothing,
        )}
      </svg>
    </figure>`;
  }

  /** `out`: for the after side, each worker's normalised-output means (shown in the tooltips). */
  private _strips(l: Layout, side: 'before' | 'after', rows: readonly (readonly number[])[], scale: number, out?: readonly (readonly number[])[]) {
    const x0 = side === 'before' ? l.beforeX : l.afterX;
    const labelX = side === 'before' ? 2 : l.afterX + l.stripW + 4;
    return rows.map(
      (row, w) => svg`<g class="strip" data-side=${side} data-worker=${w}>
        <text x=${labelX} y=${rowY(w) + CELL_H - 2}>w${w}</text>
        ${row.slice(0, l.channels).map(
          (v, c) => svg`<rect data-channel=${c} data-value=${v} x=${x0 + c * CELL_W} y=${rowY(w)} width=${CELL_W - 1} height=${CELL_H} fill=${heatColour(v, scale)}><title>w${w} ch${c} ${side === 'after' ? 'used (measured)' : 'own'}: ${v.toFixed(4)}${out?.[w]?.[c] !== undefined ? `, normalised output mean ${out[w][c].toFixed(4)}` : ''}</title></rect>`,
        )}
      </g>`,
    );
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-shuffle-view': SbnShuffleView;
  }
}
