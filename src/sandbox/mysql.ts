/**
 * Throwaway MySQL servers on loopback, for `zdm rehearse` and the tests (see my-server.ts). MySQL
 * is Debian unstable's, extracted by scripts/install-mysql.sh into .cache/mysql/current and run
 * through its own loader (the zdm-bin wrappers): Debian 12 has no MySQL and too old a glibc.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { startMyServer, type MyServerSandbox, type MyServerSandboxOptions, type ServerKind } from './my-server.js';
import { buildOnce, CACHE_DIR, q, run } from './util.js';

export type MysqlSandboxOptions = MyServerSandboxOptions;
export type MysqlSandbox = MyServerSandbox & { readonly version: string };

const CACHE_REL = '.cache/mysql/current';

function upward(from: string): string | undefined {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, CACHE_REL, 'zdm-bin/mysqld'))) return path.join(dir, CACHE_REL);
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * The extracted MySQL tree (ZDM_MYSQL_ROOT, else .cache/mysql/current in the project), or
 * undefined when scripts/install-mysql.sh has not run.
 */
export function mysqlRoot(): string | undefined {
  const env = process.env.ZDM_MYSQL_ROOT;
  if (env) return existsSync(path.join(env, 'zdm-bin/mysqld')) ? path.resolve(env) : undefined;
  let here: string | undefined;
  try {
    here = path.dirname(fileURLToPath(import.meta.url));
  } catch {
    here = undefined;
  }
  return upward(process.cwd()) ?? (here ? upward(here) : undefined);
}

export const MYSQL_MISSING = 'MySQL is not extracted: run `bash scripts/install-mysql.sh` (or `bash .ci/run-install`) first';

function requireRoot(): string {
  const root = mysqlRoot();
  if (!root) throw new Error(MYSQL_MISSING);
  return root;
}

/** The directory of the wrappers that run the extracted mysqld, mysql, mysqladmin, mysqldump and mysqlbinlog. */
export function mysqlBinDir(): string {
  return path.join(requireRoot(), 'zdm-bin');
}

/** `mysqld --version` of the extracted server, e.g. "9.7.4-2". */
export async function mysqlVersion(): Promise<string> {
  const out = await run(path.join(mysqlBinDir(), 'mysqld'), ['--version']);
  const m = /Ver\s+(\S+)/.exec(out);
  if (!m) throw new Error(`cannot read the version from mysqld --version: ${out.trim()}`);
  return m[1];
}

/** Options the initialisation and every start share: where the extracted tree keeps its files. */
function paths(root: string): Record<string, string> {
  return {
    basedir: `${root}/usr`,
    'plugin-dir': `${root}/usr/lib/mysql/plugin`,
    'lc-messages-dir': `${root}/usr/share/mysql`,
    'innodb-redo-log-capacity': '8M',
  };
}

function kind(root: string, version: string): ServerKind {
  const bin = `${root}/zdm-bin`;
  const template = `${CACHE_DIR}/mysql-${version}-v1`;
  return {
    label: 'MySQL',
    scheme: 'mysql',
    async template() {
      await buildOnce(template, async (tmp) => {
        const opts = Object.entries(paths(root)).map(([k, v]) => `--${k}=${v}`);
        await run(`${bin}/mysqld`, ['--no-defaults', '--initialize-insecure', '--user=root', `--datadir=${tmp}/data`, ...opts], { timeoutMs: 300_000 });
        // auto.cnf holds server_uuid: without it every copy makes its own (one uuid on two servers breaks GTID replication).
        await fs.rm(`${tmp}/data/auto.cnf`, { force: true });
      });
      return `${template}/data`;
    },
    server: q(`${bin}/mysqld`),
    admin: q(`${bin}/mysqladmin`),
    settings: () => ({
      ...paths(root),
      'secure-file-priv': '""',
      'log-bin': 'mysql-bin',
      'gtid-mode': 'ON',
      'enforce-gtid-consistency': 'ON',
      // The X plugin would listen on 33060 in every sandbox.
      mysqlx: 'OFF',
      'plugin-load-add': 'mysql_clone.so',
      // performance_schema stays on: replication lag and CLONE's status and progress live there; sized small.
      'performance-schema': 'ON',
      'max-connections': 100,
      'performance-schema-max-thread-instances': 200,
      'performance-schema-accounts-size': 20,
      'performance-schema-hosts-size': 20,
      'performance-schema-users-size': 20,
      'performance-schema-error-size': 1,
      'performance-schema-max-digest-length': 256,
      'performance-schema-digests-size': 200,
      'performance-schema-max-sql-text-length': 256,
      'performance-schema-events-statements-history-long-size': 100,
      'performance-schema-events-transactions-history-long-size': 100,
      'performance-schema-events-stages-history-long-size': 100,
      'performance-schema-events-waits-history-long-size': 100,
      'innodb-log-buffer-size': '4M',
      'temptable-max-ram': '16M',
      'key-buffer-size': '1M',
    }),
    async setPassword(socket, password) {
      // --initialize-insecure leaves root@localhost without a password. The accounts are this server's own: not in its binlog.
      const c = await mysql.createConnection({ socketPath: socket, user: 'root' });
      try {
        const pw = c.escape(password);
        await c.query('SET SESSION sql_log_bin = 0');
        await c.query(`ALTER USER 'root'@'localhost' IDENTIFIED BY ${pw}`);
        await c.query(`CREATE USER 'root'@'%' IDENTIFIED BY ${pw}`);
        await c.query(`GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Starts a MySQL sandbox; fails with MYSQL_MISSING when scripts/install-mysql.sh has not run. */
export async function startMysql(opts: MysqlSandboxOptions = {}): Promise<MysqlSandbox> {
  const root = requireRoot();
  const version = await mysqlVersion();
  const sb = await startMyServer(kind(root, version), opts);
  return Object.assign(sb, { version });
}
