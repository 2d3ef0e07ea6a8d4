/** The PostgreSQL side of a rehearsal: a throwaway source and target, sample data, the app's writes. */
import type { RehearsalStepName } from '../inputs.js';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startPostgres, type PostgresSandbox } from '../sandbox/postgres.js';
import type { WriteTarget } from './writer.js';
import type { RehearsalFixture } from './fixture.js';

export interface PgPair {
  source: PostgresSandbox;
  target: PostgresSandbox;
  replicationUser: string;
  replicationPassword: string;
  appUser: string;
  appPassword: string;
  appDatabase: string;
  destroy(): Promise<void>;
}

export async function startPgPair(opts: { major?: number; sourceSettings?: Record<string, string>; durable?: boolean } = {}): Promise<PgPair> {
  // As on real hosts, the new server's admin has the same name and password as the source's:
  // the copy replaces the target's roles with the source's.
  const adminPassword = randomBytes(12).toString('hex');
  const [source, target] = await Promise.all([
    startPostgres({ name: 'source', major: opts.major, password: adminPassword, settings: opts.sourceSettings, durable: opts.durable }),
    startPostgres({ name: 'target', major: opts.major, password: adminPassword, durable: opts.durable }),
  ]);
  const pair: PgPair = {
    source,
    target,
    replicationUser: 'zdm_repl',
    replicationPassword: randomBytes(12).toString('hex'),
    appUser: 'app_writer',
    appPassword: randomBytes(12).toString('hex'),
    appDatabase: 'appdb',
    destroy: async () => {
      await Promise.all([source.destroy(), target.destroy()]);
    },
  };
  try {
    await source.query(`CREATE ROLE ${pair.replicationUser} WITH LOGIN REPLICATION PASSWORD '${pair.replicationPassword}'`);
    await source.query(`CREATE ROLE ${pair.appUser} WITH LOGIN PASSWORD '${pair.appPassword}'`);
    await source.query(`CREATE DATABASE ${pair.appDatabase} OWNER ${pair.appUser}`);
  } catch (e) {
    await pair.destroy();
    throw e;
  }
  return pair;
}

export function appUrl(p: PgPair, server: PostgresSandbox): string {
  return server.url({ user: p.appUser, password: p.appPassword, database: p.appDatabase });
}

