import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { SessionState } from '../app/ports.ts';
import { BN_MODES, MAX_BATCH_PER_WORKER, MAX_LR, MAX_SEED, MAX_STEPS, MAX_WORKERS_PER_TAB, MIN_BATCH_PER_WORKER, PERMUTATIONS } from '../app/room-config.ts';
import { QUICK_DEMO_CONFIG as QUICK_DEMO } from '../app/presets.ts';
import { DEFAULT_CONFIG, type BnMode, type TrainConfig } from '../train/types.ts';
import { base } from './theme.ts';

const MODE_TEXT: Record<string, string> = {
  local: 'local: each worker its own statistics',
  shuffle: 'shuffle: statistics of another worker',
  sync: 'sync: statistics of all workers',
  samples: 'samples: key inputs shuffled',
};

type NumberField = 'batchPerWorker' | 'workersPerTab' | 'lr' | 'steps' | 'seed' | 'queueSize' | 'temperature' | 'outputDim' | 'knnEvery';

interface NumberSpec {
  label: string;
  min: number;
  max: number;
  step: number | 'any';
  integer: boolean;
}

const NUMBER_FIELDS: Record<NumberField, NumberSpec> = {
  batchPerWorker: { label: 'Batch per worker', min: MIN_BATCH_PER_WORKER, max: MAX_BATCH_PER_WORKER, step: 1, integer: true },
  workersPerTab: { label: 'Virtual workers per tab', min: 1, max: MAX_WORKERS_PER_TAB, step: 1, integer: true },
  lr: { label: 'Learning rate', min: 0, max: MAX_LR, step: 'any', integer: false },
  steps: { label: 'Steps', min: 1, max: MAX_STEPS, step: 1, integer: true },
  seed: { label: 'Seed', min: 0, max: MAX_SEED, step: 1, integer: true },
  queueSize: { label: 'Queue size (keys)', min: 1, max: 65_536, step: 1, integer: true },
  temperature: { label: 'Temperature', min: 1e-4, max: 100, step: 'any', integer: false },
  outputDim: { label: 'Output width', min: 1, max: 4096, step: 1, integer: true },
  knnEvery: { label: 'kNN every (steps, 0 = never)', min: 0, max: MAX_STEPS, step: 1, integer: true },
};

/** The second model a compare toggle starts with: the leak (`local`), or `shuffle` when the first is local. */
export function defaultCompareMode(mode: BnMode): BnMode {
  return mode === 'local' ? 'shuffle' : 'local';
}

const MAIN_FIELDS: readonly NumberField[] = ['batchPerWorker', 'workersPerTab', 'lr', 'steps', 'seed'];
const ADVANCED_FIELDS: readonly NumberField[] = ['queueSize', 'temperature', 'outputDim', 'knnEvery'];
/** Hidden layer widths as typed: comma-separated positive integers. */
const HIDDEN_PATTERN = /^\s*\d+(\s*,\s*\d+)*\s*$/;
const MAX_HIDDEN_WIDTH = 4096;

/**
 * The room's shared controls. Every change is proposed to the controller, which sends it to all tabs,
 * so what this element shows is always the room's configuration. Settings lock while a run is active.
 *
 * @fires sbn-config-change - detail `{ patch: Partial<TrainConfig> }`: a valid edit of one field, or
 *   the whole quick-demo preset (QUICK_DEMO_CONFIG), which is followed by `sbn-command` start.
 * @fires sbn-command - detail `{ command: 'start' | 'pause' | 'reset' }`.
 */
