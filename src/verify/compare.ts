/**
 * ChunkComparer: decides whether one key range holds the same rows on both sides. Online, a
 * difference is rechecked after the target has applied the source's position taken right after the
 * source's checksum, a bounded number of times; only a persistent difference counts. Strict, one
 * comparison decides. A persistent difference is then narrowed by bisecting the range.
 */
import { UserError } from '../errors.js';
import type { ChunkSum, Key, KeyRange, TableVerifier } from './types.js';

export type VerifyMode = 'online' | 'strict';

export interface CompareOptions {
  mode: VerifyMode;
  /** Online: how many times a differing range is compared again before it counts. */
  rechecks: number;
  /** Whether the target replicates from the source (positions can be waited for). */
  replicates: boolean;
  /** How long a recheck waits for the target to apply the source's position. */
  positionWaitMs: number;
  /** Pause before a recheck that cannot wait for a position (attempt number given), in ms. */
  backoffMs?: (attempt: number) => number;
}

export interface RangeVerdict {
  same: boolean;
  source: ChunkSum;
  target: ChunkSum;
  /** Comparisons made again because the first one differed. */
  rechecks: number;
}

/** One side's view of a differing range, for the report. */
export interface SideEdges {
  rows: number;
  first?: Key;
  last?: Key;
}

export interface MismatchRange {
  range: KeyRange;
  source: SideEdges;
  target: SideEdges;
}

export const sameSum = (a: ChunkSum, b: ChunkSum): boolean => a.rows === b.rows && a.hash === b.hash;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ChunkComparer {
  /** Rechecks made so far, over every range. */
  rechecks = 0;

  constructor(
    private readonly v: TableVerifier,
    private readonly opts: CompareOptions,
  ) {}

  private async sourceWithPosition(table: string, range: KeyRange): Promise<{ sum: ChunkSum; position?: string }> {
    const sum = await this.v.checksum('source', table, range);
    // Taken after the checksum: everything the checksum saw was written at or before it.
    const position = this.opts.replicates ? await this.v.sourcePosition() : undefined;
    return { sum, position };
  }

  private async waitFor(position: string): Promise<void> {
    if (!(await this.v.waitApplied(position, this.opts.positionWaitMs))) {
      throw new UserError(
        `the target did not apply the source's position ${position} within ${Math.round(this.opts.positionWaitMs / 1000)} s, so a differing chunk cannot be rechecked: make sure replication runs (await-lag-zero), then verify again`,
      );
    }
  }

  /** Compares `range` of `table`, rechecking a difference online. */
  async compare(table: string, range: KeyRange, rechecks = this.opts.rechecks): Promise<RangeVerdict> {
    const [first, targetFirst] = await Promise.all([this.sourceWithPosition(table, range), this.v.checksum('target', table, range)]);
    let source = first.sum;
    let position = first.position;
    let target = targetFirst;
    if (this.opts.mode === 'strict') return { same: sameSum(source, target), source, target, rechecks: 0 };
    let made = 0;
    for (let attempt = 1; !sameSum(source, target) && attempt <= rechecks; attempt++) {
      made++;
      this.rechecks++;
      if (attempt === 1 && position !== undefined) {
        // The first recheck keeps the source's checksum and lets the target catch up to it.
        await this.waitFor(position);
      } else {
        if (position === undefined) await sleep(this.opts.backoffMs?.(attempt) ?? 200 * attempt);
        ({ sum: source, position } = await this.sourceWithPosition(table, range));
        if (position !== undefined) await this.waitFor(position);
      }
      target = await this.v.checksum('target', table, range);
    }
    return { same: sameSum(source, target), source, target, rechecks: made };
  }

  private async describe(table: string, range: KeyRange, verdict: RangeVerdict): Promise<MismatchRange> {
    const [s, t] = await Promise.all([
      verdict.source.rows ? this.v.edges('source', table, range) : {},
      verdict.target.rows ? this.v.edges('target', table, range) : {},
    ]);
    return { range, source: { rows: verdict.source.rows, ...s }, target: { rows: verdict.target.rows, ...t } };
  }

  /**
   * Narrows a range that differs persistently down to the smallest ranges that still differ
   * (single rows when the budget allows), by splitting at the middle key of the side with more rows.
   * At most `maxRanges` are returned; `budget` caps the comparisons spent.
   */
  async narrow(table: string, range: KeyRange, verdict: RangeVerdict, opts: { maxRanges: number; budget: number }): Promise<MismatchRange[]> {
    const out: MismatchRange[] = [];
    let budget = opts.budget;
    const visit = async (r: KeyRange, v: RangeVerdict): Promise<void> => {
      if (out.length >= opts.maxRanges) return;
      const side = v.source.rows >= v.target.rows ? 'source' : 'target';
      const rows = Math.max(v.source.rows, v.target.rows);
      const mid = rows >= 2 && budget >= 2 ? await this.v.boundary(side, table, r, Math.ceil(rows / 2)) : undefined;
      if (mid === undefined) {
        out.push(await this.describe(table, r, v));
        return;
      }
      const halves: KeyRange[] = [
        { after: r.after, upTo: mid },
        { after: mid, upTo: r.upTo },
      ];
      const verdicts: RangeVerdict[] = [];
      for (const h of halves) {
        budget--;
        verdicts.push(await this.compare(table, h, Math.min(2, this.opts.rechecks)));
      }
      const differing = halves.map((h, i) => ({ h, v: verdicts[i] })).filter((x) => !x.v.same);
      // Each half matched at some moment, so no row of the range differs persistently: a range that
      // is written to often enough keeps changing between the source's and the target's checksum as
      // a whole, but a row that truly differs makes its half differ every time.
      if (differing.length === 0) return;
      for (const d of differing) await visit(d.h, d.v);
    };
    await visit(range, verdict);
    return out;
  }
}
