/**
 * Every dialect difference between MySQL 8.0, MySQL 8.4 and MariaDB, in one place. The statements
 * follow the MySQL 8.0 and 8.4 reference manuals and the MariaDB knowledge base:
 * - MySQL 8.0.23+ has CHANGE REPLICATION SOURCE TO and the REPLICA forms; 8.4 removed CHANGE MASTER,
 *   START/STOP SLAVE, SHOW SLAVE STATUS, SHOW MASTER STATUS and RESET MASTER.
 * - MariaDB (10.5.2+) accepts START/STOP/SHOW REPLICA, RESET REPLICA ALL and SHOW BINLOG STATUS, but
 *   not CHANGE REPLICATION SOURCE TO; its status columns keep the Master/Slave names.
 */
import { escape, escapeId } from 'mysql2';
import type { ReplicationTls } from './tls.js';

export type FlavorName = 'mariadb' | 'mysql80' | 'mysql84';

export interface SourceCoordinates {
  host: string;
  port: number;
  user: string;
  password: string;
  /** GTID position/set to start from; file/position when the source has no GTIDs. */
  gtid?: string;
  file?: string;
  position?: number;
  /** TLS of the link; absent: the server's defaults. */
  tls?: ReplicationTls;
}

/** The TLS options of CHANGE MASTER (MariaDB) or CHANGE REPLICATION SOURCE (MySQL), after the others. */
function sslClause(p: 'MASTER' | 'SOURCE', t: ReplicationTls | undefined): string {
  if (!t) return '';
  if (!t.ssl) return `, ${p}_SSL=0`;
  const files = (['ca', 'cert', 'key'] as const).filter((k) => t[k]).map((k) => `${p}_SSL_${k.toUpperCase()}=${quoteString(t[k]!)}`);
  // MariaDB has no CA-only check: its VERIFY_SERVER_CERT checks the chain and the host name together.
  const verify = t.verifyIdentity || (p === 'MASTER' && t.verifyCa);
  return `, ${[`${p}_SSL=1`, ...files, `${p}_SSL_VERIFY_SERVER_CERT=${verify ? 1 : 0}`].join(', ')}`;
}

/** The names of the replica status columns this flavor uses. */
export interface StatusColumns {
  ioRunning: string;
  sqlRunning: string;
  secondsBehind: string;
  sourceLogFile: string;
  readSourceLogPos: string;
  relaySourceLogFile: string;
  execSourceLogPos: string;
  lastIoErrno: string;
  lastIoError: string;
  lastSqlErrno: string;
  lastSqlError: string;
}

export interface Flavor {
  readonly name: FlavorName;
  readonly label: string;
  readonly backupTool: 'mariadb-backup' | 'xtrabackup';
  readonly streamExtractor: 'mbstream' | 'xbstream';
  readonly columns: StatusColumns;
  readonly showReplicaStatus: string;
  readonly showBinlogStatus: string;
  readonly stopReplica: string;
  readonly startReplica: string;
  readonly resetReplicaAll: string;
  /** The statement(s) that point a stopped replica at the source, starting from the coordinates. */
  changeSource(c: SourceCoordinates): string[];
  /**
   * Reverse replication: point a former primary, stopped as a replica, at the new primary from the
   * GTID position `c.gtid` it already holds, keeping its own binlog and GTID history.
   */
  resumeFrom(c: SourceCoordinates & { gtid: string }): string[];
  /** The server variable holding the GTID position of everything the server has written. */
  readonly gtidExecutedVariable: string;
  /** A query returning one column `r`: 0 once `gtid` is applied, non-zero on timeout. */
  waitForGtid(gtid: string, timeoutSeconds: number): { sql: string; params: unknown[] };
  /** A query returning one column `r`: >= 0 once file:position is applied, -1 or NULL on timeout. */
  waitForPosition(file: string, position: number, timeoutSeconds: number): { sql: string; params: unknown[] };
  /** Statements that make the server refuse writes from every account the flavor can stop. */
  readOnly(on: boolean): string[];
  /** Privileges that let a session write despite read_only. */
  readonly bypassReadOnlyPrivileges: string[];
  /** The accounts (no roles) with whether each is locked: columns user, host, locked (1 or 0); needs SELECT on the mysql schema. */
  readonly accountsQuery: string;
  /** The privilege that lets an account end other accounts' sessions (besides SUPER). */
  readonly connectionAdmin: string;
}

/**
 * A string literal, escaped by mysql2 (backslash escapes): right because zdm's sessions never run
 * under NO_BACKSLASH_ESCAPES (connectMy takes it out of the session's sql_mode).
 */
export function quoteString(v: string): string {
  return escape(v);
}

/** An identifier, quoted by mysql2 (a dot stays part of the name). */
export function quoteName(v: string): string {
  return escapeId(v, true);
}

