/** The pair of servers: same major, not one server twice, target-data-dir is the target's. */
import * as path from 'node:path';
import { fail, verdict, type CheckUnit } from '../../../checks/check.js';
import { emptyDataDirProblem } from '../../data-dir.js';
import type { PgCheckContext } from './context.js';

export const sameMajor: CheckUnit<PgCheckContext> = {
  id: 'same-major-version',
  title: 'same major version',
  scopes: ['seed'],
  async run(c) {
    const { sMajor, tMajor } = await c.facts();
    return verdict(
      sMajor === tMajor,
      sMajor === tMajor
        ? `${sMajor}`
        : `source is ${sMajor}, target is ${tMajor}: physical replication needs the same major version. Install PostgreSQL ${sMajor} on the target.`,
    );
  },
};

export const notTheSource: CheckUnit<PgCheckContext> = {
  id: 'target-not-source',
  title: 'target is not the source',
  scopes: ['seed'],
  async run(c) {
    const { sf, tf } = await c.facts();
    // A fact the source's role may not read (empty) does not tell them apart; the start time to the microsecond still does.
    const agree = (a: string, b: string) => a === '' || b === '' || a === b;
    const same = agree(sf.sysid, tf.sysid) && !tf.inRecovery && sf.startedAt === tf.startedAt && agree(sf.dataDirectory, tf.dataDirectory);
    return verdict(
      !same,
      same
        ? 'target-url points at the source server itself (same system identifier, data directory and start time). Point target-url at the new server.'
        : 'distinct servers',
    );
  },
};

export const dataDirMatches: CheckUnit<PgCheckContext> = {
  id: 'target-data-dir',
  title: 'target-data-dir matches target',
  scopes: ['seed'],
  async run(c) {
    const { tf } = await c.facts();
    // Runs for a physical seed only (logical/method.ts skips it otherwise): pg_basebackup replaces this directory.
    if (!c.dataDir) return fail(`target-data-dir ${emptyDataDirProblem('pg_basebackup', tf.dataDirectory)}`);
    const matches = path.resolve(tf.dataDirectory) === c.dataDir;
    return verdict(
      matches,
      matches
        ? c.dataDir
        : `target-data-dir is ${c.dataDir}, but the server at target-url reports its data directory as ${tf.dataDirectory}. Set target-data-dir to the data directory of the target server.`,
    );
  },
};
