/**
 * MyVerifier: the SQL of `verify` for MySQL and MariaDB. Like pt-table-checksum, each side hashes
 * every row of a primary-key range inside the server (the columns joined with '#', plus a NULL map
 * so that NULL and '' differ) and returns a row count and a sum of 64-bit row hashes.
 */
import type { ChunkSum, Key, KeyRange, Side, TableInfo, TableVerifier } from '../../verify/types.js';
import type { Verify } from '../engine.js';
import type { MySession } from './session.js';
import type { Endpoint } from '../../hosts/endpoint.js';
import type { Inputs } from '../../inputs.js';
import { connectMy, one, rows, type MyConn } from './connect.js';
import { detectFlavor, quoteName, type Flavor } from './flavor.js';

const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'];
const BINARY_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob']);
const TEMPORAL_TYPES = new Set(['date', 'datetime', 'timestamp', 'time', 'year']);
/** Text columns go in as their bytes: CONCAT_WS over columns of different collations would fail. */
const TEXT_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set']);
/**
 * Key types whose order and whose comparison with a parameter disagree (ENUM and SET sort by
 * their index but compare as strings) or whose text does not round-trip (FLOAT, DOUBLE, BIT).
 */
const UNCHUNKABLE_KEY_TYPES = new Set(['enum', 'set', 'float', 'double', 'real', 'bit']);

interface MyColumn {
  name: string;
  dataType: string;
  nullable: boolean;
}

interface MyTable {
  qualified: string;
  key: MyColumn[];
  columns: MyColumn[];
}

/** How a key column is read as text and how that text is given back as a parameter. */
function keyIo(c: MyColumn): { read: string; param: string } {
  const q = quoteName(c.name);
  if (BINARY_TYPES.has(c.dataType)) return { read: `HEX(${q})`, param: 'UNHEX(?)' };
  if (TEMPORAL_TYPES.has(c.dataType)) return { read: `CAST(${q} AS CHAR)`, param: '?' };
  return { read: q, param: '?' };
}

/** The row's text for hashing, column by column in table order. */
export function rowExpression(columns: MyColumn[]): string {
  const parts = columns.map((c) => (TEXT_TYPES.has(c.dataType) ? `CAST(${quoteName(c.name)} AS BINARY)` : quoteName(c.name)));
  const nullable = columns.filter((c) => c.nullable).map((c) => `ISNULL(${quoteName(c.name)})`);
  if (nullable.length) parts.push(`CONCAT(${nullable.join(', ')})`);
  return `CONCAT_WS('#', ${parts.join(', ')})`;
}

/** key > k (exclusive) as an OR of prefixes, which both MySQL and MariaDB turn into index ranges. */
export function keyCompare(key: MyColumn[], k: Key, op: '>' | '<='): { sql: string; params: string[] } {
  const io = key.map(keyIo);
  const terms: string[] = [];
  const params: string[] = [];
  for (let i = 0; i < key.length; i++) {
    const conds: string[] = [];
    for (let j = 0; j < i; j++) {
      conds.push(`${quoteName(key[j].name)} = ${io[j].param}`);
      params.push(k[j]);
    }
    const last = i === key.length - 1;
    const strict = op === '>' ? '>' : last ? '<=' : '<';
    conds.push(`${quoteName(key[i].name)} ${strict} ${io[i].param}`);
    params.push(k[i]);
    terms.push(conds.length > 1 ? `(${conds.join(' AND ')})` : conds[0]);
  }
  return { sql: terms.length > 1 ? `(${terms.join(' OR ')})` : terms[0], params };
}

/**
 * A 64-bit hash of a row's text. Where both servers have CRC32C (MariaDB 10.8+), CRC32 and CRC32C,
 * two different polynomials, make the 64 bits: 3-4x faster here than a SHA-256 slice, which is the
 * portable fallback (MySQL has no CRC32C; CRC32 of a changed prefix would add no information). Not
 * MD5: MySQL 9.7 removed MD5() and SHA1() (an unknown function there, measured on 9.7.4).
 */
export function rowHash(row: string, crc32c: boolean): string {
  return crc32c ? `((CRC32(${row}) << 32) | CRC32C(${row}))` : `CAST(CONV(SUBSTRING(SHA2(${row}, 256), 1, 16), 16, 10) AS UNSIGNED)`;
}

