/** The engine-neutral verify logic against an in-memory pair of tables: rechecks, bisection, budget, report. */
import { describe, expect, it } from 'vitest';
import { readInputs } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { keyCompare, rowExpression, rowHash } from '../../src/engines/mysql/verify.js';
import { parseTableFilter } from '../../src/verify/filter.js';
import { failureMessage, reportJson, verdictOf } from '../../src/verify/report.js';
import type { ChunkSum, Key, KeyRange, Side, TableInfo, TableVerifier } from '../../src/verify/types.js';
import { pairTables, TableWalker, type WalkOptions } from '../../src/verify/walk.js';
import { LagThrottle } from '../../src/verify/throttle.js';
import type { LagSample } from '../../src/engines/engine.js';

type Rows = Map<number, string>;

/** Two sides of one or more tables with integer keys; the target "replicates" by copying on waitApplied. */
class FakeVerifier implements TableVerifier {
  source = new Map<string, Rows>();
  target = new Map<string, Rows>();
  keyless = new Set<string>();
  /** Applied to the target when a position is waited for (a lagging replica catching up). */
  pending: (() => void)[] = [];
  delayMs = 0;
  checksums = 0;
  waits = 0;

  add(name: string, n: number): void {
    const rows: Rows = new Map();
    for (let i = 1; i <= n; i++) rows.set(i, `row ${i}`);
    this.source.set(name, rows);
    this.target.set(name, new Map(rows));
  }
  private side(side: Side) {
    return side === 'source' ? this.source : this.target;
  }
  private inRange(side: Side, table: string, r: KeyRange): number[] {
    const keys = [...(this.side(side).get(table)?.keys() ?? [])].sort((a, b) => a - b);
    return keys.filter((k) => (r.after === undefined || k > Number(r.after[0])) && (r.upTo === undefined || k <= Number(r.upTo[0])));
  }
  async tables(side: Side): Promise<TableInfo[]> {
    return [...this.side(side).entries()].map(([name, rows]) => ({
      name,
      key: this.keyless.has(name) ? [] : ['id'],
      columns: 'id int, v text',
      estimatedRows: rows.size,
    }));
  }
  async boundary(side: Side, table: string, range: KeyRange, n: number): Promise<Key | undefined> {
    const keys = this.inRange(side, table, range);
    if (!keys.length) return undefined;
    return [String(keys[Math.min(n, keys.length) - 1])];
  }
  async edges(side: Side, table: string, range: KeyRange) {
    const keys = this.inRange(side, table, range);
    return keys.length ? { first: [String(keys[0])], last: [String(keys[keys.length - 1])] } : {};
  }
  async checksum(side: Side, table: string, range: KeyRange): Promise<ChunkSum> {
    this.checksums++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const rows = this.side(side).get(table)!;
    const keys = this.keyless.has(table) ? [...rows.keys()] : this.inRange(side, table, range);
    let h = 0n;
    for (const k of keys) for (const ch of `${k}:${rows.get(k)}`) h = (h * 31n + BigInt(ch.charCodeAt(0))) % 1000000007n;
    return { rows: keys.length, hash: String(h) + ':' + keys.reduce((a, k) => a + k, 0) };
  }
  async targetReplicates() {
    return true;
  }
  async sourcePosition() {
    return 'pos';
  }
  async waitApplied() {
    this.waits++;
    for (const f of this.pending.splice(0)) f();
    return true;
  }
  async close() {}
}

const quiet = new TextLog(() => undefined);
const opts = (over: Partial<WalkOptions> = {}): WalkOptions => ({
  mode: 'online',
  rechecks: 3,
  replicates: true,
  positionWaitMs: 1000,
  chunkRows: 100,
  timeBudgetSeconds: 0,
  filter: parseTableFilter(''),
  log: quiet,
  backoffMs: () => 1,
  ...over,
});

