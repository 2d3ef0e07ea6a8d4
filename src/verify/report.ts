/** The verify report: the verdict, a job summary table, a bounded JSON output and the failure message. */
import { formatSeconds } from '../log.js';
import { heading, table } from '../report/markdown.js';
import type { MismatchRange } from './compare.js';
import type { TableResult, WalkResult } from './walk.js';
import type { Key } from './types.js';

export interface VerifyVerdict {
  /** True only when every selected table was compared and nothing differed. */
  ok: boolean;
  /** Differing key ranges, plus tables missing on one side or with different columns. */
  mismatches: number;
  rowsCompared: number;
  /** Tables that could not be compared, or not completely (budget, unlogged, ...). */
  notCompared: string[];
}

const PROBLEM: Record<string, boolean> = { mismatch: true, 'missing-on-target': true, 'missing-on-source': true, 'columns-differ': true };

export function verdictOf(w: WalkResult): VerifyVerdict {
  let mismatches = 0;
  for (const t of w.tables) {
    if (t.status === 'mismatch') mismatches += t.mismatches.length + t.moreMismatches;
    else if (PROBLEM[t.status]) mismatches++;
  }
  const notCompared = w.tables.filter((t) => !t.complete).map((t) => t.name);
  const rowsCompared = w.tables.reduce((n, t) => n + t.rows, 0);
  return { ok: mismatches === 0 && notCompared.length === 0 && w.complete, mismatches, rowsCompared, notCompared };
}

export function formatKey(k: Key | undefined): string {
  return k === undefined ? '' : k.length === 1 ? k[0] : `(${k.join(', ')})`;
}

/** `(after, upTo]` in words: the range of keys compared. */
export function formatRange(m: MismatchRange): string {
  const { after, upTo } = m.range;
  if (!after && !upTo) return 'whole table';
  return `${after ? `(${formatKey(after)}` : '(-inf'}, ${upTo ? `${formatKey(upTo)}]` : '+inf)'}`;
}

function sideText(name: string, s: MismatchRange['source']): string {
  if (!s.rows) return `${name}: 0 rows`;
  const keys =
    s.first === undefined
      ? ''
      : formatKey(s.first) === formatKey(s.last)
        ? ` (key ${formatKey(s.first)})`
        : ` (keys ${formatKey(s.first)} .. ${formatKey(s.last)})`;
  return `${name}: ${s.rows} row${s.rows === 1 ? '' : 's'}${keys}`;
}

export function describeMismatch(m: MismatchRange): string {
  return `keys ${formatRange(m)}: ${sideText('source', m.source)}, ${sideText('target', m.target)}`;
}

const STATUS_TEXT: Record<string, string> = {
  match: 'match',
  mismatch: 'MISMATCH',
  'missing-on-target': 'MISSING on target',
  'missing-on-source': 'MISSING on source',
  'columns-differ': 'COLUMNS DIFFER',
  'not-compared': 'not compared',
  partial: 'partly compared',
};

function keyText(t: TableResult): string {
  return t.key.length ? t.key.join(', ') : 'none (whole-table checksum)';
}

export function summaryMarkdown(w: WalkResult, v: VerifyVerdict, mode: string): string {
  const verdict = v.ok
    ? `**Verified: source and target hold the same rows** in ${w.tables.length} table${w.tables.length === 1 ? '' : 's'} (${v.rowsCompared} rows, ${mode} mode).`
    : v.mismatches
      ? `**${v.mismatches} mismatch${v.mismatches === 1 ? '' : 'es'} found** (${mode} mode).`
      : `**Not verified**: ${v.notCompared.length} table${v.notCompared.length === 1 ? '' : 's'} not (completely) compared (${mode} mode); nothing differed in what was compared.`;
  const rows = w.tables.map((t) => [t.name, STATUS_TEXT[t.status], keyText(t), t.rows, t.chunks, t.rechecks]);
  let md = heading('zdm verify') + verdict + `\n\n` + table(['table', 'result', 'primary key', 'rows', 'chunks', 'rechecks'], rows);
  const details = w.tables.filter((t) => t.mismatches.length || t.note);
  if (details.length) {
    md += '\n';
    for (const t of details) {
      if (t.note) md += `- \`${t.name}\`: ${t.note}\n`;
      for (const m of t.mismatches.slice(0, 20)) md += `- \`${t.name}\` differs at ${describeMismatch(m)}\n`;
      if (t.moreMismatches) md += `- \`${t.name}\`: ${t.moreMismatches} more differing chunk(s) not listed\n`;
    }
  }
  if (w.excluded) md += `\n${w.excluded} table(s) left out by verify-tables.\n`;
  md += `\nTook ${formatSeconds(w.seconds)}.\n`;
  return md;
}

