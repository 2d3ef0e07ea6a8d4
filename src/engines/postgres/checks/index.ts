/** PostgreSQL's check registry: every check seed-replica makes before it changes anything, in the order they run; then cutover's (scope cutover). */
import { bind, type CheckUnit } from '../../../checks/check.js';
import type { PgSession } from '../session.js';
import { PgCheckContext } from './context.js';
import { replicationConnection, replicationRole } from './replication.js';
import { dataDirMatches, notTheSource, sameMajor } from './servers.js';
import { replicationSlot, slotWalBound, walLevel, walSenders } from './source-wal.js';
import { basebackup, dataDirWritable, diskSpace, standbySettings } from './target-host.js';
import { credentialsAfterCopy, holdsNoDatabases, notAlreadyReplica } from './target-state.js';
import { LOGICAL_CHECKS } from './logical.js';
import { schemaUnchanged } from './logical-ddl.js';
import { tablesInput } from './logical-tables.js';
import { readOnlyFencePrivileges } from './fence-privileges.js';
import { tlsLinks } from './tls.js';

export const PG_CHECKS: readonly CheckUnit<PgCheckContext>[] = [
  sameMajor,
  notTheSource,
  dataDirMatches,
  notAlreadyReplica,
  holdsNoDatabases,
  credentialsAfterCopy,
  walLevel,
  walSenders,
  replicationSlot,
  slotWalBound,
  replicationRole,
  replicationConnection,
  standbySettings,
  diskSpace,
  dataDirWritable,
  basebackup,
  // Only under the logical method (no row otherwise).
  ...LOGICAL_CHECKS,
  tablesInput,
  // Scope cutover: before the fence, only for a target that replicates logically.
  schemaUnchanged,
  // preflight and cutover (before the fence): what the read-only fence needs of a source role without superuser.
  readOnlyFencePrivileges,
  // preflight only: how each link is protected.
  tlsLinks,
];

/** The registry bound to a session; facts are read once per call, shared by the checks. */
export function pgChecks(s: PgSession): CheckUnit[] {
  return bind(PG_CHECKS, new PgCheckContext(s));
}
