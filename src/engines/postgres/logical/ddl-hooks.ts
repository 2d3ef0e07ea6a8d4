/**
 * Where the logical path calls the DDL guard that 'pg-logical-checks' builds in
 * logical/schema-guard.ts (on its branch, not on this one yet): the source's schema read before
 * pg_dump and kept on the target after the load, refused at cutover when it changed, forgotten
 * after the switch. Until the merge these are no-ops.
 *
 * TODO(merge pg-logical-checks): replace the bodies with the guard's calls:
 *   import { forgetSchema, readSchema, refuseSchemaChanges, storeSchema, type SchemaObject } from './schema-guard.js';
 *   import { heartbeatLabel } from '../checks/logical-ddl.js';
 *   schemaBeforeDump:  return readSchema(src, { ignore: [heartbeatLabel(s.inputs.heartbeatTable)] });
 *   keepSchema:        await storeSchema(tgt, objects as SchemaObject[]);
 *   refuseDdl:         await refuseSchemaChanges(src, tgt, { ignore: [heartbeatLabel(s.inputs.heartbeatTable)] });
 *   forgetDdlGuard:    await forgetSchema(tgt);
 */
import type { PgClient } from '../connect.js';
import type { PgSession } from '../session.js';

/** The source's schema as the guard sees it, read before pg_dump (DDL made during the dump is then caught at cutover). */
export async function schemaBeforeDump(s: PgSession, src: PgClient): Promise<unknown[]> {
  void s;
  void src;
  return [];
}

/** Keeps that fingerprint on the target once the schema is loaded. */
export async function keepSchema(tgt: PgClient, objects: unknown[]): Promise<void> {
  void tgt;
  void objects;
}

/** Inside the fence, before the final position is awaited: throws, naming each change, when the source's schema changed since the seed. */
export async function refuseDdl(s: PgSession, src: PgClient, tgt: PgClient): Promise<void> {
  void s;
  void src;
  void tgt;
}

/** After the switch: the fingerprint leaves the new primary. */
export async function forgetDdlGuard(tgt: PgClient): Promise<void> {
  void tgt;
}
