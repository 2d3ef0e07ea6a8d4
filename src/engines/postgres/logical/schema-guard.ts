/**
 * The DDL guard of a logical migration. Logical replication carries rows, never DDL: a column added
 * on the source stops the subscription ("target relation is missing replicated columns"), a table
 * created on the source is simply not replicated, a type changed there can make rows differ. So the
 * source's schema is fingerprinted when the seed has copied it, and cutover refuses, naming each
 * change, when the source's schema is no longer what was copied.
 *
 * A catalog fingerprint rather than an event trigger: an event trigger needs superuser on the source
 * (managed services give none, and a logical migration must work without it) and writes into the
 * source; reading pg_class, pg_attribute, pg_constraint, pg_index and pg_sequence needs no privilege.
 * What it cannot see: a change made and undone between seed and cutover (which leaves nothing to
 * break), and changes outside what it lists (comments, grants, functions, views, triggers).
 *
 * The fingerprint is kept on the target, in zdm.schema_fingerprint, one row per object with its
 * definition, so that the comparison can say what changed, and so that it travels between jobs
 * without outputs. verify leaves that table out.
 */
import { SafetyError } from '../../../errors.js';
import { rows, type PgClient } from '../connect.js';
import { USER_TABLES } from './tables.js';

/** Where the fingerprint lives on the target. */
export const FINGERPRINT_SCHEMA = 'zdm';
export const FINGERPRINT_TABLE = 'schema_fingerprint';
const STORE = `${FINGERPRINT_SCHEMA}.${FINGERPRINT_TABLE}`;

export interface SchemaGuardOptions {
  /**
   * Tables zdm itself creates on the source after the seed, as schema.table: their appearance is
   * no change of the application's schema. Default: the default heartbeat table, public.zdm_heartbeat.
   */
  ignore?: readonly string[];
  /** The tables (schema.table) whose objects are compared; undefined: every table. Sequences and enums are always compared. */
  keep?: (table: string) => boolean;
}

/** One object of the schema: e.g. { kind: 'column', name: 'public.orders.note', parent: 'public.orders', definition: 'text' }. */
export type SchemaObject = {
  kind: string;
  name: string;
  /** The table a column, constraint or index belongs to. */
  parent: string | null;
  definition: string;
};

const SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', '${FINGERPRINT_SCHEMA}') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;
const NOT_EXTENSION = (cls: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${cls}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;
const TABLE_LABEL = `n.nspname || '.' || c.relname`;

/** Every object the guard watches, read from the source's catalogs (no privilege needed). */
const FINGERPRINT_SQL = `
WITH t AS (SELECT c.oid, c.relkind, c.relpersistence, c.relreplident, ${TABLE_LABEL} AS label ${USER_TABLES} AND n.nspname <> '${FINGERPRINT_SCHEMA}')
SELECT 'table' AS kind, t.label AS name, NULL AS parent,
  CASE t.relkind WHEN 'p' THEN 'partitioned' ELSE 'plain' END || CASE t.relpersistence WHEN 'u' THEN ', unlogged' ELSE '' END
  || ', replica identity ' || CASE t.relreplident WHEN 'd' THEN 'default' WHEN 'f' THEN 'full' WHEN 'n' THEN 'nothing' ELSE 'index' END AS definition
FROM t
UNION ALL
SELECT 'column', t.label || '.' || a.attname, t.label,
  format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
  || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef ad ON ad.adrelid = t.oid AND ad.adnum = a.attnum
UNION ALL
SELECT 'constraint', t.label || '.' || co.conname, t.label, pg_get_constraintdef(co.oid)
FROM t JOIN pg_constraint co ON co.conrelid = t.oid
UNION ALL
SELECT 'index', n.nspname || '.' || ic.relname, t.label, pg_get_indexdef(i.indexrelid)
FROM t JOIN pg_index i ON i.indrelid = t.oid JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid AND co.conrelid = t.oid)
UNION ALL
SELECT 'sequence', ${TABLE_LABEL}, NULL,
  format_type(s.seqtypid, NULL) || ' increment ' || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid
WHERE c.relkind = 'S' AND ${SCHEMAS} AND ${NOT_EXTENSION('pg_class', 'c.oid')}
UNION ALL
SELECT 'enum', n.nspname || '.' || ty.typname, NULL, string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
FROM pg_type ty JOIN pg_namespace n ON n.oid = ty.typnamespace JOIN pg_enum e ON e.enumtypid = ty.oid
WHERE ${SCHEMAS} AND ${NOT_EXTENSION('pg_type', 'ty.oid')}
GROUP BY n.nspname, ty.typname`;

async function fingerprint(source: PgClient, opts: SchemaGuardOptions): Promise<SchemaObject[]> {
  const ignore = new Set(opts.ignore ?? ['public.zdm_heartbeat']);
  const all = await rows<SchemaObject>(source, FINGERPRINT_SQL);
  const table = (o: SchemaObject) => (o.kind === 'table' ? o.name : o.parent);
  return all.filter((o) => !ignore.has(o.parent ?? o.name) && !(opts.keep && table(o) !== null && !opts.keep(table(o)!)));
}

/**
 * The source's schema as the guard sees it. Read it before pg_dump copies the schema, and store it
 * on the target once the schema is loaded (storeSchema): DDL made between the two is then reported
 * at cutover (a refusal on the safe side) instead of being missed.
 */
export async function readSchema(source: PgClient, opts: SchemaGuardOptions = {}): Promise<SchemaObject[]> {
  return fingerprint(source, opts);
}

/** Stores a fingerprint on the target, replacing an earlier one, in one transaction. */
export async function storeSchema(target: PgClient, objects: readonly SchemaObject[]): Promise<void> {
  await target.query('BEGIN');
  try {
    await target.query(`CREATE SCHEMA IF NOT EXISTS ${FINGERPRINT_SCHEMA}`);
    await target.query(
      `CREATE TABLE IF NOT EXISTS ${STORE} (kind text NOT NULL, name text NOT NULL, parent text, definition text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, name))`,
    );
    await target.query(`DELETE FROM ${STORE}`);
    await target.query(`INSERT INTO ${STORE} (kind, name, parent, definition) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])`, [
      objects.map((o) => o.kind),
      objects.map((o) => o.name),
      objects.map((o) => o.parent),
      objects.map((o) => o.definition),
    ]);
    await target.query('COMMIT');
  } catch (e) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** readSchema then storeSchema: the source's schema as of now, kept on the target. */
export async function recordSchema(source: PgClient, target: PgClient, opts: SchemaGuardOptions = {}): Promise<void> {
  await storeSchema(target, await readSchema(source, opts));
}

/** The fingerprint kept on the target; undefined when none was recorded. */
async function recorded(target: PgClient): Promise<SchemaObject[] | undefined> {
  const [{ present }] = await rows<{ present: boolean }>(target, 'SELECT to_regclass($1) IS NOT NULL AS present', [STORE]);
  if (!present) return undefined;
  return rows<SchemaObject>(target, `SELECT kind, name, parent, definition FROM ${STORE}`);
}

/**
 * What changed in the source's schema since recordSchema, one line per change, e.g. "column
 * public.orders.note added (text)"; empty when nothing did. The parts of a table added or dropped
 * are not listed again. No fingerprint on the target is itself a line: without it nothing is proven.
 */
export async function schemaChanges(source: PgClient, target: PgClient, opts: SchemaGuardOptions = {}): Promise<string[]> {
  const before = await recorded(target);
  if (!before)
    return [
      `no schema fingerprint on the target (${STORE}): seed-replica records the source's schema when it seeds by logical replication, and without it DDL on the source since then cannot be ruled out`,
    ];
  return diffSchemas(before, await fingerprint(source, opts));
}

/** The lines naming each difference between two fingerprints, in name order. */
export function diffSchemas(before: readonly SchemaObject[], after: readonly SchemaObject[]): string[] {
  const key = (o: SchemaObject) => `${o.kind}\0${o.name}`;
  const old = new Map(before.map((o) => [key(o), o]));
  const now = new Map(after.map((o) => [key(o), o]));
  const tables = (m: Map<string, SchemaObject>, other: Map<string, SchemaObject>) =>
    new Set([...m.values()].filter((o) => o.kind === 'table' && !other.has(key(o))).map((o) => o.name));
  const addedTables = tables(now, old);
  const droppedTables = tables(old, now);
  const lines: { name: string; line: string }[] = [];
  for (const o of now.values()) {
    const was = old.get(key(o));
    if (!was) {
      if (!(o.parent && addedTables.has(o.parent))) lines.push({ name: o.name, line: `${o.kind} ${o.name} added (${o.definition})` });
    } else if (was.definition !== o.definition) {
      lines.push({ name: o.name, line: `${o.kind} ${o.name} changed (${was.definition} -> ${o.definition})` });
    }
  }
  for (const o of old.values())
    if (!now.has(key(o)) && !(o.parent && droppedTables.has(o.parent))) lines.push({ name: o.name, line: `${o.kind} ${o.name} dropped (was ${o.definition})` });
  return lines.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((l) => l.line);
}

/**
 * Cutover's refusal: throws, naming each change and what to do, when the source's schema changed
 * since the seed. Call it before the fence (a refusal then costs no downtime) and again once writes
 * are fenced (DDL made in between).
 */
export async function refuseSchemaChanges(source: PgClient, target: PgClient, opts: SchemaGuardOptions = {}): Promise<void> {
  const changes = await schemaChanges(source, target, opts);
  if (changes.length === 0) return;
  throw new SafetyError(schemaChangeMessage(changes));
}

export function schemaChangeMessage(changes: readonly string[]): string {
  return (
    `the source's schema is not proven unchanged since seed-replica copied it, and logical replication does not carry DDL:\n${changes.map((c) => `- ${c}`).join('\n')}\n` +
    'Nothing was switched. Apply the same DDL on the target (the subscription then goes on) and record the schema again (seed-replica), or undo the change on the source.'
  );
}

/** Removes the fingerprint from the target (after cutover: the target is the primary now, and a reverse publication must not carry zdm's table). */
export async function forgetSchema(target: PgClient): Promise<void> {
  await target.query(`DROP TABLE IF EXISTS ${STORE}`);
}
