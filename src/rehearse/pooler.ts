/**
 * The application's pooler in a rehearsal: a throwaway PgBouncer (PostgreSQL) or HAProxy (MariaDB)
 * in front of the source. The writing clients connect only through it, and cutover drives it
 * (PgBouncer: PAUSE, switch, repoint, RESUME; HAProxy: switch, repoint, sessions on the old source shut down).
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startHaproxy, type HaproxySandbox } from '../sandbox/haproxy.js';
import { startPgbouncer, type PgbouncerSandbox } from '../sandbox/pgbouncer.js';
import type { RehearsalFixture } from './fixture.js';
import { MariadbFixture } from './mariadb.js';
import { PostgresFixture, type PgPair } from './postgres.js';
import type { WriteTarget } from './writer.js';

export type PoolerKind = 'pgbouncer' | 'haproxy';

export interface RehearsalPooler {
  kind: PoolerKind;
  /** The application's one endpoint: the pooler. */
  writeTargets: WriteTarget[];
  /** What preflight and cutover add to drive the pooler(s). */
  inputs: Record<string, string>;
  destroy(): Promise<void>;
}

/**
 * One client endpoint through the pooler. Its label is the side that acknowledged the last write
 * (each write returns the server's port), so the write load tells source from new primary as
 * before, though it never changes its connection.
 */
export function throughPgbouncer(p: PgPair, bouncer: PgbouncerSandbox): WriteTarget {
  let side: WriteTarget['label'] = 'source';
  const url = bouncer.url(p.appUser, p.appPassword, p.appDatabase);
  return {
    get label() {
      return side;
    },
    connect: async () => {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      c.on('error', () => undefined);
      await c.connect();
      return {
        write: async (seq: number) => {
          const r = await c.query<{ port: string }>("INSERT INTO writes (client_seq, payload) VALUES ($1, $2) RETURNING current_setting('port') AS port", [
            seq,
            `write ${seq}`,
          ]);
          side = Number(r.rows[0].port) === p.target.port ? 'target' : 'source';
        },
        close: () => c.end(),
      };
    },
  };
}

/** Starts `count` PgBouncers in front of the source, all paused, repointed and resumed together by cutover. */
export async function startPgbouncers(p: PgPair, count = 1): Promise<PgbouncerSandbox[]> {
  const started: PgbouncerSandbox[] = [];
  try {
    for (let i = 0; i < count; i++)
      started.push(
        await startPgbouncer({
          name: `pgbouncer${i + 1}`,
          databases: { [p.appDatabase]: { host: '127.0.0.1', port: p.source.port, dbname: p.appDatabase } },
          users: { [p.appUser]: p.appPassword },
        }),
      );
  } catch (e) {
    await Promise.all(started.map((b) => b.destroy()));
    throw e;
  }
  return started;
}

export function pgbouncerInputs(p: PgPair, bouncers: PgbouncerSandbox[]): Record<string, string> {
  return {
    pooler: 'pgbouncer',
    'pooler-admin-urls': bouncers.map((b) => b.adminUrl()).join('\n'),
    'pooler-config-files': bouncers.map((b) => b.configFile).join('\n'),
    'pooler-database': p.appDatabase,
  };
}

/** One MariaDB client endpoint through HAProxy; labelled, like throughPgbouncer, by the server that acknowledged. */
export function throughHaproxy(fx: MariadbFixture, proxy: HaproxySandbox): WriteTarget {
  let side: WriteTarget['label'] = 'source';
  return {
    get label() {
      return side;
    },
    connect: async () => {
      const c = await mysql.createConnection({
        host: '127.0.0.1',
        port: proxy.port,
        user: fx.appUser,
        password: fx.appPassword,
        database: 'appdb',
        connectTimeout: 2000,
      });
      c.on('error', () => undefined);
      return {
        write: async (seq: number) => {
          // MySQL has no INSERT … RETURNING: the server id on the same session (one backend) right after.
          const insert = 'INSERT INTO writes (client_seq, payload) VALUES (?, ?)';
          const [rows] =
            fx.engine === 'mysql'
              ? await c.query(insert, [seq, `write ${seq}`]).then(() => c.query('SELECT @@server_id AS sid'))
              : await c.query(`${insert} RETURNING @@server_id AS sid`, [seq, `write ${seq}`]);
          side = Number((rows as { sid: number }[])[0].sid) === 1 ? 'source' : 'target';
        },
        close: () => c.end(),
      };
    },
  };
}

async function startHaproxyPooler(fx: MariadbFixture): Promise<RehearsalPooler> {
  const proxy = await startHaproxy({ host: '127.0.0.1', port: fx.source.port });
  return {
    kind: 'haproxy',
    writeTargets: [throughHaproxy(fx, proxy)],
    inputs: { pooler: 'haproxy', 'pooler-admin-urls': proxy.adminUrl, 'pooler-backend': proxy.backend, 'pooler-server': proxy.server },
    destroy: () => proxy.destroy(),
  };
}

export async function startRehearsalPooler(kind: PoolerKind, fx: RehearsalFixture): Promise<RehearsalPooler> {
  if (kind === 'haproxy') {
    if (!(fx instanceof MariadbFixture)) throw new Error('--pooler haproxy rehearses MariaDB and MySQL only (--engine mariadb, --engine mysql)');
    return startHaproxyPooler(fx);
  }
  if (!(fx instanceof PostgresFixture)) throw new Error(`--pooler ${kind} rehearses PostgreSQL only (--engine postgres)`);
  const [bouncer] = await startPgbouncers(fx.pair);
  return {
    kind,
    writeTargets: [throughPgbouncer(fx.pair, bouncer)],
    inputs: pgbouncerInputs(fx.pair, [bouncer]),
    destroy: () => bouncer.destroy(),
  };
}
