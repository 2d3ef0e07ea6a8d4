/**
 * TableWalker: compares the selected tables chunk by chunk along their primary keys, within a time
 * budget, and records what was compared and what differed. Tables without a primary key get one
 * whole-table checksum. What was not compared is recorded as such, never as a match.
 */
import { UserError } from '../errors.js';
import type { Log } from '../log.js';
import { formatSeconds, Progress } from '../log.js';
import { ChunkComparer, type CompareOptions, type MismatchRange } from './compare.js';
import type { TableFilter } from './filter.js';
import type { Key, KeyRange, TableInfo, TableVerifier } from './types.js';

export type TableStatus = 'match' | 'mismatch' | 'missing-on-target' | 'missing-on-source' | 'columns-differ' | 'not-compared' | 'partial';

export interface TableResult {
  name: string;
  status: TableStatus;
  /** Primary-key columns; empty: compared by a whole-table checksum. */
  key: string[];
  /** Rows compared (the larger side of each compared range). */
  rows: number;
  chunks: number;
  rechecks: number;
  mismatches: MismatchRange[];
  /** Differing ranges found but not listed (over the per-table cap). */
  moreMismatches: number;
  note?: string;
  /** False when the time budget ran out inside or before this table. */
  complete: boolean;
  /** For a table cut short: every key up to and including this one was compared. */
  comparedUpTo?: Key;
}

export interface WalkOptions extends CompareOptions {
  chunkRows: number;
  /** 0: no limit. */
  timeBudgetSeconds: number;
  filter: TableFilter;
  log: Log;
  /** Differing ranges listed per table. */
  maxRangesPerTable?: number;
  /** Called before each chunk: may pause (throttling) or throw to stop. */
  beforeChunk?: () => Promise<void>;
}

export interface WalkResult {
  tables: TableResult[];
  /** Tables left out by verify-tables. */
  excluded: number;
  /** False when the time budget ran out before every selected table was compared. */
  complete: boolean;
  seconds: number;
}

const MAX_RANGES = 20;

const rangeText = (r: KeyRange) => `(${r.after?.join(', ') ?? '-inf'}, ${r.upTo ? r.upTo.join(', ') + ']' : '+inf)'}`;
const NARROW_BUDGET = 64;

function newResult(name: string, status: TableStatus, key: string[] = [], note?: string): TableResult {
  return {
    name,
    status,
    key,
    rows: 0,
    chunks: 0,
    rechecks: 0,
    mismatches: [],
    moreMismatches: 0,
    note,
    complete: status !== 'not-compared' && status !== 'partial',
  };
}

/** Pairs the two sides' tables: the ones to compare, and the ones that cannot be. */
export function pairTables(source: TableInfo[], target: TableInfo[], filter: TableFilter): { pairs: TableInfo[]; problems: TableResult[]; excluded: number } {
  const onTarget = new Map(target.map((t) => [t.name, t]));
  const onSource = new Set(source.map((t) => t.name));
  const pairs: TableInfo[] = [];
  const problems: TableResult[] = [];
  let excluded = 0;
  for (const s of source) {
    if (!filter.matches(s.name)) {
      excluded++;
      continue;
    }
    const t = onTarget.get(s.name);
    if (!t) problems.push(newResult(s.name, 'missing-on-target', s.key, 'the table exists on the source only'));
    else if (s.columns !== t.columns) problems.push(newResult(s.name, 'columns-differ', s.key, `source columns (${s.columns}); target columns (${t.columns})`));
    else if (s.key.join(',') !== t.key.join(','))
      problems.push(newResult(s.name, 'columns-differ', s.key, `primary key on the source (${s.key.join(', ')}), on the target (${t.key.join(', ')})`));
    else if (s.uncomparable || t.uncomparable) problems.push(newResult(s.name, 'not-compared', s.key, s.uncomparable ?? t.uncomparable));
    else pairs.push(s);
  }
  for (const t of target) {
    if (onSource.has(t.name)) continue;
    if (!filter.matches(t.name)) excluded++;
    else problems.push(newResult(t.name, 'missing-on-source', t.key, 'the table exists on the target only'));
  }
  return { pairs, problems, excluded };
}

export class TableWalker {
  private readonly comparer: ChunkComparer;
  private readonly progress: Progress;
  private readonly started = Date.now();
  private rowsDone = 0;
  private rowsPlanned = 0;
  private budgetGone = false;
  /** Whether the budget left anything uncompared. */
  private cutShort = false;

  constructor(
    private readonly v: TableVerifier,
    private readonly opts: WalkOptions,
  ) {
    this.comparer = new ChunkComparer(v, opts);
    this.progress = new Progress(opts.log);
  }

  /** Whether the budget has run out; once it has, it stays so (the verdict must not flip back). */
  private outOfTime(): boolean {
    this.budgetGone ||= this.opts.timeBudgetSeconds > 0 && Date.now() - this.started >= this.opts.timeBudgetSeconds * 1000;
    return this.budgetGone;
  }

