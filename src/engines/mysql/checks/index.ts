/** MySQL/MariaDB's check registry: every check seed-replica makes before it changes anything, in the order they run. */
import { bind, type CheckUnit } from '../../../checks/check.js';
import type { MySession } from '../session.js';
import { MyCheckContext } from './context.js';
import { accountFence } from './account-fence.js';
import { compatibleServers, dataDirMatches, distinctServerId, notTheSource } from './servers.js';
import { backupPrivileges, binlogFormat, gtidMode, logBin, replicationUser } from './source.js';
import { backupTools, configFileRead, dataDirWritable, diskSpace, dumpTools, logicalSeedSize } from './target-host.js';
import { binlogRetention, binlogRowImage, cloneCheck, dumpSpace, nonInnodb, seedMethodCheck } from './method.js';
import { credentialsAfterCopy, holdsNoDatabases, notAlreadyReplica } from './target-state.js';
import { tlsLinks } from './tls.js';

export const MY_CHECKS: readonly CheckUnit<MyCheckContext>[] = [
  compatibleServers,
  notTheSource,
  distinctServerId,
  dataDirMatches,
  notAlreadyReplica,
  holdsNoDatabases,
  seedMethodCheck,
  logBin,
  binlogFormat,
  binlogRowImage,
  binlogRetention,
  gtidMode,
  backupPrivileges,
  replicationUser,
  credentialsAfterCopy,
  diskSpace,
  dataDirWritable,
  configFileRead,
  logicalSeedSize,
  nonInnodb,
  cloneCheck,
  dumpTools,
  dumpSpace,
  backupTools,
  accountFence,
  // preflight only: how each link is protected.
  tlsLinks,
];

/** The registry bound to a session; facts are read once per call, shared by the checks. */
export function myChecks(s: MySession): CheckUnit[] {
  return bind(MY_CHECKS, new MyCheckContext(s));
}
