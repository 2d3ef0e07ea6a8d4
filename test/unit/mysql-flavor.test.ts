/**
 * The SQL each MySQL/MariaDB flavor sends. No MySQL 8.x server can be installed on these machines
 * (Debian ships MariaDB only), so the MySQL 8.0 and 8.4 statements are checked here against the
 * reference manuals' syntax; MariaDB's are also exercised against a real server by the integration tests.
 */
import { describe, expect, it } from 'vitest';
import { detectFlavor, FLAVORS, parseBinlogInfo, quoteString } from '../../src/engines/mysql/flavor.js';

const coords = { host: 'db-old', port: 3306, user: 'repl', password: "p'w\\x" };

describe('flavor detection', () => {
  it('tells MariaDB, MySQL 8.0 and 8.4 apart', () => {
    expect(detectFlavor('10.11.19-MariaDB-0+deb12u1').name).toBe('mariadb');
    expect(detectFlavor('11.4.2-MariaDB').name).toBe('mariadb');
    expect(detectFlavor('8.0.36').name).toBe('mysql80');
    expect(detectFlavor('8.4.3').name).toBe('mysql84');
    expect(detectFlavor('9.1.0').name).toBe('mysql84');
  });
  it('refuses versions whose SQL it does not know', () => {
    expect(() => detectFlavor('10.5.20-MariaDB')).toThrow(/MariaDB 10.6 and later/);
    expect(() => detectFlavor('8.0.21')).toThrow(/8\.0\.26 or later/);
    expect(() => detectFlavor('5.7.44')).toThrow(/not supported/);
  });
});

describe('MySQL 8.4 (removed CHANGE MASTER, SLAVE, SHOW MASTER STATUS, RESET MASTER)', () => {
  const f = FLAVORS.mysql84;
  it('uses only statements 8.4 still has', () => {
    const all = [
      f.showReplicaStatus,
      f.showBinlogStatus,
      f.stopReplica,
      f.startReplica,
      f.resetReplicaAll,
      ...f.changeSource({ ...coords, gtid: 'uuid:1-5' }),
      ...f.readOnly(true),
      ...f.readOnly(false),
    ].join('\n');
    for (const removed of [/CHANGE MASTER/, /\bSLAVE\b/, /SHOW MASTER STATUS/, /RESET MASTER/, /MASTER_/]) expect(all).not.toMatch(removed);
    expect(f.showBinlogStatus).toBe('SHOW BINARY LOG STATUS');
  });
  it('starts from the backup GTID set with auto-positioning', () => {
    expect(f.changeSource({ ...coords, gtid: '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77' })).toEqual([
      'RESET BINARY LOGS AND GTIDS',
      "SET GLOBAL gtid_purged = '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77'",
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db-old', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='p\\'w\\\\x', SOURCE_CONNECT_RETRY=5, GET_SOURCE_PUBLIC_KEY=1, SOURCE_AUTO_POSITION=1",
    ]);
  });
  it('waits with WAIT_FOR_EXECUTED_GTID_SET and fences with super_read_only', () => {
    expect(f.waitForGtid('u:1-9', 10)).toEqual({ sql: 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r', params: ['u:1-9', 10] });
    expect(f.waitForPosition('binlog.000002', 157, 10).sql).toBe('SELECT SOURCE_POS_WAIT(?, ?, ?) AS r');
    expect(f.readOnly(true)).toEqual(['SET GLOBAL super_read_only = ON']);
    expect(f.readOnly(false)).toEqual(['SET GLOBAL super_read_only = OFF', 'SET GLOBAL read_only = OFF']);
    expect(f.columns.secondsBehind).toBe('Seconds_Behind_Source');
    expect(f.columns.ioRunning).toBe('Replica_IO_Running');
  });
});

describe('MySQL 8.0.26+', () => {
  const f = FLAVORS.mysql80;
  it('uses SHOW MASTER STATUS and RESET MASTER, which 8.0 has', () => {
    expect(f.showBinlogStatus).toBe('SHOW MASTER STATUS');
    expect(f.changeSource({ ...coords, gtid: 'u:1-3' })[0]).toBe('RESET MASTER');
  });
  it('starts from file and position when the source has no GTIDs', () => {
    expect(f.changeSource({ ...coords, file: 'binlog.000003', position: 4711 })).toEqual([
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db-old', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='p\\'w\\\\x', SOURCE_CONNECT_RETRY=5, GET_SOURCE_PUBLIC_KEY=1, SOURCE_LOG_FILE='binlog.000003', SOURCE_LOG_POS=4711",
    ]);
  });
});

describe('MariaDB', () => {
  const f = FLAVORS.mariadb;
  it('sets gtid_slave_pos before CHANGE MASTER ... MASTER_USE_GTID=slave_pos', () => {
    const s = f.changeSource({ ...coords, gtid: '0-1-42' });
    expect(s[0]).toBe("SET GLOBAL gtid_slave_pos = '0-1-42'");
    expect(s[1]).toMatch(/^CHANGE MASTER TO MASTER_HOST='db-old', MASTER_PORT=3306, .*MASTER_USE_GTID=slave_pos$/);
    expect(s.join()).not.toMatch(/REPLICATION SOURCE/);
  });
  it('has no super_read_only and knows who bypasses read_only', () => {
    expect(f.readOnly(true)).toEqual(['SET GLOBAL read_only = ON']);
    expect(f.bypassReadOnlyPrivileges).toContain('READ_ONLY ADMIN');
    expect(f.waitForGtid('0-1-5', 3).sql).toBe('SELECT MASTER_GTID_WAIT(?, ?) AS r');
    expect(f.columns.secondsBehind).toBe('Seconds_Behind_Master');
  });
});

describe('backup coordinates', () => {
  it('parses file, position and GTID (10.11 format, tab-separated)', () => {
    expect(parseBinlogInfo('mariadb-bin.000002\t1234\t0-1-42\n')).toEqual({ file: 'mariadb-bin.000002', position: 1234, gtid: '0-1-42' });
    expect(parseBinlogInfo('binlog.000001\t157\n')).toEqual({ file: 'binlog.000001', position: 157, gtid: undefined });
    expect(parseBinlogInfo('binlog.000001\t157\tu1:1-5,\nu2:1-3\n')).toMatchObject({ gtid: 'u1:1-5,u2:1-3' });
    expect(() => parseBinlogInfo('garbage')).toThrow(/unexpected binlog info/);
  });
  it('quotes strings for SQL', () => {
    expect(quoteString("a'b\\c\n")).toBe("'a\\'b\\\\c\\n'");
  });
});
