import { describe, expect, it } from 'vitest';
import { secretValues } from '../../src/inputs.js';
import { openPoolers } from '../../src/poolers/index.js';
import { findDatabaseLine, repointConfig } from '../../src/poolers/pgbouncer-config.js';
import { parseAddress } from '../../src/poolers/pooler.js';
import { readInputs } from '../../src/inputs.js';

const INI = `;; app pools
[databases]
; appdb = host=old
appdb = host=10.0.0.5 port=5432 dbname=app user=app_writer pool_mode=transaction
other = host=10.0.0.9 dbname=other

[pgbouncer]
appdb = not-a-database
listen_port = 6432
`;

describe('PgBouncer configuration edit', () => {
  it('repoints only the entry in [databases], keeping its other keys', () => {
    const { text, before } = repointConfig(INI, 'appdb', { host: '10.0.1.7', port: 5433 });
    expect(before).toEqual({ host: '10.0.0.5', port: 5432 });
    expect(text.split('\n')[3]).toBe('appdb = host=10.0.1.7 port=5433 dbname=app user=app_writer pool_mode=transaction');
    // The comment, the other entry and the [pgbouncer] section are as they were.
    expect(text.replace(text.split('\n')[3], '')).toBe(INI.replace(INI.split('\n')[3], ''));
  });

  it('finds no entry that is commented out or outside [databases]', () => {
    expect(findDatabaseLine('[pgbouncer]\nappdb = x\n[databases]\n;appdb = host=a\n', 'appdb')).toBeUndefined();
    expect(() => repointConfig(INI, 'nosuch', { host: 'h', port: 1 })).toThrow(/no entry "nosuch" in the \[databases\] section/);
  });

  it('parses host:port addresses', () => {
    expect(parseAddress('db-new:6543', 5432)).toEqual({ host: 'db-new', port: 6543 });
    expect(parseAddress('[::1]:5433', 5432)).toEqual({ host: '::1', port: 5433 });
    expect(parseAddress('db-new', 5432)).toEqual({ host: 'db-new', port: 5432 });
  });
});

describe('pooler inputs', () => {
  const raw = (extra: Record<string, string>) => (n: string) =>
    ({ 'source-url': 'postgres://a:b@src/postgres', 'target-url': 'postgres://a:b@dst/postgres', ...extra })[n];

  it('masks the password of every pooler admin URL in the list', () => {
    const secrets = secretValues('cutover', raw({ 'pooler-admin-urls': 'postgres://adm:pw-one@b1:6432/pgbouncer\npostgres://adm:pw%2Ftwo@b2:6432/pgbouncer' }));
    expect(secrets).toEqual(expect.arrayContaining(['pw-one', 'pw%2Ftwo', 'pw/two']));
  });

  it('wants one configuration file per pooler and a database entry name', () => {
    const two = { pooler: 'pgbouncer', 'pooler-admin-urls': 'postgres://a:b@b1:6432/pgbouncer postgres://a:b@b2:6432/pgbouncer', 'pooler-database': 'app' };
    expect(() => openPoolers(readInputs('cutover', raw({ ...two, 'pooler-config-files': '/etc/pgbouncer/pgbouncer.ini' })))).toThrow(
      /input pooler-config-files must name one configuration file per pooler, in the order of pooler-admin-urls \(2 admin address\(es\), 1 file\(s\)\)/,
    );
    expect(() => openPoolers(readInputs('cutover', raw({ ...two, 'pooler-config-files': '/a /b', 'pooler-database': '' })))).toThrow(
      /input pooler-database must be/,
    );
    expect(openPoolers(readInputs('cutover', raw({ ...two, 'pooler-config-files': '/a\n/b' })))?.map((p) => p.label)).toEqual([
      'pgbouncer b1:6432',
      'pgbouncer b2:6432',
    ]);
    expect(openPoolers(readInputs('cutover', raw({})))).toBeUndefined();
  });
});
