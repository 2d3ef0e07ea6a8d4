/** Throwaway MariaDB servers on loopback, for `zdm rehearse` and the tests (see my-server.ts). */
import mysql from 'mysql2/promise';
import { startMyServer, type MyServerSandbox, type MyServerSandboxOptions, type ServerKind } from './my-server.js';
import { buildOnce, CACHE_DIR, run } from './util.js';

export type MariadbSandboxOptions = MyServerSandboxOptions;
export type MariadbSandbox = MyServerSandbox;

const TEMPLATE = `${CACHE_DIR}/mariadb-v1`;

const MARIADB: ServerKind = {
  label: 'MariaDB',
  scheme: 'mariadb',
  async template() {
    await buildOnce(TEMPLATE, async (tmp) => {
      await run('mariadb-install-db', ['--no-defaults', `--datadir=${tmp}/data`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], {
        timeoutMs: 120_000,
      });
    });
    return `${TEMPLATE}/data`;
  },
  server: '/usr/sbin/mariadbd',
  admin: 'mariadb-admin',
  settings: () => ({ 'log-bin': 'mariadb-bin', 'binlog-format': 'ROW', 'performance-schema': 'OFF' }),
  async setPassword(socket, password) {
    const c = await mysql.createConnection({ socketPath: socket, user: 'root' });
    try {
      const pw = c.escape(password);
      // mariadb-install-db also makes root@127.0.0.1, @::1 and @<hostname> without passwords, and anonymous accounts: keep root@localhost only.
      await c.query("DELETE FROM mysql.global_priv WHERE User IN ('root', '') AND NOT (User = 'root' AND Host = 'localhost')");
      await c.query('FLUSH PRIVILEGES');
      await c.query(`ALTER USER 'root'@'localhost' IDENTIFIED BY ${pw}`);
      await c.query(`CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY ${pw}`);
      await c.query(`GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION`);
    } finally {
      await c.end();
    }
  },
};

export function startMariadb(opts: MariadbSandboxOptions = {}): Promise<MariadbSandbox> {
  return startMyServer(MARIADB, opts);
}
