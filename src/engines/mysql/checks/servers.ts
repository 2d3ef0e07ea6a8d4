/** The pair of servers: one family and a target not older, two servers with distinct ids, target-data-dir is the target's. */
import * as path from 'node:path';
import { fail, skip, verdict, type CheckUnit } from '../../../checks/check.js';
import { emptyDataDirProblem } from '../../data-dir.js';
import { compareVersions, type Flavor } from '../flavor.js';
import { seedMethod } from '../method.js';
import { sameDir, type MyCheckContext } from './context.js';

const family = (f: Flavor) => (f.name === 'mariadb' ? 'MariaDB' : 'MySQL');

export const compatibleServers: CheckUnit<MyCheckContext> = {
  id: 'compatible-servers',
  title: 'compatible servers',
  scopes: ['seed'],
  async run(c) {
    const { sf, tf } = await c.facts();
    const sameFamily = family(sf.flavor) === family(tf.flavor);
    const notOlder = compareVersions(tf.version, sf.version) >= 0;
    return verdict(
      sameFamily && notOlder,
      !sameFamily
        ? `the source is ${family(sf.flavor)} and the target ${family(tf.flavor)}: a physical copy needs the same server family. Install ${family(sf.flavor)} on the target.`
        : !notOlder
          ? `the target runs ${tf.version}, older than the source's ${sf.version}: a replica must run the same version as its source or a newer one. Install ${family(sf.flavor)} ${sf.version.split('-')[0]} or later on the target.`
          : `${family(sf.flavor)} ${sf.version} to ${tf.version}`,
    );
  },
};

export const notTheSource: CheckUnit<MyCheckContext> = {
  id: 'target-not-source',
  title: 'target is not the source',
  scopes: ['seed'],
  async run(c) {
    const { sf, tf } = await c.facts();
    const same = sf.vars.server_uuid
      ? sf.vars.server_uuid === tf.vars.server_uuid
      : sf.vars.hostname === tf.vars.hostname && sf.vars.port === tf.vars.port && sameDir(sf.vars.datadir, tf.vars.datadir);
    return verdict(!same, same ? 'target-url points at the source server itself. Point target-url at the new server.' : 'distinct servers');
  },
};

export const distinctServerId: CheckUnit<MyCheckContext> = {
  id: 'distinct-server-id',
  title: 'distinct server_id',
  scopes: ['seed'],
  async run(c) {
    const { sf, tf } = await c.facts();
    const dup = sf.vars.server_id === tf.vars.server_id;
    return verdict(
      !dup,
      dup
        ? `source and target both have server_id = ${sf.vars.server_id}: replication needs them distinct. Set another server_id in the target's configuration and restart it.`
        : `source ${sf.vars.server_id}, target ${tf.vars.server_id}`,
    );
  },
};

export const dataDirMatches: CheckUnit<MyCheckContext> = {
  id: 'target-data-dir',
  title: 'target-data-dir matches target',
  scopes: ['seed'],
  async run(c) {
    // mydumper/myloader load through SQL: the logical seed never touches the data directory.
    const m = await seedMethod(c.s);
    if (m.method === 'logical') return skip('not needed by a logical seed');
    if (m.tool === 'clone') return skip('not needed by CLONE (it writes through the target server)');
    const { tf } = await c.facts();
    if (!c.dataDir) return fail(`target-data-dir ${emptyDataDirProblem(tf.flavor.backupTool, path.resolve(tf.vars.datadir))}`);
    const matches = sameDir(tf.vars.datadir, c.dataDir);
    return verdict(
      matches,
      matches
        ? c.dataDir
        : `target-data-dir is ${c.dataDir}, but the server at target-url reports its datadir as ${tf.vars.datadir}. Set target-data-dir to the target's datadir.`,
    );
  },
};
