/** The target host: room for the copy, a writable parent directory, an option file the server reads, the copy's tools. */
import { skip, verdict, type CheckUnit } from '../../../checks/check.js';
import { dataDirWritableCheck, diskSpaceCheck } from '../../../checks/target-dir.js';
import { formatBytes } from '../../../log.js';
import type { TuningPlan } from '../../engine.js';
import { CONFIG_CHECK, configFileCheck, defaultConfigFile } from '../option-files.js';
import { toolOn, type MyCheckContext } from './context.js';

export const diskSpace = diskSpaceCheck<MyCheckContext>(async (c) => Math.ceil((await c.sourceBytes()) * 1.2) + 256 * 1024 * 1024);

export const dataDirWritable = dataDirWritableCheck<MyCheckContext>();

/** zdm's option file must be one the server reads; it matters once zdm writes there (tune-target, whose plan seed-replica is given). */
export const configFileRead: CheckUnit<MyCheckContext> = {
  id: 'target-config-file',
  title: CONFIG_CHECK,
  scopes: ['seed'],
  async run(c) {
    const { tf } = await c.facts();
    const planned = (c.s.inputs.tuning as Partial<TuningPlan> | undefined)?.items;
    const zdmWrites = c.s.inputs.step !== 'seed-replica' || (Array.isArray(planned) && planned.length > 0);
    const file = c.s.inputs.targetConfigFile || defaultConfigFile(tf.flavor.name);
    return configFileCheck(c.s.ctx.targetHost, file, tf.vars.pid_file, tf.vars.datadir, !zdmWrites);
  },
};

const logical = (c: MyCheckContext) => c.s.inputs.method === 'logical';

export const logicalSeedSize: CheckUnit<MyCheckContext> = {
  id: 'logical-seed-size',
  title: 'logical seed size',
  scopes: ['seed'],
  async run(c) {
    if (!logical(c)) return skip('method: physical');
    const { sf } = await c.facts();
    const bytes = await c.sourceBytes();
    const max = c.s.inputs.logicalMaxSize;
    const small = bytes <= max;
    return verdict(
      small && sf.flavor.name === 'mariadb',
      sf.flavor.name !== 'mariadb'
        ? 'method: logical is implemented for MariaDB only: use method: physical (XtraBackup) for MySQL.'
        : small
          ? `${formatBytes(bytes)} <= logical-max-size ${formatBytes(max)}`
          : `the source holds ${formatBytes(bytes)}, above logical-max-size (${formatBytes(max)}): a logical dump rebuilds every table and index through SQL and would take hours while the source keeps binlogs for the replica. Use method: physical.`,
    );
  },
};

export const dumpTools: CheckUnit<MyCheckContext> = {
  id: 'dump-tools',
  title: 'dump tools',
  scopes: ['seed'],
  async run(c) {
    if (!logical(c)) return skip('method: physical');
    const host = c.s.ctx.targetHost;
    const found = (await toolOn(host, ['mariadb-dump'])) && (await toolOn(host, ['mariadb']));
    return verdict(Boolean(found), found ? 'mariadb-dump, mariadb' : 'mariadb-dump and mariadb are needed on the runner: install mariadb-client.');
  },
};

export const backupTools: CheckUnit<MyCheckContext> = {
  id: 'backup-tools',
  title: 'backup tools',
  scopes: ['seed'],
  async run(c) {
    if (logical(c)) return skip('method: logical');
    const { sf } = await c.facts();
    const mariadb = sf.flavor.name === 'mariadb';
    const tools = mariadb ? [['mariadb-backup', 'mariabackup'], ['mbstream']] : [['xtrabackup'], ['xbstream']];
    const backup = await toolOn(c.s.ctx.targetHost, tools[0]);
    const extract = await toolOn(c.s.ctx.targetHost, tools[1]);
    return verdict(
      Boolean(backup && extract),
      backup && extract
        ? `${backup}, ${extract}`
        : `${tools[0][0]} and ${tools[1][0]} are needed on the source and target hosts: install ${mariadb ? 'mariadb-backup' : 'percona-xtrabackup-80 (or -84)'}.`,
    );
  },
};
