/** The pure parts of the MySQL tooling: mydumper's version, a dump's coordinates, a server run through the dynamic loader. */
import { describe, expect, it } from 'vitest';
import { coordinateReader, dumpDialect } from '../../src/engines/mysql/mariadb-dump.js';
import { MYDUMPER_FOR_84, parseMydumperVersion } from '../../src/engines/mysql/logical-seed.js';
import { withoutLoader } from '../../src/engines/mysql/option-files.js';

describe('mydumper --version', () => {
  it("reads Debian's 0.10 and the newer v-prefixed form", () => {
    expect(parseMydumperVersion('mydumper 0.10.0, built against MySQL 10.11.14')).toBe('0.10.0');
    expect(parseMydumperVersion('mydumper v0.16.9-1, built against MySQL 8.0.39 with SSL support')).toBe('0.16.9');
    expect(parseMydumperVersion('something else')).toBeUndefined();
    expect(MYDUMPER_FOR_84).toBe('0.16.3');
  });
});

describe("mysqldump's coordinates (as MySQL 9.7.4 wrote them)", () => {
  it('the GTID set (over lines when several servers wrote it) and the binlog position', () => {
    const r = coordinateReader(dumpDialect('mysqldump'));
    r.add(
      Buffer.from(
        "-- GTID state at the beginning of the backup \n/* SET @@GLOBAL.GTID_PURGED='+c5a1af02-f293-11f1-8d9a-02fc00000001:1-3,\nd6b2bf13-f293-11f1-8d9a-02fc00000002:1-7';*/\n" +
          "-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='mysql-bin.000001', SOURCE_LOG_POS=799;\n",
      ),
    );
    expect(r.found).toEqual({
      gtid: 'c5a1af02-f293-11f1-8d9a-02fc00000001:1-3,d6b2bf13-f293-11f1-8d9a-02fc00000002:1-7',
      file: 'mysql-bin.000001',
      position: 799,
    });
  });

  it("MariaDB's dump keeps its own comments", () => {
    const r = coordinateReader(dumpDialect('mariadb-dump'));
    r.add(Buffer.from("-- CHANGE MASTER TO MASTER_LOG_FILE='mariadb-bin.000002', MASTER_LOG_POS=342;\n-- SET GLOBAL gtid_slave_pos='0-1-12';\n"));
    expect(r.found).toEqual({ gtid: '0-1-12', file: 'mariadb-bin.000002', position: 342 });
  });
});

describe('a server command line through the dynamic loader', () => {
  it('is read from the program on', () => {
    const argv = ['/x/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', '--library-path', '/x/usr/lib:/x/lib', '/x/usr/sbin/mysqld', '--defaults-file=/t/my.cnf'];
    expect(withoutLoader(argv)).toEqual(['/x/usr/sbin/mysqld', '--defaults-file=/t/my.cnf']);
    expect(withoutLoader(['/usr/sbin/mysqld', '--no-defaults'])).toEqual(['/usr/sbin/mysqld', '--no-defaults']);
  });
});
