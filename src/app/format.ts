/**
 * Text forms of a run: the console-style log lines (the same wording the original PyTorch script
 * printed, so logs can be compared side by side) and the JSON / CSV exports of a `RunLog`.
 */
import type { BnLayerTrace, BnMode, RunLog, StepLog } from '../train/types.ts';

/** Channels printed per mean line; the full vectors are in the JSON export. */
export const LOG_CHANNELS = 8;
export const LOG_DIGITS = 4;

/** `[a, b, …]` with fixed digits, like a printed tensor; `…` marks channels left out. */
export function formatVector(values: readonly number[], maxItems = LOG_CHANNELS, digits = LOG_DIGITS): string {
  const shown = values.slice(0, maxItems).map((v) => v.toFixed(digits));
  if (values.length > maxItems) shown.push('…');
  return `[${shown.join(', ')}]`;
}

/** `[r]mean before shuffle: [...]` and `[r]mean after shuffle: [...]` for every worker r of one layer. */
export function meanLines(layer: BnLayerTrace): string[] {
  const lines: string[] = [];
  for (let r = 0; r < layer.meanBefore.length; r++) lines.push(`[${r}]mean before shuffle: ${formatVector(layer.meanBefore[r]!)}`);
  for (let r = 0; r < layer.meanAfter.length; r++) lines.push(`[${r}]mean after shuffle: ${formatVector(layer.meanAfter[r]!)}`);
  return lines;
}

/** `[step/steps] Loss x`; `step` is the 0-based StepLog.step, shown 1-based so the last line reads `[steps/steps]`. */
export function lossLine(step: number, steps: number, loss: number): string {
  return `[${step + 1}/${steps}] Loss ${loss.toFixed(LOG_DIGITS)}`;
}

/**
 * The log lines of one step: the first BN layer's means (when traced), then the loss; in compare mode
 * a second loss line names the second model's BN mode.
 */
export function stepLines(log: StepLog, steps: number): string[] {
  const first = log.bn?.[0];
  const compare = log.compare ? [`${lossLine(log.step, steps, log.compare.loss)}  (compare: ${log.compare.mode})`] : [];
  return [...(first ? meanLines(first) : []), lossLine(log.step, steps, log.loss), ...compare];
}

/** The run as pretty JSON (the same shape `--out run.json` writes). */
export function runToJson(run: RunLog): string {
  return JSON.stringify(run, null, 2);
}

export const CSV_COLUMNS = ['step', 'loss', 'pretextAcc', 'knnAcc', 'computeMs', 'commMs', 'sourceOf'] as const;
/** Appended in compare mode: the second model's figures (its mode names the columns' model). */
export const CSV_COMPARE_COLUMNS = ['compareMode', 'compareLoss', 'comparePretextAcc', 'compareKnnAcc', 'compareSourceOf'] as const;

/** One row per step. Numbers are written with full precision (String(x)) so they read back exactly. */
export function runToCsv(run: RunLog): string {
  const compare = run.config.compareWith !== null && run.config.compareWith !== undefined;
  const rows = run.steps.map((s) => {
    const cells: unknown[] = [s.step, s.loss, s.pretextAcc, s.knnAcc ?? '', s.computeMs, s.commMs, s.sourceOf.join(' ')];
    if (compare) {
      const c = s.compare;
      cells.push(c?.mode ?? '', c?.loss ?? '', c?.pretextAcc ?? '', c?.knnAcc ?? '', c?.sourceOf.join(' ') ?? '');
    }
    return cells.map(String).join(',');
  });
  const header = compare ? [...CSV_COLUMNS, ...CSV_COMPARE_COLUMNS] : CSV_COLUMNS;
  return [header.join(','), ...rows].join('\n') + '\n';
}

/** A CSV row read back: the scalar fields of a StepLog (with the second model's in compare mode). */
export type CsvStep = Pick<StepLog, 'step' | 'loss' | 'pretextAcc' | 'computeMs' | 'commMs' | 'sourceOf' | 'knnAcc' | 'compare'>;

/** Parses what `runToCsv` wrote (used by tests and by anyone re-plotting an exported run). */
export function parseRunCsv(text: string): CsvStep[] {
  const [header, ...lines] = text.trim().split('\n');
  const single = CSV_COLUMNS.join(',');
  const compare = header === [...CSV_COLUMNS, ...CSV_COMPARE_COLUMNS].join(',');
  if (header !== single && !compare) {
    throw Object.assign(new Error(`unexpected CSV header: ${header}`), { code: 'ERR_CSV_HEADER' });
  }
  const width = CSV_COLUMNS.length + (compare ? CSV_COMPARE_COLUMNS.length : 0);
  return lines.map((line, i) => {
    const cells = line.split(',');
    if (cells.length !== width) {
      throw Object.assign(new Error(`CSV line ${i + 2} has ${cells.length} cells, expected ${width}`), { code: 'ERR_CSV_ROW' });
    }
    const [step, loss, pretextAcc, knnAcc, computeMs, commMs, sourceOf] = cells as [string, string, string, string, string, string, string];
    const row: CsvStep = {
      step: Number(step),
      loss: Number(loss),
      pretextAcc: Number(pretextAcc),
      computeMs: Number(computeMs),
      commMs: Number(commMs),
      sourceOf: sourceOf === '' ? [] : sourceOf.split(' ').map(Number),
    };
    if (knnAcc !== '') row.knnAcc = Number(knnAcc);
    const [cMode, cLoss, cAcc, cKnn, cSourceOf] = cells.slice(CSV_COLUMNS.length) as [string?, string?, string?, string?, string?];
    if (compare && cMode) {
      row.compare = { mode: cMode as BnMode, loss: Number(cLoss), pretextAcc: Number(cAcc), sourceOf: cSourceOf ? cSourceOf.split(' ').map(Number) : [] };
      if (cKnn) row.compare.knnAcc = Number(cKnn);
    }
    return row;
  });
}

/** File name for an export: mode, permutation, world size and start time, safe on every OS. */
export function exportFileName(run: RunLog, ext: 'json' | 'csv'): string {
  const stamp = run.startedAt.replace(/[:.]/g, '-');
  const compare = run.config.compareWith ? `-vs-${run.config.compareWith}` : '';
  return `shufflebn-${run.config.mode}${compare}-${run.config.permutation}-w${run.worldSize}-${stamp}.${ext}`;
}

/** A run as a file to download. */
export interface ExportFile {
  filename: string;
  mime: string;
  text: string;
}

/** The run as a JSON or CSV file. */
export function exportFile(run: RunLog, format: 'json' | 'csv'): ExportFile {
  return format === 'json'
    ? { filename: exportFileName(run, 'json'), mime: 'application/json', text: runToJson(run) }
    : { filename: exportFileName(run, 'csv'), mime: 'text/csv', text: runToCsv(run) };
}