const MYSQL_COLUMNS: StatusColumns = {
  ioRunning: 'Replica_IO_Running',
  sqlRunning: 'Replica_SQL_Running',
  secondsBehind: 'Seconds_Behind_Source',
  sourceLogFile: 'Source_Log_File',
  readSourceLogPos: 'Read_Source_Log_Pos',
  relaySourceLogFile: 'Relay_Source_Log_File',
  execSourceLogPos: 'Exec_Source_Log_Pos',
  lastIoErrno: 'Last_IO_Errno',
  lastIoError: 'Last_IO_Error',
  lastSqlErrno: 'Last_SQL_Errno',
  lastSqlError: 'Last_SQL_Error',
};

const MARIADB_COLUMNS: StatusColumns = {
  ioRunning: 'Slave_IO_Running',
  sqlRunning: 'Slave_SQL_Running',
  secondsBehind: 'Seconds_Behind_Master',
  sourceLogFile: 'Master_Log_File',
  readSourceLogPos: 'Read_Master_Log_Pos',
  relaySourceLogFile: 'Relay_Master_Log_File',
  execSourceLogPos: 'Exec_Master_Log_Pos',
  lastIoErrno: 'Last_IO_Errno',
  lastIoError: 'Last_IO_Error',
  lastSqlErrno: 'Last_SQL_Errno',
  lastSqlError: 'Last_SQL_Error',
};

const mariadb: Flavor = {
  name: 'mariadb',
  label: 'MariaDB',
  backupTool: 'mariadb-backup',
  streamExtractor: 'mbstream',
  columns: MARIADB_COLUMNS,
  showReplicaStatus: 'SHOW REPLICA STATUS',
  showBinlogStatus: 'SHOW BINLOG STATUS',
  stopReplica: 'STOP REPLICA',
  startReplica: 'START REPLICA',
  resetReplicaAll: 'RESET REPLICA ALL',
  changeSource(c) {
    const common = `MASTER_HOST=${quoteString(c.host)}, MASTER_PORT=${c.port}, MASTER_USER=${quoteString(c.user)}, MASTER_PASSWORD=${quoteString(c.password)}, MASTER_CONNECT_RETRY=5${sslClause('MASTER', c.tls)}`;
    if (c.gtid !== undefined) {
      // Without gtid_slave_pos set first, a replica replays the source's whole binlog from its start.
      return [`SET GLOBAL gtid_slave_pos = ${quoteString(c.gtid)}`, `CHANGE MASTER TO ${common}, MASTER_USE_GTID=slave_pos`];
    }
    return [`CHANGE MASTER TO ${common}, MASTER_LOG_FILE=${quoteString(c.file!)}, MASTER_LOG_POS=${c.position}`];
  },
  resumeFrom(c) {
    return mariadb.changeSource(c);
  },
  gtidExecutedVariable: 'gtid_binlog_pos',
  waitForGtid: (gtid, t) => ({ sql: 'SELECT MASTER_GTID_WAIT(?, ?) AS r', params: [gtid, t] }),
  waitForPosition: (file, pos, t) => ({ sql: 'SELECT MASTER_POS_WAIT(?, ?, ?) AS r', params: [file, pos, t] }),
  readOnly: (on) => [`SET GLOBAL read_only = ${on ? 'ON' : 'OFF'}`],
  bypassReadOnlyPrivileges: ['SUPER', 'READ_ONLY ADMIN'],
  // mysql.user is a view without the lock; global_priv keeps it in its JSON (10.4+), where JSON_VALUE reads true as '1'.
  accountsQuery:
    "SELECT u.User AS user, u.Host AS host, IF(JSON_VALUE(g.Priv, '$.account_locked') IN ('1', 'true'), 1, 0) AS locked FROM mysql.user u JOIN mysql.global_priv g ON g.User = u.User AND g.Host = u.Host WHERE u.is_role = 'N'",
  connectionAdmin: 'CONNECTION ADMIN',
};

