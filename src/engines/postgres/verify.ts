/**
 * PgVerifier: the SQL of `verify` for PostgreSQL. Every database of the cluster is compared (a
 * physical copy moves them all); checksums are computed by the servers: a row count and the sum
 * of a 64-bit hash of each row's text, over one primary-key range at a time.
 */
import type { ChunkSum, Key, KeyRange, Side, TableInfo, TableVerifier } from '../../verify/types.js';
import type { Verify } from '../engine.js';
import type { PgSession } from './session.js';
import type { Endpoint } from '../../hosts/endpoint.js';
import type { Inputs } from '../../inputs.js';
import { connectPg, one, quoteIdent, rows, type PgClient } from './connect.js';
import { lsnDiff } from './lsn.js';
import { FINGERPRINT_SCHEMA, FINGERPRINT_TABLE } from './logical/schema-guard.js';

interface PgTable {
  db: string;
  /** "schema"."table" */
  qualified: string;
  key: string[];
  keyTypes: string[];
}

/**
 * Session settings that make a row's text the same on both sides whatever the servers' defaults:
 * time zone and date/interval styles shape timestamps, extra_float_digits floats, bytea_output bytes,
 * lc_monetary the money type. Across majors (a logical migration, 13 -> 17 say) the same values then
 * give the same text: since PostgreSQL 12 any extra_float_digits > 0 prints floats in their
 * shortest exact form (test/integration/verify-cross-major.test.ts proves it on tricky values).
 * hashtextextended of the row's text measured 2x faster than an MD5 slice here.
 */
const SESSION = [
  "SET TimeZone = 'UTC'",
  "SET DateStyle = 'ISO, MDY'",
  "SET IntervalStyle = 'postgres'",
  'SET extra_float_digits = 1',
  "SET bytea_output = 'hex'",
  "SET lc_monetary = 'C'",
  'SET statement_timeout = 0',
  // The n-th key of a range must come from walking the primary key index; on a table never analyzed
  // the planner would rather sort the whole rest of the table (about 60x slower here).
  'SET enable_sort = off',
];

/** Connections kept open at once, over both sides and every database. */
const MAX_CONNECTIONS = 6;

const TABLES_SQL = `
SELECT n.nspname AS schema, c.relname AS name, c.relpersistence AS persistence, greatest(c.reltuples, 0)::bigint AS est,
  coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
     FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
     WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS key,
  coalesce((SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord)
     FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
     WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS key_types,
  (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
ORDER BY 1, 2`;

/** A hot standby cancels a query that conflicts with replay (SQLSTATE 40001): such a query is simply run again. */
async function retryConflicts<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if ((e as { code?: string }).code !== '40001' || attempt >= 5) throw e;
    }
  }
}

export class PgVerifier implements TableVerifier {
  private readonly conns = new Map<string, Promise<PgClient>>();
  private readonly known = new Map<string, PgTable>();
  /** Set by targetReplicates (asked by waitApplied if not yet): the target applies the source's changes through zdm's subscription. */
  private logical: boolean | undefined;

  constructor(
    private readonly inputs: Inputs,
    /** Where each side is reached from the runner. */
    private readonly endpoint: (side: Side) => Endpoint,
  ) {}

  /**
   * One connection per side and database, the most recently used kept (tables are walked database
   * by database): a cluster with hundreds of databases must not cost hundreds of connections.
   */
  private conn(side: Side, db: string): Promise<PgClient> {
    const id = `${side}\0${db}`;
    let c = this.conns.get(id);
    if (c) {
      this.conns.delete(id);
      this.conns.set(id, c);
      return c;
    }
    c = (async () => {
      const client = await connectPg(this.endpoint(side).connectUrl, { input: this.endpoint(side).input, side, database: db, applicationName: 'zdm_verify' });
      try {
        for (const sql of SESSION) await client.query(sql);
      } catch (e) {
        await client.end().catch(() => undefined);
        throw e;
      }
      return client;
    })();
    this.conns.set(id, c);
    c.catch(() => this.conns.delete(id));
    this.evict();
    return c;
  }

  /** Closes the least recently used connections beyond MAX_CONNECTIONS, never the default database's. */
  private evict(): void {
    const pinned = new Set([`source\0${this.defaultDb('source')}`, `target\0${this.defaultDb('target')}`]);
    for (const [id, c] of this.conns) {
      if (this.conns.size <= MAX_CONNECTIONS) return;
      if (pinned.has(id)) continue;
      this.conns.delete(id);
      void c.then((client) => client.end()).catch(() => undefined);
    }
  }