@customElement('sbn-controls')
export class SbnControls extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      fieldset {
        border: 0;
        padding: 0;
        margin: 0 0 0.8em;
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(11em, 1fr));
        gap: 0.6em 0.8em;
      }
      details {
        margin-bottom: 0.8em;
      }
      summary {
        cursor: pointer;
        margin-bottom: 0.5em;
        font-size: 0.9em;
      }
      legend {
        font-weight: 600;
        margin-bottom: 0.5em;
        padding: 0;
      }
      .field {
        display: flex;
        flex-direction: column;
        gap: 0.25em;
        font-size: 0.9em;
      }
      select,
      input {
        font: inherit;
        color: var(--sbn-text);
        background: #0b0e13;
        border: 1px solid var(--sbn-border);
        border-radius: 6px;
        padding: 0.4em;
        min-height: 2.4em;
      }
      input[aria-invalid='true'] {
        border-color: var(--sbn-error);
      }
      .buttons {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5em;
        align-items: center;
      }
      .toggle {
        flex-direction: row;
        align-items: center;
        gap: 0.4em;
      }
      .toggle input {
        min-height: auto;
      }
      .state {
        margin-left: auto;
        font-size: 0.9em;
      }
    `,
  ];

  /** The room's configuration (shown; edits are proposed through events). */
  @property({ attribute: false }) config: TrainConfig = { ...DEFAULT_CONFIG, hiddenDims: [...DEFAULT_CONFIG.hiddenDims] };
  /** This tab's session state: decides which buttons are enabled. */
  @property() runState: SessionState = 'idle';
  /** Last completed step (0-based), -1 before the first. */
  @property({ type: Number }) step = -1;
  /** Disables everything (e.g. while joining). */
  @property({ type: Boolean }) disabled = false;

  override render() {
    const active = this.runState === 'running' || this.runState === 'paused';
    const locked = this.disabled || active;
    const c = this.config;
    return html`<fieldset ?disabled=${locked} aria-describedby=${active ? 'lock-note' : ''}>
        <legend>Room settings (shared by every tab)</legend>
        <div class="field">
          <label for="mode">BatchNorm mode</label>
          <select id="mode" .value=${c.mode} @change=${(e: Event) => this._emit({ mode: (e.target as HTMLSelectElement).value as TrainConfig['mode'] })}>
            ${BN_MODES.map((m) => html`<option value=${m} ?selected=${m === c.mode}>${MODE_TEXT[m]}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="permutation">Permutation</label>
          <select id="permutation" .value=${c.permutation} @change=${(e: Event) => this._emit({ permutation: (e.target as HTMLSelectElement).value as TrainConfig['permutation'] })}>
            ${PERMUTATIONS.map((p) => html`<option value=${p} ?selected=${p === c.permutation}>${p === 'random' ? 'random derangement each step' : 'cyclic: r ← r+1'}</option>`)}
          </select>
        </div>
        ${this._compareField(c)}
        ${MAIN_FIELDS.map((key) => this._numberField(key))}
      </fieldset>
      <details>
        <summary>Model and loss</summary>
        <fieldset ?disabled=${locked}>
          <legend class="sr-only">Model and loss settings</legend>
          <div class="field">
            <label for="hiddenDims">Hidden widths (comma-separated)</label>
            <input id="hiddenDims" inputmode="numeric" .value=${c.hiddenDims.join(', ')} @change=${(e: Event) => this._onHidden(e.target as HTMLInputElement)} />
          </div>
          ${ADVANCED_FIELDS.map((key) => this._numberField(key))}
        </fieldset>
      </details>
      <p id="lock-note" class="muted" ?hidden=${!active}>Settings are locked during a run: Reset to change them.</p>
      <div class="buttons">
        <button class="primary" ?disabled=${this.disabled || this.runState === 'running'} @click=${() => this._command('start')}>
          ${this.runState === 'paused' ? 'Resume' : 'Start'}
        </button>
        <button ?disabled=${this.disabled || this.runState !== 'running'} @click=${() => this._command('pause')}>Pause</button>
        <button ?disabled=${this.disabled || this.runState === 'idle'} @click=${() => this._command('reset')}>Reset</button>
        <button id="quick-demo" ?disabled=${locked} @click=${this._onQuickDemo}
          title=${`${QUICK_DEMO.mode} against ${QUICK_DEMO.compareWith} in one run, ${QUICK_DEMO.steps} steps, ${QUICK_DEMO.workersPerTab} workers per tab`}>Quick demo</button>
        <span class="state" role="status" aria-live="polite">${this._stateText()}</span>
      </div>`;
  }

  /** Compare mode: a second model in the same run, with its own BN mode. */
  private _compareField(c: TrainConfig) {
    const on = c.compareWith !== null;
    return html`<div class="field">
      <label class="toggle"><input id="compare" type="checkbox" .checked=${on}
        @change=${(e: Event) => this._emit({ compareWith: (e.target as HTMLInputElement).checked ? defaultCompareMode(c.mode) : null })} />
        Compare with a second model</label>
      <label for="compareWith" class="sr-only">Mode of the second model</label>
      <select id="compareWith" ?disabled=${!on} .value=${c.compareWith ?? defaultCompareMode(c.mode)}
        @change=${(e: Event) => this._emit({ compareWith: (e.target as HTMLSelectElement).value as BnMode })}>
        ${BN_MODES.map((m) => html`<option value=${m} ?selected=${m === (c.compareWith ?? defaultCompareMode(c.mode))}>${MODE_TEXT[m]}</option>`)}
      </select>
    </div>`;
  }

  private _numberField(key: NumberField) {
    const spec = NUMBER_FIELDS[key];
    return html`<div class="field">
      <label for=${key}>${spec.label}</label>
      <input id=${key} type="number" inputmode=${spec.integer ? 'numeric' : 'decimal'} min=${spec.min} max=${spec.max} step=${spec.step}
        .value=${String(this.config[key])} @change=${(e: Event) => this._onNumber(key, e.target as HTMLInputElement)} />
    </div>`;
  }

  private _stateText(): string {
    const step = this.step + 1;
    switch (this.runState) {
      case 'running':
        return `Running: step ${step}/${this.config.steps}`;
      case 'paused':
        return `Paused at step ${step}/${this.config.steps}`;
      case 'done':
        return `Done: ${step} steps`;
      case 'error':
        return 'Stopped by an error';
      default:
        return 'Idle';
    }
  }

  private _onNumber(key: NumberField, input: HTMLInputElement): void {
    const spec = NUMBER_FIELDS[key];
    const value = input.valueAsNumber;
    const valid = Number.isFinite(value) && value >= spec.min && value <= spec.max && (!spec.integer || Number.isInteger(value));
    input.setAttribute('aria-invalid', String(!valid));
    if (valid) this._emit({ [key]: value });
  }

  private _onHidden(input: HTMLInputElement): void {
    const dims = HIDDEN_PATTERN.test(input.value) ? input.value.split(',').map((d) => Number(d.trim())) : [];
    const valid = dims.length > 0 && dims.every((d) => d >= 1 && d <= MAX_HIDDEN_WIDTH);
    input.setAttribute('aria-invalid', String(!valid));
    if (valid) this._emit({ hiddenDims: dims });
  }

  private readonly _onQuickDemo = (): void => {
    this._emit({ ...QUICK_DEMO, hiddenDims: [...QUICK_DEMO.hiddenDims] });
    this._command('start');
  };

  private _emit(patch: Partial<TrainConfig>): void {
    this.dispatchEvent(new CustomEvent('sbn-config-change', { detail: { patch }, bubbles: true, composed: true }));
  }

  private _command(command: 'start' | 'pause' | 'reset'): void {
    this.dispatchEvent(new CustomEvent('sbn-command', { detail: { command }, bubbles: true, composed: true }));
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-controls': SbnControls;
  }
}
