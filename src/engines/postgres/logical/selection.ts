/**
 * The `tables` input: which of the source's tables a logical migration carries. The publication
 * lists them, the schema dump leaves the others out, and the logical checks and the DDL guard look
 * only at them. zdm's heartbeat table is always carried: lag is measured through it.
 */
import { parseTableFilter } from '../../../verify/filter.js';
import { rows, type PgClient } from '../connect.js';
import type { PgSession } from '../session.js';
import { USER_TABLES, tableLabel, type TableName } from './tables.js';

/** heartbeat-table as schema.table (PostgreSQL's default schema is public). */
export const heartbeatLabel = (t: string): string => (t.includes('.') ? t : `public.${t}`);

/** A test on schema.table labels; undefined when `tables` is empty (every table is carried). */
export type Selection = ((label: string) => boolean) | undefined;

export function tableSelection(s: PgSession): Selection {
  if (!s.inputs.tables.trim()) return undefined;
  const f = parseTableFilter(s.inputs.tables, 'tables');
  const hb = heartbeatLabel(s.inputs.heartbeatTable);
  return (label) => label === hb || f.matches(label);
}

/** Keeps the items whose table is carried (all of them without a `tables` input). */
export function carried<T>(s: PgSession, items: readonly T[], label: (t: T) => string): T[] {
  const only = tableSelection(s);
  return only ? items.filter((t) => only(label(t))) : [...items];
}

/** The source's tables that `tables` leaves out (partitions go with their root: only roots are listed). */
export async function excludedTables(s: PgSession, src: PgClient): Promise<TableName[]> {
  const only = tableSelection(s);
  if (!only) return [];
  const all = await rows<{ schema: string; name: string }>(
    src,
    `SELECT n.nspname AS schema, c.relname AS name ${USER_TABLES} AND NOT c.relispartition ORDER BY 1, 2`,
  );
  return all.filter((t) => !only(tableLabel(t)));
}

/** A table as a pg_dump pattern that matches its exact name (double quotes make * ? . literal). */
export const dumpPattern = (t: TableName): string => `"${t.schema.replace(/"/g, '""')}"."${t.name.replace(/"/g, '""')}"`;