  private defaultDb(side: Side): string {
    return decodeURIComponent(this.endpoint(side).given.pathname.replace(/^\//, '')) || 'postgres';
  }

  async tables(side: Side): Promise<TableInfo[]> {
    const first = await this.conn(side, this.defaultDb(side));
    const dbs = await rows<{ datname: string }>(first, 'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1');
    const hb = this.inputs.heartbeatTable.includes('.') ? this.inputs.heartbeatTable : `public.${this.inputs.heartbeatTable}`;
    const skip = `${this.defaultDb('source')}.${hb}`;
    const out: TableInfo[] = [];
    for (const { datname: db } of dbs) {
      const c = await this.conn(side, db);
      const list = await rows<{ schema: string; name: string; persistence: string; est: string; key: string[]; key_types: string[]; columns: string }>(
        c,
        TABLES_SQL,
      );
      for (const t of list) {
        const name = `${db}.${t.schema}.${t.name}`;
        // zdm's own: the heartbeat, and the schema fingerprint a logical seed keeps on the target.
        if (name === skip || (t.schema === FINGERPRINT_SCHEMA && t.name === FINGERPRINT_TABLE)) continue;
        this.known.set(`${side}\0${name}`, { db, qualified: `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`, key: t.key, keyTypes: t.key_types });
        out.push({
          name,
          key: t.key,
          columns: t.columns ?? '',
          estimatedRows: Number(t.est),
          uncomparable:
            t.persistence === 'u'
              ? 'unlogged table: physical replication does not copy its rows, so the target has none (leave it out with verify-tables: !<name> if that is expected)'
              : undefined,
        });
      }
    }
    return out;
  }

  private table(side: Side, name: string): PgTable {
    const t = this.known.get(`${side}\0${name}`);
    if (!t) throw new Error(`verify: table ${name} was not listed on the ${side}`);
    return t;
  }

  /** WHERE clause and parameters for a key range. */
  private where(t: PgTable, range: KeyRange): { sql: string; params: string[] } {
    const cols = `(${t.key.map(quoteIdent).join(', ')})`;
    const params: string[] = [];
    const vals = (k: Key) => `(${k.map((v, i) => (params.push(v), `$${params.length}::${t.keyTypes[i]}`)).join(', ')})`;
    const parts: string[] = [];
    if (range.after) parts.push(`${cols} > ${vals(range.after)}`);
    if (range.upTo) parts.push(`${cols} <= ${vals(range.upTo)}`);
    return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
  }

  private keySelect(t: PgTable): string {
    return t.key.map((k, i) => `zdm_r.${quoteIdent(k)}::text AS k${i}`).join(', ');
  }

  /** Qualified: a bare name in ORDER BY would mean an output column of the same name (a k0 alias). */
  private order(t: PgTable, desc = false): string {
    return t.key.map((k) => `zdm_r.${quoteIdent(k)}${desc ? ' DESC' : ''}`).join(', ');
  }

  private async keyQuery(side: Side, name: string, range: KeyRange, order: 'asc' | 'desc', offset: number): Promise<Key | undefined> {
    const t = this.table(side, name);
    const w = this.where(t, range);
    const c = await this.conn(side, t.db);
    const r = await retryConflicts(() =>
      rows<Record<string, string>>(
        c,
        `SELECT ${this.keySelect(t)} FROM ${t.qualified} AS zdm_r ${w.sql} ORDER BY ${this.order(t, order === 'desc')} LIMIT 1 OFFSET ${Math.max(0, Math.floor(offset))}`,
        w.params,
      ),
    );
    return r[0] ? t.key.map((_, i) => r[0][`k${i}`]) : undefined;
  }

  async boundary(side: Side, name: string, range: KeyRange, n: number): Promise<Key | undefined> {
    return (await this.keyQuery(side, name, range, 'asc', n - 1)) ?? (await this.keyQuery(side, name, range, 'desc', 0));
  }

  async edges(side: Side, name: string, range: KeyRange): Promise<{ first?: Key; last?: Key }> {
    const first = await this.keyQuery(side, name, range, 'asc', 0);
    return first ? { first, last: await this.keyQuery(side, name, range, 'desc', 0) } : {};
  }

  async checksum(side: Side, name: string, range: KeyRange): Promise<ChunkSum> {
    const t = this.table(side, name);
    const w = t.key.length ? this.where(t, range) : { sql: '', params: [] };
    const c = await this.conn(side, t.db);
    // hashtextextended is the stable 64-bit hash hash partitioning relies on; a sum does not depend on row order.
    const r = await retryConflicts(() =>
      one<{ n: string; h: string }>(
        c,
        `SELECT count(*)::bigint AS n, coalesce(sum(hashtextextended(ROW(zdm_r.*)::text, 0)), 0)::text AS h FROM ${t.qualified} AS zdm_r ${w.sql}`,
        w.params,
      ),
    );
    return { rows: Number(r.n), hash: r.h };
  }

  /** A standby, or (the logical method) a primary with zdm's subscription: both go on applying the source's changes. */
  async targetReplicates(): Promise<boolean> {
    const c = await this.conn('target', this.defaultDb('target'));
    const r = await one<{ rec: boolean; sub: boolean }>(
      c,
      `SELECT pg_is_in_recovery() AS rec,
              EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS sub`,
      [this.inputs.replicationSlot],
    );
    this.logical = !r.rec && r.sub;
    return r.rec || r.sub;
  }

  async sourcePosition(): Promise<string> {
    const c = await this.conn('source', this.defaultDb('source'));
    return (await one<{ lsn: string }>(c, 'SELECT pg_current_wal_lsn()::text AS lsn')).lsn;
  }

  /**
   * A standby: its replay position. A logical replica: the source's slot, whose confirmed position
   * the subscription advances once it has applied and flushed the changes up to it.
   */
  async waitApplied(position: string, timeoutMs: number): Promise<boolean> {
    if (this.logical === undefined) await this.targetReplicates();
    const logical = this.logical === true;
    const c = logical ? await this.conn('source', this.defaultDb('source')) : await this.conn('target', this.defaultDb('target'));
    const sql = logical
      ? 'SELECT confirmed_flush_lsn::text AS replay FROM pg_replication_slots WHERE slot_name = $1'
      : 'SELECT pg_last_wal_replay_lsn()::text AS replay';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await rows<{ replay: string | null }>(c, sql, logical ? [this.inputs.replicationSlot] : []);
      const replay = r[0]?.replay;
      if (replay && lsnDiff(position, replay) <= 0) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((p) => p.then((c) => c.end()).catch(() => undefined)));
  }
}

/** The verify step's access to both sides, each through its own connections. */
export function pgVerify(s: PgSession): Verify {
  return { verifier: () => new PgVerifier(s.inputs, (side) => s.endpoint(side)) };
}
