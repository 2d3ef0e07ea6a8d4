/**
 * The source's tables as logical replication sees them: which ones it can publish, which ones lack
 * what UPDATE and DELETE need to be replicated (a replica identity), and the one fix zdm may make
 * for those when asked (REPLICA IDENTITY FULL).
 */
import { UserError } from '../../../errors.js';
import { quoteIdent, rows, type PgClient } from '../connect.js';

export interface TableName {
  schema: string;
  name: string;
}

/** schema.table as people read it (unquoted). */
export const tableLabel = (t: TableName): string => `${t.schema}.${t.name}`;

/** Names listed in a message: the first few, then how many more. */
export function listNames(names: readonly string[], max = 15): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/**
 * User tables of the connected database: no system schema, no temporary table, none that an
 * extension owns (CREATE EXTENSION makes those on the target itself).
 */
export const USER_TABLES = `
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

/**
 * Tables whose UPDATE and DELETE logical replication cannot carry: no primary key under the default
 * replica identity, REPLICA IDENTITY NOTHING, or an identity index that is gone. Partitioned
 * parents hold no rows (their partitions are listed).
 */
export async function tablesWithoutIdentity(c: PgClient): Promise<TableName[]> {
  return rows<{ schema: string; name: string }>(
    c,
    `SELECT n.nspname AS schema, c.relname AS name ${USER_TABLES}
       AND c.relkind = 'r' AND c.relpersistence = 'p'
       AND (c.relreplident = 'n'
         OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
         OR (c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)))
     ORDER BY 1, 2`,
  );
}

/** Unlogged tables: their changes never reach the WAL, so no replication (logical or physical) carries their rows. */
export async function unloggedTables(c: PgClient): Promise<TableName[]> {
  return rows<{ schema: string; name: string }>(c, `SELECT n.nspname AS schema, c.relname AS name ${USER_TABLES} AND c.relpersistence = 'u' ORDER BY 1, 2`);
}

/** How long ALTER TABLE may wait for its lock: it must not queue the application's queries behind a long transaction. */
const LOCK_TIMEOUT = '5s';

/**
 * Sets REPLICA IDENTITY FULL on each table (input replica-identity-full: true), one short
 * transaction each, and returns one line per table saying so. FULL makes every UPDATE and DELETE
 * log the whole old row, and the subscriber find the row by a scan: slower, so only when asked.
 * Needs ownership of the tables, which creating the publication needs anyway.
 */
export async function applyReplicaIdentityFull(c: PgClient, tables: readonly TableName[]): Promise<string[]> {
  const done: string[] = [];
  for (const t of tables) {
    await c.query('BEGIN');
    try {
      await c.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      await c.query(`ALTER TABLE ${quoteIdent(t.schema)}.${quoteIdent(t.name)} REPLICA IDENTITY FULL`);
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      const err = e as { code?: string; message?: string };
      const why = err.code === '55P03' ? `a transaction held its lock for more than ${LOCK_TIMEOUT}; try again when it has ended` : err.message;
      throw new UserError(
        `replica-identity-full: could not set REPLICA IDENTITY FULL on ${tableLabel(t)} (${why}).${done.length ? ` Already set on: ${listNames(done)}.` : ''}`,
        { cause: e },
      );
    }
    done.push(tableLabel(t));
  }
  return done.map((t) => `REPLICA IDENTITY FULL set on ${t} (replica-identity-full: true): it had no primary key or replica identity`);
}