describe('verify walk', () => {
  it('matches identical tables chunk by chunk without rechecks', async () => {
    const v = new FakeVerifier();
    v.add('db.a', 1050);
    const w = await new TableWalker(v, opts()).run();
    expect(w.tables).toMatchObject([{ name: 'db.a', status: 'match', rows: 1050, chunks: 11, rechecks: 0, complete: true }]);
    expect(verdictOf(w)).toMatchObject({ ok: true, mismatches: 0, rowsCompared: 1050 });
  });

  it('online: a chunk that differs only because the target lags matches after the target applied the position', async () => {
    const v = new FakeVerifier();
    v.add('db.a', 500);
    v.target.get('db.a')!.set(250, 'old value');
    v.pending.push(() => v.target.get('db.a')!.set(250, 'row 250'));
    const w = await new TableWalker(v, opts()).run();
    expect(w.tables[0]).toMatchObject({ status: 'match', rechecks: 1 });
    expect(v.waits).toBe(1);
    expect(verdictOf(w).ok).toBe(true);
  });

  it('online: a hot chunk that differs as a whole at every look but matches in parts is no mismatch', async () => {
    const v = new FakeVerifier();
    v.add('db.a', 400);
    const real = v.checksum.bind(v);
    // Writes land on the chunk between every source and target checksum of more than 100 rows.
    v.checksum = async (side, table, range) => {
      const s = await real(side, table, range);
      return side === 'target' && s.rows > 100 ? { ...s, hash: s.hash + 'x' } : s;
    };
    const w = await new TableWalker(v, opts({ chunkRows: 200 })).run();
    expect(w.tables[0]).toMatchObject({ status: 'match', rows: 400, chunks: 2, mismatches: [] });
    expect(w.tables[0].rechecks).toBeGreaterThanOrEqual(6);
  });

  it('online: a row changed on the target persists through the rechecks and is narrowed down to its key', async () => {
    const v = new FakeVerifier();
    v.add('db.a', 1000);
    v.target.get('db.a')!.set(437, 'corrupted');
    const w = await new TableWalker(v, opts()).run();
    const t = w.tables[0];
    expect(t.status).toBe('mismatch');
    expect(t.mismatches).toHaveLength(1);
    expect(t.mismatches[0]).toMatchObject({ source: { rows: 1, first: ['437'], last: ['437'] }, target: { rows: 1, first: ['437'], last: ['437'] } });
    const verdict = verdictOf(w);
    expect(verdict).toMatchObject({ ok: false, mismatches: 1 });
    expect(failureMessage(w, verdict)).toMatch(
      /^verify found 1 mismatch between source and target:\ndb\.a: 1 differing range\(s\)\n {2}keys \(436, 437\]: source: 1 row \(key 437\), target: 1 row \(key 437\)$/,
    );
  });

  it('finds a row missing on the target and a row only on the target, each with its range', async () => {
    const v = new FakeVerifier();
    v.add('db.a', 300);
    v.target.get('db.a')!.delete(10);
    v.target.get('db.a')!.set(150.5, 'extra');
    const w = await new TableWalker(v, opts({ mode: 'strict' })).run();
    const ms = w.tables[0].mismatches;
    expect(ms).toHaveLength(2);
    expect(ms[0]).toMatchObject({ source: { rows: 1, first: ['10'] }, target: { rows: 0 } });
    expect(ms[1]).toMatchObject({ source: { rows: 0 }, target: { rows: 1, first: ['150.5'] } });
    expect(w.tables[0].rechecks).toBe(0);
  });

  it('strict mode compares the open tail too: rows beyond the source last key are found', async () => {
    const v = new FakeVerifier();
    v.add('db.a', 100);
    v.target.get('db.a')!.set(5000, 'extra');
    const strict = await new TableWalker(v, opts({ mode: 'strict' })).run();
    expect(strict.tables[0].mismatches[0]).toMatchObject({ range: { after: ['100'] }, target: { rows: 1, first: ['5000'] } });
    // Online the pass ends at the source's last key when it began, and says so.
    const online = await new TableWalker(v, opts()).run();
    expect(online.tables[0]).toMatchObject({ status: 'match' });
    expect(online.tables[0].note).toMatch(/keys above \(100\), written after the pass began, were not compared/);
  });

  it('a table without a primary key gets one whole-table checksum and is named as such', async () => {
    const v = new FakeVerifier();
    v.add('db.nokey', 50);
    v.keyless.add('db.nokey');
    v.target.get('db.nokey')!.set(7, 'x');
    const w = await new TableWalker(v, opts({ mode: 'strict' })).run();
    expect(w.tables[0]).toMatchObject({ status: 'mismatch', key: [], chunks: 1, note: expect.stringMatching(/no primary key/) });
    expect(w.tables[0].mismatches[0]).toMatchObject({ range: {}, source: { rows: 50 }, target: { rows: 50 } });
  });

  it('a key that cannot be walked in ranges gets a whole-table checksum, not narrowed', async () => {
    const v = new FakeVerifier();
    v.add('db.e', 300);
    const tables = v.tables.bind(v);
    v.tables = async (side) => (await tables(side)).map((t) => ({ ...t, unchunkable: 'primary key of type enum cannot be walked in ranges' }));
    v.target.get('db.e')!.set(7, 'x');
    const w = await new TableWalker(v, opts({ mode: 'strict' })).run();
    expect(w.tables[0]).toMatchObject({
      status: 'mismatch',
      key: ['id'],
      chunks: 1,
      note: 'primary key of type enum cannot be walked in ranges: compared by one whole-table checksum',
    });
    expect(w.tables[0].mismatches).toEqual([{ range: {}, source: { rows: 300 }, target: { rows: 300 } }]);
  });

  it('a time budget that runs out leaves the rest not compared and never claims success', async () => {
    const v = new FakeVerifier();
    v.add('db.a', 1000);
    v.add('db.b', 10);
    v.delayMs = 15;
    const w = await new TableWalker(v, opts({ mode: 'strict', timeBudgetSeconds: 0.1 })).run();
    expect(w.complete).toBe(false);
    const a = w.tables.find((t) => t.name === 'db.a')!;
    const b = w.tables.find((t) => t.name === 'db.b')!;
    expect(a).toMatchObject({ status: 'partial', complete: false });
    expect(a.chunks).toBeGreaterThan(0);
    expect(a.chunks).toBeLessThan(10);
    expect(a.note).toMatch(/^the time budget ran out: compared keys up to \(\d+\); the rest of the table was not compared$/);
    expect(b).toMatchObject({ status: 'not-compared', complete: false });
    const verdict = verdictOf(w);
    expect(verdict).toMatchObject({ ok: false, mismatches: 0, notCompared: ['db.a', 'db.b'] });
    expect(failureMessage(w, verdict)).toMatch(
      /^verify could not compare everything, so the data is NOT verified:\nnot \(completely\) compared: db\.a, db\.b \(the time budget ran out/,
    );
  });

  it('a table that fails to compare (dropped meanwhile) is not compared, with the error, and the others go on', async () => {
    const v = new FakeVerifier();
    v.add('db.a', 10);
    v.add('db.b', 10);
    const real = v.checksum.bind(v);
    v.checksum = async (side, table, range) => {
      if (table === 'db.a') throw new Error('relation "a" does not exist');
      return real(side, table, range);
    };
    const w = await new TableWalker(v, opts()).run();
    expect(w.tables.map((t) => [t.name, t.status, t.note ?? ''])).toEqual([
      ['db.a', 'not-compared', 'not compared: relation "a" does not exist'],
      ['db.b', 'match', expect.stringMatching(/^online: rows with keys above/)],
    ]);
    expect(verdictOf(w)).toMatchObject({ ok: false, notCompared: ['db.a'] });
    const message = failureMessage(w, verdictOf(w));
    expect(message).toContain('db.a: not compared: relation "a" does not exist');
  });

  it('pairs tables: missing on either side and different columns are mismatches; the filter leaves tables out', () => {
    const t = (name: string, columns = 'id int') => ({ name, key: ['id'], columns, estimatedRows: 1 });
    const r = pairTables([t('d.a'), t('d.b'), t('d.c', 'id int, x text'), t('d.skip')], [t('d.a'), t('d.c'), t('d.extra')], parseTableFilter('d.*, !d.skip'));
    expect(r.pairs.map((p) => p.name)).toEqual(['d.a']);
    expect(r.problems.map((p) => [p.name, p.status])).toEqual([
      ['d.b', 'missing-on-target'],
      ['d.c', 'columns-differ'],
      ['d.extra', 'missing-on-source'],
    ]);
    expect(r.excluded).toBe(1);
  });
});

describe('verify pieces', () => {
  it('filters tables by globs with exclusions', () => {
    const f = parseTableFilter('appdb.public.*, !appdb.public.audit_*  other.t?');
    expect(['appdb.public.orders', 'appdb.public.audit_2024', 'other.t1', 'other.t12', 'x.public.orders'].filter(f.matches)).toEqual([
      'appdb.public.orders',
      'other.t1',
    ]);
    expect(parseTableFilter('').matches('any.thing')).toBe(true);
    expect(() => parseTableFilter('!')).toThrow(/input verify-tables has an empty pattern/);
  });

  it('bounds the JSON report, keeping tables with problems first', () => {
    const tables = Array.from({ length: 300 }, (_, i) => ({
      name: `db.t${i}`,
      status: i === 299 ? ('mismatch' as const) : ('match' as const),
      key: ['id'],
      rows: 1,
      chunks: 1,
      rechecks: 0,
      complete: true,
      moreMismatches: 0,
      mismatches:
        i === 299
          ? Array.from({ length: 20 }, (_, j) => ({ range: { after: [String(j)], upTo: [String(j + 1)] }, source: { rows: 1 }, target: { rows: 1 } }))
          : [],
    }));
    const w = { tables, excluded: 0, complete: true, seconds: 1 };
    const text = reportJson(w, verdictOf(w), 'online', 4000);
    expect(text.length).toBeLessThanOrEqual(4000);
    const doc = JSON.parse(text);
    expect(doc).toMatchObject({ ok: false, mismatches: 20 });
    expect(doc.tables[0].name).toBe('db.t299');
    expect(doc.tablesLeftOut).toBeGreaterThan(0);
  });

  it('MySQL key ranges expand composite keys into index-friendly ORs', () => {
    const key = [
      { name: 'a', dataType: 'int', nullable: false },
      { name: 'b', dataType: 'varbinary', nullable: false },
    ];
    expect(keyCompare(key, ['1', 'ff'], '>')).toEqual({ sql: '(`a` > ? OR (`a` = ? AND `b` > UNHEX(?)))', params: ['1', '1', 'ff'] });
    expect(keyCompare(key, ['1', 'ff'], '<=')).toEqual({ sql: '(`a` < ? OR (`a` = ? AND `b` <= UNHEX(?)))', params: ['1', '1', 'ff'] });
    expect(keyCompare([key[0]], ['5'], '>')).toEqual({ sql: '`a` > ?', params: ['5'] });
    expect(
      rowExpression([
        { name: 'id', dataType: 'int', nullable: false },
        { name: 'note', dataType: 'varchar', nullable: true },
      ]),
    ).toBe("CONCAT_WS('#', `id`, CAST(`note` AS BINARY), CONCAT(ISNULL(`note`)))");
    expect(rowHash('r', true)).toBe('((CRC32(r) << 32) | CRC32C(r))');
    expect(rowHash('r', false)).toBe('CAST(CONV(SUBSTRING(SHA2(r, 256), 1, 16), 16, 10) AS UNSIGNED)');
  });

  it('reads the verify inputs with their defaults and refuses a zero chunk or a missing source', () => {
    const urls = { 'source-url': 'mariadb://root:pw@db-old:3306/', 'target-url': 'mariadb://root:pw@127.0.0.1:3307/' };
    const i = readInputs('verify', (n) => (urls as Record<string, string>)[n]);
    expect(i).toMatchObject({ verifyMode: 'online', verifyTables: '', chunkRows: 10000, rechecks: 5, timeBudgetSeconds: 0, heartbeatTable: 'zdm.heartbeat' });
    expect(readInputs('verify', (n) => ({ ...urls, 'verify-mode': 'strict', 'time-budget-seconds': '2.5' })[n])).toMatchObject({
      verifyMode: 'strict',
      timeBudgetSeconds: 2.5,
    });
    expect(() => readInputs('verify', (n) => ({ ...urls, 'chunk-rows': '0' })[n])).toThrow(/^input chunk-rows must be at least 1/);
    expect(() => readInputs('verify', (n) => ({ ...urls, 'verify-mode': 'fast' })[n])).toThrow(/input verify-mode must be one of online, strict/);
    expect(() => readInputs('verify', (n) => ({ 'target-url': urls['target-url'] })[n])).toThrow(/^input source-url is required by verify/);
  });

  it('the lag throttle pauses while the target is too far behind, resumes, and gives up with advice', async () => {
    const lines: string[] = [];
    const log = new TextLog((l) => lines.push(l));
    const sample = (bytes: number, fatal?: string): LagSample => ({ at: Date.now(), bytes, seconds: 0, streaming: true, detail: '', fatal });
    const readings = [5e6, 3e6, 1000];
    let calls = 0;
    const t = new LagThrottle({ measureLag: async () => (calls++, sample(readings.shift() ?? 0)) }, 1e6, log, 60_000, 5);
    await t.beforeChunk();
    expect(readings).toEqual([]);
    expect(lines[0]).toMatch(/^verify paused: the target is 4\.8 MB behind the source \(verify-max-lag-bytes 976\.6 kB\)$/);
    expect(lines.at(-1)).toBe('verify resumed: the target is 1000 B behind');
    // Within a second of the last reading no lag is measured again.
    await t.beforeChunk();
    expect(calls).toBe(3);
    const stuck = new LagThrottle({ measureLag: async () => sample(5e6) }, 1e6, log, 20, 5);
    await expect(stuck.beforeChunk()).rejects.toThrow(
      /the target is still 4\.8 MB behind the source: let it catch up \(await-lag-zero\), raise verify-max-lag-bytes/,
    );
    const broken = new LagThrottle({ measureLag: async () => sample(0, 'the slot lost WAL') }, 1e6, log);
    await expect(broken.beforeChunk()).rejects.toThrow(/^replication cannot catch up, so verify cannot go on: the slot lost WAL$/);
  });
});
