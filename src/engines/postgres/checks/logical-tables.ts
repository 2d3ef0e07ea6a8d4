/**
 * What of the source's data logical replication cannot carry: tables without a replica identity,
 * large objects, unlogged tables, extensions the target lacks. Each finding names what and how to fix it.
 */
import { fail, ok, verdict, warn, type CheckUnit, type Verdict } from '../../../checks/check.js';
import { one, rows } from '../connect.js';
import { listNames, tableLabel, tablesWithoutIdentity, unloggedTables, USER_TABLES } from '../logical/tables.js';
import type { PgCheckContext } from './context.js';
import { logicalOnly, usesLogical } from './logical-gate.js';
import { carried, heartbeatLabel, tableSelection } from '../logical/selection.js';

export const replicaIdentity: CheckUnit<PgCheckContext> = logicalOnly({
  id: 'logical-replica-identity',
  title: 'tables with a primary key or replica identity',
  scopes: ['seed'],
  async run(c) {
    const missing = carried(c.s, await tablesWithoutIdentity(await c.s.source()), tableLabel).map(tableLabel);
    if (missing.length === 0) return ok('every table has a primary key or a replica identity');
    const names = listNames(missing);
    if (c.s.inputs.replicaIdentityFull)
      return warn(
        `replica-identity-full: true: seed-replica sets REPLICA IDENTITY FULL on ${missing.length} table(s) without a primary key: ${names}. Every UPDATE and DELETE on them then logs the whole old row, and the target finds each row by scanning the table.`,
      );
    return fail(
      `${missing.length} table(s) have no primary key or replica identity: ${names}. Published, their UPDATE and DELETE would fail on the source and could not be applied on the target. ` +
        'Fix: add a primary key (ALTER TABLE <table> ADD PRIMARY KEY (<columns>)), or a unique index over NOT NULL columns and ALTER TABLE <table> REPLICA IDENTITY USING INDEX <index>; ' +
        'or set input replica-identity-full: true and zdm sets REPLICA IDENTITY FULL on them (slower updates and deletes on the target).',
    );
  },
});

export const largeObjects: CheckUnit<PgCheckContext> = logicalOnly({
  id: 'logical-large-objects',
  title: 'no large objects',
  scopes: ['seed'],
  async run(c) {
    // pg_largeobject_metadata is readable by every role (pg_largeobject is not).
    const { n } = await one<{ n: string }>(await c.s.source(), 'SELECT count(*)::text AS n FROM pg_largeobject_metadata');
    return verdict(
      n === '0',
      n === '0'
        ? 'none'
        : `the source holds ${n} large object(s) (pg_largeobject_metadata); logical replication does not carry large objects, so the target would lack them. Fix: move them into bytea columns (and lo_unlink them), or migrate with method: physical (same major).`,
    );
  },
});

/**
 * Unlogged tables warn rather than fail: their rows are not crash-safe by design (a crash empties
 * them), no replication carries them (a physical standby has them empty too), and refusing would
 * block every database that keeps a cache in one. The user learns which ones arrive empty.
 */
export const unlogged: CheckUnit<PgCheckContext> = logicalOnly({
  id: 'logical-unlogged-tables',
  title: 'unlogged tables',
  scopes: ['seed'],
  async run(c) {
    const names = carried(c.s, await unloggedTables(await c.s.source()), tableLabel).map(tableLabel);
    if (names.length === 0) return ok('none');
    return warn(
      `${names.length} unlogged table(s) are not replicated; the target has them empty: ${listNames(names)}. If their rows matter, ALTER TABLE <table> SET LOGGED on the source before seeding.`,
    );
  },
});

export const extensionsOnTarget: CheckUnit<PgCheckContext> = logicalOnly({
  id: 'logical-extensions',
  title: 'source extensions available on the target',
  scopes: ['seed'],
  async run(c) {
    const used = await rows<{ name: string; version: string }>(
      await c.s.source(),
      "SELECT extname AS name, extversion AS version FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
    );
    const available = new Set((await rows<{ name: string }>(await c.s.target(), 'SELECT name FROM pg_available_extensions')).map((r) => r.name));
    const missing = used.filter((e) => !available.has(e.name));
    if (missing.length === 0) return ok(used.length ? used.map((e) => e.name).join(', ') : 'none used');
    return missing.map((e) =>
      fail(
        `extension ${e.name} (${e.version} on the source) is not available on the target (pg_available_extensions): the schema cannot be created there. Install the package that provides ${e.name} for the target's major on the target host, or DROP EXTENSION ${e.name} on the source if it is unused.`,
      ),
    );
  },
});

/** The `tables` input: only a logical seed can leave tables out. No row without it. */
export const tablesInput: CheckUnit<PgCheckContext> = {
  id: 'tables-filter',
  title: 'tables carried (tables input)',
  scopes: ['seed'],
  async run(c): Promise<Verdict | Verdict[]> {
    const only = tableSelection(c.s);
    if (!only) return [];
    if (!(await usesLogical(c)))
      return fail(
        `tables: ${c.s.inputs.tables} leaves tables out, which only method: logical can do (a physical copy carries the whole server). Set method: logical, or leave tables empty.`,
      );
    const all = await rows<{ schema: string; name: string }>(
      await c.s.source(),
      `SELECT n.nspname AS schema, c.relname AS name ${USER_TABLES} AND NOT c.relispartition ORDER BY 1, 2`,
    );
    const kept = all.filter((t) => only(tableLabel(t)));
    const hb = heartbeatLabel(c.s.inputs.heartbeatTable);
    if (!kept.some((t) => tableLabel(t) !== hb))
      return fail(
        `tables: ${c.s.inputs.tables} selects none of the source's ${all.length} table(s) but zdm's heartbeat table: check the patterns (schema.table, e.g. public.*).`,
      );
    const left = all.length - kept.length;
    return ok(
      `${kept.length} of ${all.length} table(s) carried${left ? `; left out: ${listNames(all.filter((t) => !only(tableLabel(t))).map(tableLabel))}` : ''}`,
    );
  },
};