export class MyVerifier implements TableVerifier {
  private readonly conns = new Map<Side, Promise<MyConn>>();
  private readonly known = new Map<string, MyTable>();
  private flavorOf?: Flavor;
  private crc32c?: Promise<boolean>;

  constructor(
    private readonly inputs: Inputs,
    /** Where each side is reached from the runner. */
    private readonly endpoint: (side: Side) => Endpoint,
  ) {}

  private conn(side: Side): Promise<MyConn> {
    let c = this.conns.get(side);
    if (!c) {
      c = (async () => {
        const e = this.endpoint(side);
        const conn = await connectMy(e.connectUrl, { input: e.input, side });
        // Each checksum is one consistent read; TIMESTAMP columns render in UTC on both sides.
        try {
          await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
          await conn.query("SET SESSION time_zone = '+00:00'");
        } catch (e) {
          conn.destroy();
          throw e;
        }
        return conn;
      })();
      this.conns.set(side, c);
      c.catch(() => this.conns.delete(side));
    }
    return c;
  }

  private async flavor(): Promise<Flavor> {
    if (!this.flavorOf) {
      const { v } = await one<{ v: string }>(await this.conn('target'), 'SELECT VERSION() AS v');
      this.flavorOf = detectFlavor(v);
    }
    return this.flavorOf;
  }

  /** Whether both sides have CRC32C; decided once so that both compute the same hash. */
  private hasCrc32c(): Promise<boolean> {
    const probe = async (side: Side) =>
      rows(await this.conn(side), "SELECT CRC32C('zdm') AS c").then(
        () => true,
        () => false,
      );
    this.crc32c ??= Promise.all([probe('source'), probe('target')]).then(([a, b]) => a && b);
    return this.crc32c;
  }

  async tables(side: Side): Promise<TableInfo[]> {
    const c = await this.conn(side);
    const marks = SYSTEM_SCHEMAS.map(() => '?').join(', ');
    const [tables, columns, keys] = await Promise.all([
      rows<{ s: string; t: string; est: string | null }>(
        c,
        `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, TABLE_ROWS AS est FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (${marks}) ORDER BY 1, 2`,
        SYSTEM_SCHEMAS,
      ),
      rows<{ s: string; t: string; c: string; dt: string; ct: string; nul: string }>(
        c,
        `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, COLUMN_NAME AS c, DATA_TYPE AS dt, COLUMN_TYPE AS ct, IS_NULLABLE AS nul FROM information_schema.COLUMNS WHERE TABLE_SCHEMA NOT IN (${marks}) ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`,
        SYSTEM_SCHEMAS,
      ),
      rows<{ s: string; t: string; c: string }>(
        c,
        `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.STATISTICS WHERE INDEX_NAME = 'PRIMARY' AND TABLE_SCHEMA NOT IN (${marks}) ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX`,
        SYSTEM_SCHEMAS,
      ),
    ]);
    const id = (s: string, t: string) => `${s}.${t}`;
    const cols = new Map<string, (MyColumn & { type: string })[]>();
    for (const r of columns) {
      const list = cols.get(id(r.s, r.t)) ?? [];
      list.push({ name: r.c, dataType: String(r.dt).toLowerCase(), nullable: r.nul === 'YES', type: String(r.ct) });
      cols.set(id(r.s, r.t), list);
    }
    const keyNames = new Map<string, string[]>();
    for (const r of keys) keyNames.set(id(r.s, r.t), [...(keyNames.get(id(r.s, r.t)) ?? []), r.c]);
    const out: TableInfo[] = [];
    for (const r of tables) {
      const name = id(r.s, r.t);
      if (name === this.inputs.heartbeatTable) continue;
      const columnList = cols.get(name) ?? [];
      const key = (keyNames.get(name) ?? []).map((k) => columnList.find((c) => c.name === k)!);
      this.known.set(`${side}\0${name}`, { qualified: `${quoteName(r.s)}.${quoteName(r.t)}`, key, columns: columnList });
      out.push({
        name,
        key: key.map((k) => k.name),
        columns: columnList.map((c) => `${quoteName(c.name)} ${c.type}${c.nullable ? '' : ' NOT NULL'}`).join(', '),
        estimatedRows: Number(r.est ?? 0),
        unchunkable: key.some((k) => UNCHUNKABLE_KEY_TYPES.has(k.dataType))
          ? `primary key of type ${key.map((k) => k.dataType).join(', ')} cannot be walked in ranges`
          : undefined,
      });
    }
    return out;
  }

