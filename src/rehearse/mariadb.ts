/**
 * The MariaDB and MySQL rehearsal: binlog replication (GTID) between two throwaway servers of one
 * engine, seeded by mariadb-backup (MariaDB) or the CLONE plugin (MySQL), or logically.
 */
import type { RehearsalStepName } from '../inputs.js';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { startMariadb, type MariadbSandbox } from '../sandbox/mariadb.js';
import { mysqlBinDir, startMysql } from '../sandbox/mysql.js';
import type { NetnsPlacement } from '../sandbox/wan.js';
import type { RehearsalFixture } from './fixture.js';
import type { WriteTarget } from './writer.js';

const APP_DB = 'appdb';

/**
 * A managed service's master user (Amazon RDS, Cloud SQL, Azure): no SUPER, no READ_ONLY ADMIN, no
 * FILE, no shell on the host; BINLOG MONITOR is MariaDB's REPLICATION CLIENT.
 */
export const MASTER_USER_PRIVILEGES = [
  'RELOAD',
  'PROCESS',
  'BINLOG MONITOR',
  'REPLICATION SLAVE',
  'SELECT',
  'SHOW VIEW',
  'TRIGGER',
  'EVENT',
  'LOCK TABLES',
  'CREATE USER',
  'CONNECTION ADMIN',
] as const;

/** The same master user in MySQL's names: REPLICATION CLIENT, CONNECTION_ADMIN (Amazon RDS for MySQL's, without SUPER). */
export const MYSQL_MASTER_USER_PRIVILEGES = [
  'RELOAD',
  'PROCESS',
  'REPLICATION CLIENT',
  'REPLICATION SLAVE',
  'SELECT',
  'SHOW VIEW',
  'TRIGGER',
  'EVENT',
  'LOCK TABLES',
  'CREATE USER',
  'CONNECTION_ADMIN',
] as const;

export type MyEngine = 'mariadb' | 'mysql';

/** The privileges of a managed service's master user on this engine. */
export const masterUserPrivileges = (engine: MyEngine): readonly string[] => (engine === 'mysql' ? MYSQL_MASTER_USER_PRIVILEGES : MASTER_USER_PRIVILEGES);

/** A source and a target of one engine, MariaDB or MySQL (the name is the older of the two). */
export class MariadbFixture implements RehearsalFixture {
  readonly replicationUser = 'zdm_repl';
  readonly replicationPassword = randomBytes(12).toString('hex');
  readonly appUser = 'app_writer';
  readonly appPassword = randomBytes(12).toString('hex');

  private constructor(
    readonly source: MariadbSandbox,
    readonly target: MariadbSandbox,
    readonly durable: boolean,
    readonly engine: MyEngine,
  ) {}

  /** `durable` (the default): sync_binlog=1 and innodb_flush_log_at_trx_commit=1; false relaxes both. `engine`: mariadb (the default) or mysql. `sourceNetns`: the source behind a WAN test bed. `tls`: both servers require TLS. */
  static async start(
    opts: { durable?: boolean; engine?: MyEngine; sourceNetns?: NetnsPlacement; tls?: boolean; settings?: Record<string, string> } = {},
  ): Promise<MariadbFixture> {
    const durable = opts.durable ?? true;
    const engine = opts.engine ?? 'mariadb';
    const start = engine === 'mysql' ? startMysql : startMariadb;
    // The runner's tools for MySQL (mysqldump, mysql) are the extracted ones: first on this process's PATH, as a runner would have them.
    if (engine === 'mysql' && !process.env.PATH?.split(':').includes(mysqlBinDir())) process.env.PATH = `${mysqlBinDir()}:${process.env.PATH ?? ''}`;
    // As on real hosts, the new server's admin has the same password as the source's: the copy brings the source's accounts.
    const password = randomBytes(12).toString('hex');
    const [source, target] = await Promise.all([
      start({ name: 'source', serverId: 1, password, durable, netns: opts.sourceNetns, tls: opts.tls, settings: opts.settings }),
      start({ name: 'target', serverId: 2, password, durable, tls: opts.tls, settings: opts.settings }),
    ]);
    const fx = new MariadbFixture(source, target, durable, engine);
    try {
      for (const sql of [
        `CREATE USER '${fx.replicationUser}'@'%' IDENTIFIED BY '${fx.replicationPassword}'`,
        `GRANT REPLICATION SLAVE ON *.* TO '${fx.replicationUser}'@'%'`,
        `CREATE DATABASE ${APP_DB}`,
        `CREATE USER '${fx.appUser}'@'%' IDENTIFIED BY '${fx.appPassword}'`,
        `GRANT ALL ON ${APP_DB}.* TO '${fx.appUser}'@'%'`,
      ]) {
        await source.query(sql);
      }
    } catch (e) {
      await fx.destroy();
      throw e;
    }
    return fx;
  }

  /**
   * Creates the source's admin without SUPER, modelled on a managed service's master user, and
   * returns its URL. A master user owns the databases it creates: zdm's own `zdm` schema (the
   * heartbeat) is its, as ALL on zdm.*; `without` leaves privileges out (a test of what is missing).
   */
  async noSuperAdmin(opts: { without?: string[] } = {}): Promise<string> {
    const privileges = masterUserPrivileges(this.engine).filter((p) => !opts.without?.includes(p));
    const name = opts.without?.length ? `zdm_master_${randomBytes(3).toString('hex')}` : 'zdm_master';
    for (const sql of [
      `CREATE USER IF NOT EXISTS '${name}'@'%' IDENTIFIED BY '${this.masterPassword}'`,
      `GRANT ${privileges.join(', ')} ON *.* TO '${name}'@'%'`,
      `GRANT ALL ON zdm.* TO '${name}'@'%'`,
    ])
      await this.source.query(sql);
    return this.source.url({ user: name, password: this.masterPassword });
  }