async function appClient(p: PgPair, server: PostgresSandbox): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: appUrl(p, server), connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** Creates the writes table and loads about `sizeMb` of sample rows into the source. */
export async function loadSampleData(p: PgPair, sizeMb: number): Promise<number> {
  const c = await appClient(p, p.source);
  try {
    await c.query('CREATE TABLE writes (client_seq bigint PRIMARY KEY, payload text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await c.query('CREATE TABLE sample (id bigserial PRIMARY KEY, payload text NOT NULL)');
    // ~200-byte rows, in batches so that progress stays visible and memory small.
    const rows = Math.max(1, Math.round((sizeMb * 1024 * 1024) / 260));
    const batch = 200_000;
    for (let done = 0; done < rows; done += batch) {
      const n = Math.min(batch, rows - done);
      await c.query('INSERT INTO sample (payload) SELECT repeat(md5(g::text), 6) FROM generate_series($1::bigint, $2::bigint) g', [done + 1, done + n]);
    }
    const { rows: r } = await c.query('SELECT pg_database_size(current_database())::bigint AS b');
    return Number(r[0].b);
  } finally {
    await c.end();
  }
}

export function pgWriteTargets(p: PgPair): WriteTarget[] {
  return (['source', 'target'] as const).map((label) => ({
    label,
    connect: async () => {
      const c = await appClient(p, label === 'source' ? p.source : p.target);
      return {
        write: async (seq: number) => {
          await c.query('INSERT INTO writes (client_seq, payload) VALUES ($1, $2)', [seq, `write ${seq}`]);
        },
        close: () => c.end(),
      };
    },
  }));
}

/** Acknowledged writes not found on `server`. */
export async function missingWrites(p: PgPair, server: PostgresSandbox, acked: number[]): Promise<number[]> {
  const c = await appClient(p, server);
  try {
    const { rows } = await c.query('SELECT client_seq FROM writes');
    const present = new Set(rows.map((r: { client_seq: string }) => Number(r.client_seq)));
    return acked.filter((s) => !present.has(s));
  } finally {
    await c.end();
  }
}

/** The PostgreSQL rehearsal: physical streaming replication between two throwaway servers. */
export class PostgresFixture implements RehearsalFixture {
  readonly engine = 'postgres' as const;
  private constructor(
    readonly pair: PgPair,
    readonly durable: boolean,
  ) {}

  /**
   * `rewindable`: wal_log_hints on the source, so that pg_rewind can rewind it after a read-only fence.
   * `durable`: both servers with production durability (fsync on); default fsync off, for tests.
   */
  static async start(opts: { rewindable?: boolean; durable?: boolean; sourceSettings?: Record<string, string> } = {}): Promise<PostgresFixture> {
    const durable = opts.durable ?? false;
    const sourceSettings = { ...(opts.rewindable ? { wal_log_hints: 'on' } : {}), ...opts.sourceSettings };
    return new PostgresFixture(await startPgPair({ durable, sourceSettings }), durable);
  }

  async durability(): Promise<Record<string, string>> {
    const r = await this.pair.source.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name",
    );
    return Object.fromEntries(r.map((x) => [x.name, x.setting]));
  }

  async serverVersion(): Promise<string> {
    return String((await this.pair.source.query<{ v: string }>("SELECT current_setting('server_version') AS v"))[0].v);
  }

  loadSampleData(sizeMb: number): Promise<number> {
    return loadSampleData(this.pair, sizeMb);
  }

  writeTargets(): WriteTarget[] {
    return pgWriteTargets(this.pair);
  }

  stepInputs(opts: { fence: string; targetMemory: string }): Record<RehearsalStepName, Record<string, string>> {
    const p = this.pair;
    const common = { engine: 'postgres', 'source-url': p.source.url(), 'target-url': p.target.url() };
    const seed = {
      ...common,
      'replication-user': p.replicationUser,
      'replication-password': p.replicationPassword,
      'target-data-dir': p.target.dataDir,
      'target-start-command': p.target.startCommand,
      'target-stop-command': p.target.stopCommand,
    };
    return {
      preflight: { ...seed, 'app-pool-size': '20' },
      'tune-target': { ...common, 'target-memory': opts.targetMemory, 'kernel-tuning': 'off' },
      'seed-replica': seed,
      'await-lag-zero': { ...common, 'timeout-seconds': '600', 'settle-seconds': '3' },
      // pg_ctl -W returns as the fast shutdown begins; cutover itself waits for the source to refuse
      // connections and proves the shutdown checkpoint reached the target (pg_ctl -w polls only every 100 ms).
      cutover: { ...common, fence: opts.fence, 'source-stop-command': p.source.fastStopCommand, 'source-start-command': p.source.startCommand },
      // Servers started with fsync=off on purpose: the checklist reports it without blocking.
      'post-cutover': { ...common, 'app-pool-size': '20', ...(this.durable ? {} : { 'allow-relaxed-durability': 'true' }) },
    };
  }

  missingOnTarget(acked: number[]): Promise<number[]> {
    return missingWrites(this.pair, this.pair.target, acked);
  }

  wayBackInputs(opts: { fence: string }): { cutover: Record<string, string>; rollback: Record<string, string> } {
    const p = this.pair;
    return {
      cutover: { 'reverse-replication': 'true', 'replication-user': p.replicationUser, 'replication-password': p.replicationPassword },
      rollback: {
        engine: 'postgres',
        'source-url': p.source.url(),
        'target-url': p.target.url(),
        fence: opts.fence,
        'target-stop-command': p.target.fastStopCommand,
        'target-start-command': p.target.startCommand,
      },
    };
  }

  missingOnSource(acked: number[]): Promise<number[]> {
    return missingWrites(this.pair, this.pair.source, acked);
  }

  describe(): string {
    return `source ${this.pair.source.baseDir}, target ${this.pair.target.baseDir}`;
  }

  destroy(): Promise<void> {
    return this.pair.destroy();
  }
}