  private table(side: Side, name: string): MyTable {
    const t = this.known.get(`${side}\0${name}`);
    if (!t) throw new Error(`verify: table ${name} was not listed on the ${side}`);
    return t;
  }

  private where(t: MyTable, range: KeyRange): { sql: string; params: string[] } {
    const parts: string[] = [];
    const params: string[] = [];
    for (const [k, op] of [
      [range.after, '>'],
      [range.upTo, '<='],
    ] as const) {
      if (!k) continue;
      const c = keyCompare(t.key, k, op);
      parts.push(c.sql);
      params.push(...c.params);
    }
    return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
  }

  private async keyQuery(side: Side, name: string, range: KeyRange, desc: boolean, offset: number): Promise<Key | undefined> {
    const t = this.table(side, name);
    const w = this.where(t, range);
    const read = t.key.map((k, i) => `${keyIo(k).read} AS k${i}`).join(', ');
    // Qualified: a bare name in ORDER BY would mean an output column of the same name (a k0 alias).
    const order = t.key.map((k) => `zdm_r.${quoteName(k.name)}${desc ? ' DESC' : ''}`).join(', ');
    const r = await rows(
      await this.conn(side),
      `SELECT ${read} FROM ${t.qualified} AS zdm_r FORCE INDEX (PRIMARY) ${w.sql} ORDER BY ${order} LIMIT ${Math.max(0, Math.floor(offset))}, 1`,
      w.params,
    );
    return r[0] ? t.key.map((_, i) => String(r[0][`k${i}`])) : undefined;
  }

  async boundary(side: Side, name: string, range: KeyRange, n: number): Promise<Key | undefined> {
    return (await this.keyQuery(side, name, range, false, n - 1)) ?? (await this.keyQuery(side, name, range, true, 0));
  }

  async edges(side: Side, name: string, range: KeyRange): Promise<{ first?: Key; last?: Key }> {
    const first = await this.keyQuery(side, name, range, false, 0);
    return first ? { first, last: await this.keyQuery(side, name, range, true, 0) } : {};
  }

  async checksum(side: Side, name: string, range: KeyRange): Promise<ChunkSum> {
    const t = this.table(side, name);
    const keyed = t.key.length > 0;
    const w = keyed ? this.where(t, range) : { sql: '', params: [] };
    const hash = rowHash(rowExpression(t.columns), await this.hasCrc32c());
    const r = await one<{ n: string | number; h: string | number }>(
      await this.conn(side),
      `SELECT COUNT(*) AS n, COALESCE(SUM(${hash}), 0) AS h FROM ${t.qualified}${keyed ? ' FORCE INDEX (PRIMARY)' : ''} ${w.sql}`,
      w.params,
    );
    return { rows: Number(r.n), hash: String(r.h) };
  }

  async targetReplicates(): Promise<boolean> {
    const flavor = await this.flavor();
    return (await rows(await this.conn('target'), flavor.showReplicaStatus)).length > 0;
  }

  async sourcePosition(): Promise<string> {
    const flavor = await this.flavor();
    const c = await this.conn('source');
    const { g } = await one<{ g: string | null }>(c, `SELECT @@GLOBAL.${flavor.gtidExecutedVariable} AS g`);
    const gtid = String(g ?? '').replace(/\s+/g, '');
    if (gtid) return `gtid:${gtid}`;
    const st = await one(c, flavor.showBinlogStatus);
    return `${st.File}:${st.Position}`;
  }

  async waitApplied(position: string, timeoutMs: number): Promise<boolean> {
    const flavor = await this.flavor();
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const c = await this.conn('target');
    if (position.startsWith('gtid:')) {
      const q = flavor.waitForGtid(position.slice(5), seconds);
      const { r } = await one<{ r: unknown }>(c, q.sql, q.params);
      return r !== null && Number(r) === 0;
    }
    const at = position.lastIndexOf(':');
    const q = flavor.waitForPosition(position.slice(0, at), Number(position.slice(at + 1)), seconds);
    const { r } = await one<{ r: unknown }>(c, q.sql, q.params);
    return r !== null && Number(r) >= 0;
  }

  async close(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((p) => p.then((c) => c.end()).catch(() => undefined)));
  }
}

/** The verify step's access to both sides, each through its own connections. */
export function myVerify(s: MySession): Verify {
  return { verifier: () => new MyVerifier(s.inputs, (side) => s.endpoint(side)) };
}
