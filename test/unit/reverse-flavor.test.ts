/**
 * Reverse replication statements per flavor: the former primary keeps its own binlog and GTID
 * history (never RESET MASTER / gtid_purged there) and continues from the GTID of the fence.
 */
import { describe, expect, it } from 'vitest';
import { FLAVORS } from '../../src/engines/mysql/flavor.js';

const c = { host: 'db-new', port: 3306, user: 'repl', password: "p'w", gtid: '0-1-500' };

describe('resumeFrom', () => {
  it('MariaDB: gtid_slave_pos first, then MASTER_USE_GTID=slave_pos', () => {
    expect(FLAVORS.mariadb.resumeFrom(c)).toEqual([
      "SET GLOBAL gtid_slave_pos = '0-1-500'",
      "CHANGE MASTER TO MASTER_HOST='db-new', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='p\\'w', MASTER_CONNECT_RETRY=5, MASTER_USE_GTID=slave_pos",
    ]);
  });

  for (const name of ['mysql80', 'mysql84'] as const) {
    it(`${name}: auto-positioning from the GTIDs it has, without resetting its binlog or gtid_purged`, () => {
      const stmts = FLAVORS[name].resumeFrom({ ...c, gtid: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-500' });
      expect(stmts).toEqual([
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db-new', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='p\\'w', SOURCE_CONNECT_RETRY=5, GET_SOURCE_PUBLIC_KEY=1, SOURCE_AUTO_POSITION=1",
      ]);
      expect(stmts.join(' ')).not.toMatch(/RESET|gtid_purged/);
    });
  }
});
