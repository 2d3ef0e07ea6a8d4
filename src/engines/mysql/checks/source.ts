/** What binlog replication and the backup need on the source: the binary log in ROW format, the accounts' privileges. */
import { ok, skip, verdict, type CheckUnit } from '../../../checks/check.js';
import { connectMy } from '../connect.js';
import { myAddressUrl } from '../tls.js';
import { ownPrivileges } from '../privileges.js';
import { replicationAddress } from '../seed.js';
import { seedMethod, type SeedMethod } from '../method.js';
import type { MyCheckContext } from './context.js';

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

/** What each method needs of the source-url account; the resolved method's list must be complete. */
function needed(mariadb: boolean): Record<SeedMethod, string[][]> {
  const monitor = mariadb ? ['BINLOG MONITOR', 'REPLICATION CLIENT'] : ['REPLICATION CLIENT'];
  return {
    physical: [['RELOAD'], ['PROCESS'], ['LOCK TABLES'], monitor],
    // mydumper: a consistent point by FLUSH TABLES WITH READ LOCK (RELOAD) or LOCK TABLES; the coordinates (monitor); the rows, views, triggers, events.
    logical: [['SELECT'], ['SHOW VIEW'], ['TRIGGER'], ['EVENT'], ['RELOAD', 'LOCK TABLES'], monitor],
  };
}

const missingFrom = (privs: Set<string>, need: string[][]) => need.filter((any) => !any.some((p) => privs.has(p))).map((any) => any.join(' or '));

export const backupPrivileges: CheckUnit<MyCheckContext> = {
  id: 'backup-privileges',
  title: 'backup privileges (source-url)',
  scopes: ['seed'],
  async run(c) {
    const { sf } = await c.facts();
    const { method, tool } = await seedMethod(c.s);
    if (tool === 'clone') return skip('CLONE needs BACKUP_ADMIN only (the CLONE row)');
    const privs = await ownPrivileges(await c.s.source());
    const need = needed(sf.flavor.name === 'mariadb');
    const missing = missingFrom(privs, need[method]);
    const other: SeedMethod = method === 'physical' ? 'logical' : 'physical';
    const otherMissing = missingFrom(privs, need[other]);
    const list = (m: SeedMethod) => need[m].map((any) => any.join(' or ')).join(', ');
    const aside = `; method ${other} would need ${list(other)}${otherMissing.length ? ` (missing ${otherMissing.join(', ')})` : ' (all held)'}`;
    if (missing.length === 0) return ok(`${method}: ${list(method)}${aside}`);
    const grant = need[method].map((any) => any[0]).join(', ');
    return verdict(
      false,
      `the account in source-url lacks ${missing.join(', ')}, which the ${method === 'physical' ? 'physical backup' : 'logical copy (mydumper)'} needs: GRANT ${grant} ON *.* TO that account${aside}.`,
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
      const rc = await connectMy(myAddressUrl(addr, c.s.sourceEndpoint.given), {
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