function mysql(name: 'mysql80' | 'mysql84'): Flavor {
  return {
    name,
    label: name === 'mysql80' ? 'MySQL 8.0' : 'MySQL 8.4',
    backupTool: 'xtrabackup',
    streamExtractor: 'xbstream',
    columns: MYSQL_COLUMNS,
    showReplicaStatus: 'SHOW REPLICA STATUS',
    showBinlogStatus: name === 'mysql80' ? 'SHOW MASTER STATUS' : 'SHOW BINARY LOG STATUS',
    stopReplica: 'STOP REPLICA',
    startReplica: 'START REPLICA',
    resetReplicaAll: 'RESET REPLICA ALL',
    changeSource(c) {
      // GET_SOURCE_PUBLIC_KEY: caching_sha2_password (the 8.x default) over a connection without TLS.
      const common = `SOURCE_HOST=${quoteString(c.host)}, SOURCE_PORT=${c.port}, SOURCE_USER=${quoteString(c.user)}, SOURCE_PASSWORD=${quoteString(c.password)}, SOURCE_CONNECT_RETRY=5, GET_SOURCE_PUBLIC_KEY=1${sslClause('SOURCE', c.tls)}`;
      if (c.gtid !== undefined) {
        const reset = name === 'mysql80' ? 'RESET MASTER' : 'RESET BINARY LOGS AND GTIDS';
        return [reset, `SET GLOBAL gtid_purged = ${quoteString(c.gtid)}`, `CHANGE REPLICATION SOURCE TO ${common}, SOURCE_AUTO_POSITION=1`];
      }
      return [`CHANGE REPLICATION SOURCE TO ${common}, SOURCE_LOG_FILE=${quoteString(c.file!)}, SOURCE_LOG_POS=${c.position}`];
    },
    resumeFrom(c) {
      // gtid_executed of the former primary already holds c.gtid: auto-positioning asks for the rest.
      const common = `SOURCE_HOST=${quoteString(c.host)}, SOURCE_PORT=${c.port}, SOURCE_USER=${quoteString(c.user)}, SOURCE_PASSWORD=${quoteString(c.password)}, SOURCE_CONNECT_RETRY=5, GET_SOURCE_PUBLIC_KEY=1${sslClause('SOURCE', c.tls)}`;
      return [`CHANGE REPLICATION SOURCE TO ${common}, SOURCE_AUTO_POSITION=1`];
    },
    gtidExecutedVariable: 'gtid_executed',
    waitForGtid: (gtid, t) => ({ sql: 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r', params: [gtid, t] }),
    waitForPosition: (file, pos, t) => ({ sql: 'SELECT SOURCE_POS_WAIT(?, ?, ?) AS r', params: [file, pos, t] }),
    // super_read_only also stops accounts with SUPER / CONNECTION_ADMIN; it implies read_only.
    readOnly: (on) => (on ? ['SET GLOBAL super_read_only = ON'] : ['SET GLOBAL super_read_only = OFF', 'SET GLOBAL read_only = OFF']),
    bypassReadOnlyPrivileges: [],
    // CREATE ROLE makes a locked account without a password: it counts as locked, so it is never unlocked.
    accountsQuery: "SELECT User AS user, Host AS host, IF(account_locked = 'Y', 1, 0) AS locked FROM mysql.user",
    connectionAdmin: 'CONNECTION_ADMIN',
  };
}

export const FLAVORS: Record<FlavorName, Flavor> = { mariadb, mysql80: mysql('mysql80'), mysql84: mysql('mysql84') };

/** Tells the flavor from `SELECT VERSION()`; refuses versions zdm does not know the SQL of. */
export function detectFlavor(version: string): Flavor {
  if (/mariadb/i.test(version)) {
    const [maj, min] = version.split('.').map((n) => parseInt(n, 10));
    if (maj < 10 || (maj === 10 && min < 6)) throw new Error(`MariaDB ${version} is too old: zdm supports MariaDB 10.6 and later`);
    return FLAVORS.mariadb;
  }
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) throw new Error(`cannot tell the MySQL version from ${JSON.stringify(version)}`);
  const [maj, min, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (maj === 8 && min === 0) {
    if (patch < 26) throw new Error(`MySQL ${version} is too old: zdm needs 8.0.26 or later (CHANGE REPLICATION SOURCE TO, SOURCE_POS_WAIT)`);
    return FLAVORS.mysql80;
  }
  if (maj > 8 || (maj === 8 && min >= 1)) return FLAVORS.mysql84;
  throw new Error(`MySQL ${version} is not supported: zdm supports MySQL 8.0.26+, 8.4 and MariaDB 10.6+`);
}

/** Reads `xtrabackup_binlog_info` / `mariadb_backup_binlog_info`: file, position and GTID, tab-separated. */
export function parseBinlogInfo(text: string): { file: string; position: number; gtid?: string } {
  // A MySQL GTID set can span several lines ("uuid1:1-5,\nuuid2:1-3"): everything after the position is the set.
  const [file, pos, ...gtid] = text.trim().split('\t');
  if (!file || file.includes('\n') || !/^\d+\s*$/.test(pos ?? ''))
    throw new Error(`unexpected binlog info from the backup: ${JSON.stringify(text.slice(0, 200))}`);
  const g = gtid.join('').replace(/\s+/g, '');
  return { file, position: Number(pos), gtid: g || undefined };
}

/** Compares two `SELECT VERSION()` strings by their leading numbers: negative when `a` is older. */
export function compareVersions(a: string, b: string): number {
  const nums = (v: string) => {
    const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  };
  const [x, y] = [nums(a), nums(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}