  private report(table: string, chunks: number, force = false): void {
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = this.rowsDone / Math.max(elapsed, 0.001);
    const left = Math.max(0, this.rowsPlanned - this.rowsDone);
    const eta = rate > 0 && left > 0 ? `, ETA ${formatSeconds(left / rate)}` : '';
    // The planner's estimate is 0 for a table never analyzed (a fresh copy): then no total is claimed.
    const of = this.rowsPlanned > this.rowsDone ? ` of ~${this.rowsPlanned}` : '';
    this.progress.report(`verify: ${table} chunk ${chunks}; ${this.rowsDone}${of} rows compared (${Math.round(rate)} rows/s)${eta}`, force);
  }

  async run(): Promise<WalkResult> {
    // One side after the other: an engine may keep few connections open and close idle ones.
    const source = await this.v.tables('source');
    const target = await this.v.tables('target');
    const { pairs, problems, excluded } = pairTables(source, target, this.opts.filter);
    this.rowsPlanned = pairs.reduce((n, t) => n + Math.max(0, t.estimatedRows), 0);
    const results: TableResult[] = [...problems];
    for (const t of pairs) {
      if (this.outOfTime()) {
        this.cutShort = true;
        results.push(newResult(t.name, 'not-compared', t.key, 'the time budget ran out before this table'));
      } else results.push(await this.tableOrError(t));
    }
    const complete = !this.cutShort;
    results.sort((a, b) => a.name.localeCompare(b.name));
    const seconds = (Date.now() - this.started) / 1000;
    this.opts.log.info(`verify: compared ${this.rowsDone} rows of ${pairs.length} tables in ${formatSeconds(seconds)}`);
    return { tables: results, excluded, complete, seconds };
  }

  /** Compares one range (`whole`: the whole table, which cannot be narrowed) and records the verdict. */
  private async record(r: TableResult, range: KeyRange, whole = false): Promise<void> {
    const before = this.comparer.rechecks;
    const verdict = await this.comparer.compare(r.name, range);
    r.chunks++;
    const rows = Math.max(verdict.source.rows, verdict.target.rows);
    r.rows += rows;
    this.rowsDone += rows;
    if (!verdict.same) {
      const cap = this.opts.maxRangesPerTable ?? MAX_RANGES;
      const room = cap - r.mismatches.length;
      const found =
        !whole && room > 0
          ? await this.comparer.narrow(r.name, range, verdict, { maxRanges: room, budget: NARROW_BUDGET })
          : [{ range, source: { rows: verdict.source.rows }, target: { rows: verdict.target.rows } }];
      if (room <= 0) r.moreMismatches++;
      else r.mismatches.push(...found.slice(0, room));
      if (found.length) r.status = 'mismatch';
      else this.opts.log.info(`${r.name}: keys ${rangeText(range)} kept changing as a whole while compared, but every part of it matched`);
    }
    r.rechecks += this.comparer.rechecks - before;
    this.report(r.name, r.chunks);
  }

  /**
   * A table dropped, altered or locked while it is compared is reported as not compared, with the
   * server's error, and the others go on. A UserError (replication not applying) stops everything.
   */
  private async tableOrError(t: TableInfo): Promise<TableResult> {
    try {
      return await this.table(t);
    } catch (e) {
      if (e instanceof UserError) throw e;
      this.opts.log.warn(`${t.name}: not compared: ${(e as Error).message}`);
      return newResult(t.name, 'not-compared', t.key, `not compared: ${(e as Error).message}`);
    }
  }

  private async table(t: TableInfo): Promise<TableResult> {
    const r = newResult(t.name, 'match', t.key);
    if (t.key.length === 0 || t.unchunkable) {
      r.note = t.unchunkable ? `${t.unchunkable}: compared by one whole-table checksum` : 'no primary key: compared by one whole-table checksum';
      await this.record(r, {}, true);
      return r;
    }
    // Online, the pass ends at the source's last key when it began: rows written after that are
    // beyond its scope (and would keep a replica's tail differing). Strict, the open tail is compared too.
    const online = this.opts.mode === 'online';
    const end = online ? (await this.v.edges('source', t.name, {})).last : undefined;
    if (online && end === undefined) {
      await this.record(r, {});
      return r;
    }
    let after: Key | undefined;
    for (;;) {
      if (this.outOfTime()) {
        if (r.status !== 'mismatch') r.status = 'partial';
        r.complete = false;
        this.cutShort = true;
        r.comparedUpTo = after;
        r.note = `the time budget ran out: compared ${after ? `keys up to (${after.join(', ')})` : 'no rows'}; the rest of the table was not compared`;
        return r;
      }
      await this.opts.beforeChunk?.();
      const upTo = await this.v.boundary('source', t.name, { after, upTo: end }, this.opts.chunkRows);
      if (upTo === undefined) {
        if (!online) await this.record(r, { after });
        break;
      }
      await this.record(r, { after, upTo });
      after = upTo;
    }
    if (online) r.note = `online: rows with keys above (${end!.join(', ')}), written after the pass began, were not compared`;
    return r;
  }
}
