import { LitElement, css, html, unsafeCSS } from 'lit';
import { customElement, property, queryAll } from 'lit/decorators.js';
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css?inline';
import type { RunSeries } from '../app/series.ts';
import { METRICS, RUN_COLOURS, alignRuns, lastValue, type Metric } from './chart-data.ts';
import { base } from './theme.ts';

/** Chart height in CSS pixels. */
const CHART_H = 180;

/**
 * Loss, pretext accuracy and kNN accuracy per step, with earlier runs overlaid (e.g. `shuffle` next
 * to `local`), drawn with uPlot. A compare-mode run brings two series (one per model) that grow
 * together; every series of the current run is drawn solid. Charts are rebuilt only when the set of
 * runs changes; new steps go through `setData`.
 */
@customElement('sbn-curves')
export class SbnCurves extends LitElement {
  static override styles = [
    base,
    unsafeCSS(uplotCss),
    css`
      :host {
        display: block;
      }
      .charts {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(min(100%, 20em), 1fr));
        gap: 1em;
      }
      figure {
        margin: 0;
        min-width: 0;
      }
      figcaption {
        font-size: 0.9em;
        margin-bottom: 0.2em;
      }
      .plot {
        min-height: ${CHART_H}px;
      }
      .u-legend {
        font-size: 11px;
        color: var(--sbn-text);
      }
    `,
  ];

  /** Series to draw, oldest first; those sharing the last one's runId are the current run. */
  @property({ attribute: false }) runs: readonly RunSeries[] = [];

  @queryAll('.plot') private _plots!: NodeListOf<HTMLDivElement>;
  private _charts = new Map<Metric, uPlot>();
  private _chartKey = '';
  private _resize: ResizeObserver | null = null;

  override render() {
    return html`<h2>Curves</h2>
      ${this.runs.length === 0 ? html`<p class="muted">No runs yet. Finished runs stay here so the next run can be compared with them.</p>` : ''}
      <div class="charts">
        ${METRICS.map(
          (m) => html`<figure>
            <figcaption id=${`cap-${m.key}`}>${m.title} <span class="muted">${this._summary(m.key, m.percent)}</span></figcaption>
            <div class="plot" data-metric=${m.key} role="img" aria-labelledby=${`cap-${m.key}`}></div>
          </figure>`,
        )}
      </div>`;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this._resize = new ResizeObserver(() => this._fit());
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this._resize?.disconnect();
    this._resize = null;
    for (const c of this._charts.values()) c.destroy();
    this._charts.clear();
    this._chartKey = '';
  }

  protected override updated(): void {
    const key = this.runs.map((r) => `${r.id}:${r.label}`).join('|');
    if (key !== this._chartKey) this._rebuild(key);
    else for (const m of METRICS) this._charts.get(m.key)?.setData(alignRuns(this.runs, m.key) as uPlot.AlignedData);
  }

  /** Number of points drawn per chart and run (for tests and the accessible summary). */
  pointCounts(metric: Metric): number[] {
    const data = this._charts.get(metric)?.data ?? [];
    return data.slice(1).map((col) => (col as (number | null)[]).filter((v) => v != null).length);
  }

  private _summary(metric: Metric, percent: boolean): string {
    const parts: string[] = [];
    for (const series of this._current()) {
      const v = lastValue(series, metric);
      if (v !== null) parts.push(`${series.label}: ${percent ? `${(v * 100).toFixed(1)}%` : v.toFixed(4)}`);
    }
    return parts.length ? `· ${parts.join(' · ')}` : '';
  }

  /** The current run's series (two in compare mode). */
  private _current(): RunSeries[] {
    const last = this.runs[this.runs.length - 1];
    return last ? this.runs.filter((r) => r.runId === last.runId) : [];
  }

  private _rebuild(key: string): void {
    for (const c of this._charts.values()) c.destroy();
    this._charts.clear();
    this._chartKey = key;
    if (this.runs.length === 0) return;
    const current = new Set(this._current());
    for (const plot of this._plots) {
      const metric = plot.dataset.metric as Metric;
      const spec = METRICS.find((m) => m.key === metric)!;
      const opts: uPlot.Options = {
        width: Math.max(200, plot.clientWidth),
        height: CHART_H,
        scales: { x: { time: false } },
        axes: [
          { stroke: '#9aa3b2', grid: { stroke: '#2a3140' }, ticks: { stroke: '#2a3140' } },
          { stroke: '#9aa3b2', grid: { stroke: '#2a3140' }, ticks: { stroke: '#2a3140' }, ...(spec.percent ? { values: (_u: uPlot, vals: number[]) => vals.map((v) => `${parseFloat((v * 100).toPrecision(3))}%`) } : {}) },
        ],
        series: [
          { label: 'step' },
          ...this.runs.map((r, i) => ({
            label: r.label,
            stroke: RUN_COLOURS[i % RUN_COLOURS.length],
            width: current.has(r) ? 2 : 1.25,
            dash: current.has(r) ? undefined : [5, 4],
            spanGaps: true,
            points: { show: metric === 'knnAcc' },
            value: (_u: uPlot, v: number | null) => (v == null ? '—' : spec.percent ? `${(v * 100).toFixed(1)}%` : v.toFixed(4)),
          })),
        ],
      };
      this._charts.set(metric, new uPlot(opts, alignRuns(this.runs, metric) as uPlot.AlignedData, plot));
      this._resize?.observe(plot);
    }
  }

  private _fit(): void {
    for (const plot of this._plots) {
      const chart = this._charts.get(plot.dataset.metric as Metric);
      if (chart && plot.clientWidth > 0 && Math.abs(chart.width - plot.clientWidth) > 2) chart.setSize({ width: plot.clientWidth, height: CHART_H });
    }
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sbn-curves': SbnCurves;
  }
}