/** The step's failure message: every table and key range that differs, and what was not compared. */
export function failureMessage(w: WalkResult, v: VerifyVerdict): string {
  const lines: string[] = [];
  for (const t of w.tables) {
    if (t.status === 'mismatch') {
      lines.push(`${t.name}: ${t.mismatches.length + t.moreMismatches} differing range(s)${t.key.length ? '' : ' (no primary key: whole-table checksum)'}`);
      for (const m of t.mismatches.slice(0, 5)) lines.push(`  ${describeMismatch(m)}`);
      if (t.mismatches.length > 5) lines.push(`  ... ${t.mismatches.length - 5} more in the report`);
    } else if (PROBLEM[t.status]) lines.push(`${t.name}: ${STATUS_TEXT[t.status]}${t.note ? `: ${t.note}` : ''}`);
  }
  const head = v.mismatches
    ? `verify found ${v.mismatches} mismatch${v.mismatches === 1 ? '' : 'es'} between source and target:`
    : 'verify could not compare everything, so the data is NOT verified:';
  if (v.notCompared.length) {
    lines.push(
      `not (completely) compared: ${v.notCompared.slice(0, 10).join(', ')}${v.notCompared.length > 10 ? ` and ${v.notCompared.length - 10} more` : ''}${w.complete ? '' : ' (the time budget ran out: raise time-budget-seconds or narrow verify-tables)'}`,
    );
    for (const t of w.tables.filter((x) => !x.complete && x.note && x.status === 'not-compared' && !/time budget/.test(x.note)).slice(0, 5))
      lines.push(`  ${t.name}: ${t.note}`);
  }
  return [head, ...lines].join('\n');
}

/** The report output: JSON, at most `maxBytes`; tables with problems first, ranges trimmed if needed. */
export function reportJson(w: WalkResult, v: VerifyVerdict, mode: string, maxBytes = 200_000): string {
  const order = (t: TableResult) => (t.status === 'match' ? 2 : t.complete ? 0 : 1);
  const tables = [...w.tables].sort((a, b) => order(a) - order(b));
  const doc = (list: TableResult[], ranges: number) => ({
    ok: v.ok,
    mode,
    complete: w.complete,
    mismatches: v.mismatches,
    rowsCompared: v.rowsCompared,
    seconds: Math.round(w.seconds * 10) / 10,
    excludedTables: w.excluded,
    notCompared: v.notCompared,
    tables: list.map((t) => ({
      ...t,
      mismatches: t.mismatches.slice(0, ranges),
      moreMismatches: t.moreMismatches + Math.max(0, t.mismatches.length - ranges),
    })),
    ...(list.length < w.tables.length ? { tablesLeftOut: w.tables.length - list.length } : {}),
  });
  for (const ranges of [20, 5, 1]) {
    const text = JSON.stringify(doc(tables, ranges));
    if (text.length <= maxBytes) return text;
  }
  let n = tables.length;
  for (;;) {
    n = Math.floor(n / 2);
    const text = JSON.stringify(doc(tables.slice(0, n), 1));
    if (text.length <= maxBytes || n === 0) return text;
  }
}
