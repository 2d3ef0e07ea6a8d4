/**
 * Where the logical path calls the DDL guard (logical/schema-guard.ts): the source's schema read
 * before pg_dump and kept on the target after the load, refused at cutover when it changed,
 * forgotten after the switch. zdm's heartbeat table is left out (zdm itself creates it), and the tables
 * the `tables` input leaves out.
 */
import { heartbeatLabel, tableSelection } from './selection.js';
import { one, type PgClient } from '../connect.js';
import type { PgSession } from '../session.js';
import {
  FINGERPRINT_SCHEMA,
  FINGERPRINT_TABLE,
  forgetSchema,
  readSchema,
  refuseSchemaChanges,
  storeSchema,
  type SchemaGuardOptions,
  type SchemaObject,
} from './schema-guard.js';

/** What the guard compares: the tables the migration carries (`tables`), without zdm's heartbeat table. */
export const guardOptions = (s: PgSession): SchemaGuardOptions => ({ ignore: [heartbeatLabel(s.inputs.heartbeatTable)], keep: tableSelection(s) });
const ignored = guardOptions;

/** The source's schema as the guard sees it, read before pg_dump (DDL made during the dump is then caught at cutover). */
export function schemaBeforeDump(s: PgSession, src: PgClient): Promise<SchemaObject[]> {
  return readSchema(src, ignored(s));
}

/** Keeps that fingerprint on the target once the schema is loaded. */
export async function keepSchema(tgt: PgClient, objects: readonly SchemaObject[]): Promise<void> {
  await storeSchema(tgt, objects);
}

/** Inside the fence, before the final position is awaited: throws, naming each change, when the source's schema changed since the seed. */
export async function refuseDdl(s: PgSession, src: PgClient, tgt: PgClient): Promise<void> {
  await refuseSchemaChanges(src, tgt, ignored(s));
}

/** After the switch: the fingerprint leaves the new primary. Returns whether there was one (the mark of a logical migration). */
export async function forgetDdlGuard(tgt: PgClient): Promise<boolean> {
  const { present } = await one<{ present: boolean }>(tgt, 'SELECT to_regclass($1) IS NOT NULL AS present', [`${FINGERPRINT_SCHEMA}.${FINGERPRINT_TABLE}`]);
  await forgetSchema(tgt);
  return present;
}
