/** The target host: room for the copy, a writable parent directory, an option file the server reads, the copy's tools. */
import * as path from 'node:path';
import { ok, skip, verdict, warn, type CheckUnit } from '../../../checks/check.js';
import { dataDirWritableCheck, diskSpaceCheck } from '../../../checks/target-dir.js';
import { formatBytes, formatSeconds } from '../../../log.js';
import { COPY_RATE, logicalTool } from '../logical-seed.js';
import { seedMethod } from '../method.js';
import type { TuningPlan } from '../../engine.js';
import { CONFIG_CHECK, configFileCheck, defaultConfigFile } from '../option-files.js';
import { toolOn, type MyCheckContext } from './context.js';

const logical = async (c: MyCheckContext) => (await seedMethod(c.s)).method === 'logical';

/**
 * The physical copy lands beside target-data-dir; the logical one is loaded by myloader through
 * SQL into the running target, so it grows the server's own datadir (its dump sits on the runner: dump-space).
 */
export const diskSpace = diskSpaceCheck<MyCheckContext>(
  async (c) => Math.ceil((await c.sourceBytes()) * 1.2) + 256 * 1024 * 1024,
  async (c) => ((await logical(c)) ? (await c.facts()).tf.vars.datadir : c.dataDir && path.dirname(c.dataDir)),
);

/** Only the physical copy creates and renames directories beside the data directory. */
const writableBeside = dataDirWritableCheck<MyCheckContext>();
export const dataDirWritable: CheckUnit<MyCheckContext> = {
  ...writableBeside,
  run: async (c) => ((await logical(c)) ? skip('not needed by a logical seed (it loads through SQL)') : writableBeside.run(c)),
};

/** zdm's option file must be one the server reads; it matters once zdm writes there (tune-target, whose plan seed-replica is given). */
export const configFileRead: CheckUnit<MyCheckContext> = {
  id: 'target-config-file',
  title: CONFIG_CHECK,
  scopes: ['seed'],
  async run(c) {
    const { tf } = await c.facts();
    const planned = ((c.s.inputs.tuning ?? c.s.ctx.journal?.tuning()) as Partial<TuningPlan> | undefined)?.items;
    const zdmWrites = c.s.inputs.step !== 'seed-replica' || (Array.isArray(planned) && planned.length > 0);
    const file = c.s.inputs.targetConfigFile || defaultConfigFile(tf.flavor.name);
    return configFileCheck(c.s.ctx.targetHost, file, tf.vars.pid_file, tf.vars.datadir, !zdmWrites);
  },
};

/**
 * mydumper copies in parallel: above logical-max-size it only warns, with the time the copy will
 * take. The single-threaded mariadb-dump fallback is refused there.
 */
export const logicalSeedSize: CheckUnit<MyCheckContext> = {
  id: 'logical-seed-size',
  title: 'logical seed size',
  scopes: ['seed'],
  async run(c) {
    if (!(await logical(c))) return skip('method: physical');
    const bytes = await c.sourceBytes();
    const max = c.s.inputs.logicalMaxSize;
    if (bytes <= max) return ok(`${formatBytes(bytes)} <= logical-max-size ${formatBytes(max)}`);
    const tool = await logicalTool(c.s.ctx.runnerHost);
    const time = formatSeconds(bytes / COPY_RATE.logical);
    if (tool === 'mydumper')
      return warn(
        `the source holds ${formatBytes(bytes)}, above logical-max-size (${formatBytes(max)}): mydumper/myloader will take about ${time} (at a conservative ${formatBytes(COPY_RATE.logical)}/s) while the source keeps binlogs for the replica. A physical copy is about 4x faster where the source's files can be read.`,
      );
    return verdict(
      false,
      `the source holds ${formatBytes(bytes)}, above logical-max-size (${formatBytes(max)}): a logical dump rebuilds every table and index through SQL, single-threaded without mydumper, and would take hours while the source keeps binlogs for the replica. Install mydumper on the runner (apt-get install mydumper), or use method: physical.`,
    );
  },
};

export const dumpTools: CheckUnit<MyCheckContext> = {
  id: 'dump-tools',
  title: 'dump tools',
  scopes: ['seed'],
  async run(c) {
    if (!(await logical(c))) return skip('method: physical');
    const { sf } = await c.facts();
    const tool = await logicalTool(c.s.ctx.runnerHost);
    if (tool === 'mydumper') return ok('mydumper, myloader');
    if (tool === 'mariadb-dump' && sf.flavor.name === 'mariadb')
      return warn(
        'mydumper is not installed on the runner: the copy falls back to a single-threaded mariadb-dump. Install the mydumper package for a parallel copy.',
      );
    return verdict(false, 'mydumper and myloader are needed on the runner for the logical copy: install the mydumper package (apt-get install mydumper).');
  },
};

export const backupTools: CheckUnit<MyCheckContext> = {
  id: 'backup-tools',
  title: 'backup tools',
  scopes: ['seed'],
  async run(c) {
    if (await logical(c)) return skip('method: logical');
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
