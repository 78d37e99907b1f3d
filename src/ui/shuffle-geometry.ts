/**
 * Geometry and colours of the shuffle view, kept apart from the element so the layout is plain
 * arithmetic: two columns of per-worker heat strips (means before and after the shuffle) and arrows
 * from each source worker's "before" row to the row of the worker that received its statistics.
 */

/** Channels drawn per worker by default, and the most we allow (beyond that strips get unreadable). */
export const DEFAULT_CHANNELS = 16;
export const MAX_CHANNELS = 32;
/** Workers drawn; a larger world shows its first rows and says so. */
export const MAX_WORKERS_DRAWN = 32;

export const CELL_W = 8;
export const CELL_H = 12;
export const ROW_GAP = 4;
/** Left margin for the worker labels, horizontal room for the arrows, top margin for the headings. */
export const LABEL_W = 30;
export const ARROW_W = 110;
export const HEAD_H = 18;

export interface Layout {
  channels: number;
  workers: number;
  stripW: number;
  beforeX: number;
  afterX: number;
  width: number;
  height: number;
}

export function layout(workers: number, channels: number): Layout {
  const stripW = channels * CELL_W;
  const beforeX = LABEL_W;
  const afterX = beforeX + stripW + ARROW_W;
  return {
    channels,
    workers,
    stripW,
    beforeX,
    afterX,
    width: afterX + stripW + LABEL_W,
    height: HEAD_H + workers * (CELL_H + ROW_GAP),
  };
}

/** Top of worker w's row. */
export function rowY(w: number): number {
  return HEAD_H + w * (CELL_H + ROW_GAP);
}

/** Cubic Bézier from the right end of source's "before" row to the left end of receiver's "after" row. */
export function arrowPath(l: Layout, source: number, receiver: number): string {
  const x0 = l.beforeX + l.stripW + 3;
  const x1 = l.afterX - 6;
  const y0 = rowY(source) + CELL_H / 2;
  const y1 = rowY(receiver) + CELL_H / 2;
  const bend = (x1 - x0) / 2;
  return `M${x0},${y0} C${x0 + bend},${y0} ${x1 - bend},${y1} ${x1},${y1}`;
}

/** Largest |value| over what is drawn, so both columns share one colour scale (never 0). */
export function colourScale(rows: readonly (readonly number[])[], channels: number): number {
  let max = 0;
  for (const row of rows) for (let c = 0; c < Math.min(channels, row.length); c++) max = Math.max(max, Math.abs(row[c]!));
  return max > 0 ? max : 1;
}

/** Diverging colour on a dark background: blue for negative, red for positive, dark grey at 0. */
export function heatColour(value: number, scale: number): string {
  const t = Math.max(-1, Math.min(1, value / scale));
  const hue = t < 0 ? 212 : 8;
  const light = 16 + 46 * Math.abs(t);
  const sat = 10 + 75 * Math.abs(t);
  return `hsl(${hue} ${sat.toFixed(0)}% ${light.toFixed(0)}%)`;
}

/** A distinct hue per source worker, so arrows from one source read as one colour. */
export function workerColour(w: number): string {
  return `hsl(${(w * 137.508) % 360} 70% 62%)`;
}
