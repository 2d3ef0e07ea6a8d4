/** The pure parts of the MySQL/MariaDB logical seed: mydumper's metadata, its lock options. */
import { describe, expect, it } from 'vitest';
import { lockArgs, parseMydumperMetadata } from '../../src/engines/mysql/logical-seed.js';

describe('parseMydumperMetadata', () => {
  it("reads MariaDB's binlog position and GTID (mydumper 0.10, as written here)", () => {
    const text =
      'Started dump at: 2026-12-02 05:25:54\nSHOW MASTER STATUS:\n\tLog: mariadb-bin.000001\n\tPos: 2114\n\tGTID:0-1-9\n\nFinished dump at: 2026-12-02 05:25:54\n';
    expect(parseMydumperMetadata(text)).toEqual({ file: 'mariadb-bin.000001', position: 2114, gtid: '0-1-9' });
  });

  it("joins a MySQL GTID set that runs over several lines, and ignores a replica's own SHOW SLAVE STATUS block", () => {
    const text =
      'Started dump at: x\nSHOW MASTER STATUS:\n\tLog: binlog.000003\n\tPos: 157\n\tGTID:3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3\n\nSHOW SLAVE STATUS:\n\tHost: 10.0.0.1\n\tLog: other.000009\n\tPos: 4\n\tGTID:\n\nFinished dump at: y\n';
    expect(parseMydumperMetadata(text)).toEqual({
      file: 'binlog.000003',
      position: 157,
      gtid: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3',
    });
  });

  it('an empty GTID (a server that has written nothing yet) falls back to file and position', () => {
    expect(parseMydumperMetadata('SHOW MASTER STATUS:\n\tLog: b.000001\n\tPos: 4\n\tGTID:\n\n').gtid).toBeUndefined();
  });

  it('refuses metadata without a position: replication could not start from the copy', () => {
    expect(() => parseMydumperMetadata('Started dump at: x\nFinished dump at: y\n')).toThrow(/holds no binlog position/);
  });
});

describe('lockArgs', () => {
  it('FLUSH TABLES WITH READ LOCK only while snapshots open, when every table is InnoDB', () => {
    expect(lockArgs(new Set(['RELOAD', 'SELECT']), 0)).toEqual(['--trx-consistency-only']);
  });
  it('non-InnoDB tables stay locked until read (--less-locking)', () => {
    expect(lockArgs(new Set(['RELOAD']), 2)).toEqual(['--less-locking']);
  });
  it('without RELOAD: LOCK TABLES on every table', () => {
    expect(lockArgs(new Set(['LOCK TABLES']), 0)).toEqual(['--lock-all-tables', '--trx-consistency-only']);
  });
  it('neither: a clear refusal with the grant', () => {
    expect(() => lockArgs(new Set(['SELECT']), 0)).toThrow(/neither RELOAD nor LOCK TABLES.*GRANT RELOAD/);
  });
});