  private readonly masterPassword = randomBytes(12).toString('hex');

  appUrl(server: MariadbSandbox): string {
    return server.url({ user: this.appUser, password: this.appPassword, database: APP_DB });
  }

  private async app(server: MariadbSandbox): Promise<mysql.Connection> {
    const c = server.tls
      ? await mysql.createConnection({
          host: server.host,
          port: server.port,
          user: this.appUser,
          password: this.appPassword,
          database: APP_DB,
          ssl: { ca: server.tls.caPem },
          connectTimeout: 2000,
        })
      : await mysql.createConnection({ uri: this.appUrl(server), connectTimeout: 2000 });
    c.on('error', () => undefined);
    return c;
  }

  async durability(): Promise<Record<string, string>> {
    const [r] = await this.source.query<Record<string, unknown>>(
      'SELECT @@sync_binlog AS sync_binlog, @@innodb_flush_log_at_trx_commit AS innodb_flush_log_at_trx_commit',
    );
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)]));
  }

  async serverVersion(): Promise<string> {
    return String((await this.source.query<{ v: string }>('SELECT VERSION() AS v'))[0].v);
  }

  async loadSampleData(sizeMb: number): Promise<number> {
    const c = await this.app(this.source);
    try {
      await c.query(
        'CREATE TABLE writes (client_seq BIGINT PRIMARY KEY, payload VARCHAR(64) NOT NULL, at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB',
      );
      await c.query('CREATE TABLE sample (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload VARCHAR(255) NOT NULL) ENGINE=InnoDB');
      const rows = Math.max(1, Math.round((sizeMb * 1024 * 1024) / 260));
      const batch = 100_000;
      for (let done = 0; done < rows; done += batch) {
        const n = Math.min(batch, rows - done);
        // Rows made by the server, without a client round trip each: MariaDB's SEQUENCE engine, MySQL's recursive CTE.
        if (this.engine === 'mysql') {
          await c.query(`SET SESSION cte_max_recursion_depth = ${n + 1}`);
          await c.query(
            `INSERT INTO sample (payload) WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ${n}) SELECT REPEAT(SUBSTRING(SHA2(n, 256), 1, 32), 6) FROM seq`,
          );
        } else await c.query(`INSERT INTO sample (payload) SELECT REPEAT(MD5(seq), 6) FROM seq_1_to_${n}`);
      }
      await c.query('ANALYZE TABLE sample, writes');
      const [r] = await c.query(`SELECT COALESCE(SUM(data_length + index_length), 0) AS b FROM information_schema.TABLES WHERE table_schema = '${APP_DB}'`);
      return Number((r as { b: string }[])[0].b);
    } finally {
      await c.end();
    }
  }

  writeTargets(): WriteTarget[] {
    return (['source', 'target'] as const).map((label) => ({
      label,
      connect: async () => {
        const c = await this.app(label === 'source' ? this.source : this.target);
        return {
          write: async (seq: number) => {
            await c.query('INSERT INTO writes (client_seq, payload) VALUES (?, ?)', [seq, `write ${seq}`]);
          },
          close: () => c.end(),
        };
      },
    }));
  }

  stepInputs(opts: { fence: string; targetMemory: string }): Record<RehearsalStepName, Record<string, string>> {
    const common = { engine: this.engine, 'source-url': this.source.url(), 'target-url': this.target.url() };
    const seed = {
      ...common,
      'replication-user': this.replicationUser,
      'replication-password': this.replicationPassword,
      'target-data-dir': this.target.dataDir,
      'target-start-command': this.target.startCommand,
      'target-stop-command': this.target.stopCommand,
      'target-config-file': this.target.optionFile,
    };
    return {
      preflight: { ...seed, 'app-pool-size': '20' },
      'tune-target': { ...common, 'target-memory': opts.targetMemory, 'target-config-file': this.target.optionFile, 'kernel-tuning': 'off' },
      'seed-replica': seed,
      'await-lag-zero': { ...common, 'timeout-seconds': '600', 'settle-seconds': '3' },
      cutover: { ...common, fence: opts.fence, 'target-config-file': this.target.optionFile },
      'post-cutover': { ...common, 'app-pool-size': '20' },
    };
  }

  wayBackInputs(opts: { fence: string }): { cutover: Record<string, string>; rollback: Record<string, string> } {
    return {
      cutover: { 'reverse-replication': 'true', 'replication-user': this.replicationUser, 'replication-password': this.replicationPassword },
      rollback: { engine: this.engine, 'source-url': this.source.url(), 'target-url': this.target.url(), fence: opts.fence },
    };
  }

  missingOnSource(acked: number[]): Promise<number[]> {
    return this.missingOn(this.source, acked);
  }

  missingOnTarget(acked: number[]): Promise<number[]> {
    return this.missingOn(this.target, acked);
  }

  private async missingOn(server: MariadbSandbox, acked: number[]): Promise<number[]> {
    const c = await this.app(server);
    try {
      const [rows] = await c.query('SELECT client_seq FROM writes');
      const present = new Set((rows as { client_seq: string }[]).map((r) => Number(r.client_seq)));
      return acked.filter((s) => !present.has(s));
    } finally {
      await c.end();
    }
  }

  describe(): string {
    return `source ${this.source.baseDir}, target ${this.target.baseDir}`;
  }

  async destroy(): Promise<void> {
    await Promise.all([this.source.destroy(), this.target.destroy()]);
  }
}
