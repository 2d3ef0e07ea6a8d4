/** The logical method's checks, in the order they run; each gated on the method (no row under physical). */
import type { CheckUnit } from '../../../checks/check.js';
import type { PgCheckContext } from './context.js';
import { publicationPrivileges, streamingRole } from './logical-privileges.js';
import { logicalSlot, logicalWalLevel, logicalWalSender } from './logical-source.js';
import { extensionsOnTarget, largeObjects, replicaIdentity, unlogged } from './logical-tables.js';

export const LOGICAL_CHECKS: readonly CheckUnit<PgCheckContext>[] = [
  logicalWalLevel,
  logicalSlot,
  logicalWalSender,
  publicationPrivileges,
  streamingRole,
  replicaIdentity,
  largeObjects,
  unlogged,
  extensionsOnTarget,
];
