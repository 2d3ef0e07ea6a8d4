/** What binlog replication and the backup need on the source: the binary log in ROW format, the accounts' privileges. */
import { ok, skip, verdict, type CheckUnit } from '../../../checks/check.js';
import { connectMy } from '../connect.js';
import { ownPrivileges } from '../privileges.js';
import { replicationAddress } from '../seed.js';
import type { MyCheckContext } from './context.js';

const BACKUP_PRIVILEGES = ['RELOAD', 'PROCESS', 'LOCK TABLES'];

export const logBin: CheckUnit<MyCheckContext> = {
  id: 'source-log-bin',
  title: 'source log_bin',
  scopes: ['seed'],
  async run(c) {
    const v = (await c.facts()).sf.vars.log_bin;
    const on = v === 'ON' || v === '1';
    return verdict(on, on ? 'ON' : 'log_bin is OFF on the source: enable the binary log (log_bin in its configuration) and restart it; replication reads it.');
  },
};

export const binlogFormat: CheckUnit<MyCheckContext> = {
  id: 'source-binlog-format',
  title: 'source binlog_format',
  scopes: ['seed'],
  async run(c) {
    const format = (await c.facts()).sf.vars.binlog_format;
    return verdict(
      format === 'ROW',
      format === 'ROW'
        ? 'ROW'
        : `binlog_format is ${format}: set binlog_format = ROW on the source (SET GLOBAL binlog_format = 'ROW' and in its configuration), so that the replica applies exactly the rows the source changed.`,
    );
  },
};

/** Advice only: without GTIDs replication runs from a binlog file and position. */
export const gtidMode: CheckUnit<MyCheckContext> = {
  id: 'source-gtid-mode',
  title: 'source gtid_mode',
  scopes: ['seed'],
  async run(c) {
    const { sf } = await c.facts();
    if (sf.flavor.name === 'mariadb') return skip('MariaDB: its GTIDs need no gtid_mode');
    const mode = sf.vars.gtid_mode;
    return ok(mode === 'ON' ? 'ON' : `${mode}: replication will use binlog file and position (GTIDs are safer; consider gtid_mode = ON)`);
  },
};

export const backupPrivileges: CheckUnit<MyCheckContext> = {
  id: 'backup-privileges',
  title: 'backup privileges (source-url)',
  scopes: ['seed'],
  async run(c) {
    const { sf } = await c.facts();
    const privs = await ownPrivileges(await c.s.source());
    const monitor = sf.flavor.name === 'mariadb' ? ['BINLOG MONITOR', 'REPLICATION CLIENT'] : ['REPLICATION CLIENT'];
    const missing = [...BACKUP_PRIVILEGES.filter((p) => !privs.has(p)), ...(monitor.some((p) => privs.has(p)) ? [] : [monitor[0]])];
    return verdict(
      missing.length === 0,
      missing.length === 0
        ? 'RELOAD, PROCESS, LOCK TABLES, ' + monitor[0]
        : `the account in source-url lacks ${missing.join(', ')}, which the physical backup needs: GRANT ${[...BACKUP_PRIVILEGES, monitor[0]].join(', ')} ON *.* TO that account.`,
    );
  },
};

export const replicationUser: CheckUnit<MyCheckContext> = {
  id: 'replication-user',
  title: 'replication user',
  scopes: ['seed'],
  async run(c) {
    const addr = replicationAddress(c.s);
    const user = c.s.inputs.replicationUser;
    let privs: Set<string>;
    try {
      const rc = await connectMy(new URL(`mysql://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}/`), {
        input: 'replication-user/replication-password',
        user,
        password: c.s.inputs.replicationPassword,
      });
      privs = await ownPrivileges(rc).finally(() => rc.end().catch(() => undefined));
    } catch (e) {
      return verdict(false, (e as Error).message);
    }
    const can = privs.has('REPLICATION SLAVE');
    return verdict(
      can,
      can ? `${user}@${addr.host}:${addr.port}` : `"${user}" lacks the REPLICATION SLAVE privilege: GRANT REPLICATION SLAVE ON *.* TO that account.`,
    );
  },
};
