/**
 * `npx tsx bench/pg-logical.ts [--size-mb 512] [--tables 4] [--burst-seconds 20]`: PostgreSQL
 * seed and catch-up rates, physical against logical, on durable sandbox servers (fsync on), all
 * from one source (Debian's 15) loaded once with `--tables` tables of sample rows:
 *
 * 1. the copy of the rows alone, by hand, on fresh 17 targets with the schema loaded: the
 *    subscription's own table sync (max_sync_workers_per_subscription 2 and 4) against a parallel
 *    COPY per table (2 and 4 sessions) from the snapshot a logical slot exports, the subscription
 *    then started on that slot with copy_data = false (the "parallel copy" question of issue 14);
 * 2. seed-replica end to end: method physical into a 15 target, method logical into a 17 target;
 * 3. catch-up: the standby's replay paused and the subscription disabled, a burst of writes at
 *    full speed on the source (pgbench, --burst-seconds), then the time each target takes to apply
 *    that same WAL once let go, one after the other.
 *
 * Prints the figures and replaces the `pg-logical` section of bench/results.json.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { TextLog } from '../src/log.js';
import { runStep } from '../src/run-step.js';
import { findBinaries, startPostgres, type PostgresSandbox } from '../src/sandbox/postgres.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const SIZE_MB = arg('size-mb', 512);
const TABLES = arg('tables', 4);
const BURST_SECONDS = arg('burst-seconds', 20);
const SECTION = 'pg-logical';
const DURABILITY = 'durable (fsync, synchronous_commit, full_page_writes on, on every server)';
const quiet = new TextLog(() => undefined);
const ADMIN_PASSWORD = randomBytes(12).toString('hex');
const REPL = { user: 'zdm_repl', password: randomBytes(12).toString('hex') };
const DB = 'appdb';
// A standby needs max_wal_senders and the like at least as large as its source's (zdm's preflight checks it).
const SOURCE_SETTINGS = { wal_level: 'logical', max_wal_senders: 20, max_replication_slots: 20 };
const tables = Array.from({ length: TABLES }, (_, i) => `t${i + 1}`);
const mb = (bytes: number) => bytes / 1024 / 1024;

interface Figure {
  section: string;
  name: string;
  value: number;
  unit: string;
  durability: string;
  detail?: string;
}
const figures: Figure[] = [];
interface Run {
  at: string;
  loadAverage: unknown;
  values: Record<string, number>;
}
interface Summary {
  at: string;
  loadAverage: unknown;
  runs?: Run[];
  [more: string]: unknown;
}

function record(name: string, seconds: number, bytes: number, detail: string): number {
  const rate = mb(bytes) / seconds;
  process.stdout.write(`${name}: ${seconds.toFixed(1)} s for ${mb(bytes).toFixed(0)} MB (${rate.toFixed(1)} MB/s) - ${detail}\n`);
  figures.push({
    section: SECTION,
    name: `postgres: ${name}`,
    value: Number(rate.toFixed(1)),
    unit: 'MB/s',
    durability: DURABILITY,
    detail: `${seconds.toFixed(1)} s for ${mb(bytes).toFixed(0)} MB; ${detail}`,
  });
  return rate;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q1 = async <T>(sb: PostgresSandbox, sql: string, db = DB): Promise<T> => {
  // sandbox.query runs in the postgres database: reach appdb through a client of its own.
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: sb.url({ database: db }) });
  await c.connect();
  try {
    return (await c.query(sql)).rows[0] as T;
  } finally {
    await c.end();
  }
};

/** Runs a bash script, the admin password in PGPASSWORD (never on a command line). */
function sh(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('/bin/bash', ['-c', `set -euo pipefail; ${script}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PGPASSWORD: ADMIN_PASSWORD },
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`bash exited ${code}: ${err.slice(-2000)}`))));
  });
}

const bin = (tool: string) => path.join(findBinaries(15).binDir, tool);
const conn = (sb: PostgresSandbox, db = DB) => `"host=127.0.0.1 port=${sb.port} user=postgres dbname=${db}"`;
const psql = (sb: PostgresSandbox, db = DB) => `${bin('psql')} -X -q -v ON_ERROR_STOP=1 ${conn(sb, db)}`;

async function startSource(): Promise<[PostgresSandbox, number]> {
  const src = await startPostgres({ name: 'source', major: 15, password: ADMIN_PASSWORD, durable: true, settings: SOURCE_SETTINGS });
  await src.query(`CREATE ROLE ${REPL.user} WITH LOGIN REPLICATION PASSWORD '${REPL.password}'`);
  await src.query(`CREATE DATABASE ${DB}`);
  const rows = Math.round((SIZE_MB * 1024 * 1024) / 260 / TABLES);
  const t0 = performance.now();
  for (const t of tables) {
    await q1(src, `CREATE TABLE ${t} (id bigint PRIMARY KEY, payload text NOT NULL)`);
    // ~200-byte rows, as the rehearsal's sample table; the load in batches keeps memory small.
    for (let done = 0; done < rows; done += 200_000)
      await q1(src, `INSERT INTO ${t} SELECT g, repeat(md5(g::text), 6) FROM generate_series(${done + 1}, ${Math.min(rows, done + 200_000)}) g`);
  }
  // The burst's inserts go here; it exists (empty) before any copy so that every target has it.
  await q1(src, 'CREATE TABLE burst (id bigserial PRIMARY KEY, k bigint NOT NULL, payload text NOT NULL)');
  await q1(src, 'VACUUM ANALYZE');
  await q1(src, 'CHECKPOINT');
  const { b } = await q1<{ b: string }>(src, `SELECT pg_database_size('${DB}')::text AS b`);
  process.stdout.write(`source 15 loaded: ${TABLES} tables, ${mb(Number(b)).toFixed(0)} MB (appdb) in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  return [src, Number(b)];
}

async function target17(syncWorkers: number): Promise<PostgresSandbox> {
  const settings = { max_sync_workers_per_subscription: syncWorkers, max_logical_replication_workers: syncWorkers + 4, max_worker_processes: 16 };
  const tgt = await startPostgres({ name: 'target17', major: 17, password: ADMIN_PASSWORD, durable: true, settings });
  await tgt.query(`CREATE DATABASE ${DB}`);
  return tgt;
}

/** The source's schema on a target (tables and their keys, before any row). */
async function loadSchema(src: PostgresSandbox, tgt: PostgresSandbox): Promise<void> {
  await sh(`${bin('pg_dump')} --schema-only --no-owner --no-privileges ${conn(src)} | ${psql(tgt)}`);
}

const subConninfo = (src: PostgresSandbox) => `host=127.0.0.1 port=${src.port} user=postgres password=${ADMIN_PASSWORD} dbname=${DB}`;

async function waitAllReady(tgt: PostgresSandbox, sub: string): Promise<void> {
  for (;;) {
    const r = await q1<{ n: number; ready: number }>(
      tgt,
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE srsubstate = 'r')::int AS ready FROM pg_subscription_rel WHERE srsubid = (SELECT oid FROM pg_subscription WHERE subname = '${sub}')`,
    );
    if (r.n > 0 && r.n === r.ready) return;
    await sleep(200);
  }
}

/** The subscription's own copy: CREATE SUBSCRIPTION (copy_data) until every table is 'r'. */
async function subscriptionCopy(src: PostgresSandbox, bytes: number, workers: number): Promise<number> {
  const tgt = await target17(workers);
  const name = `bench_sub_${workers}`;
  try {
    await loadSchema(src, tgt);
    await q1(src, `CREATE PUBLICATION ${name} FOR TABLE ${[...tables, 'burst'].join(', ')}`);
    const t0 = performance.now();
    await q1(tgt, `CREATE SUBSCRIPTION ${name} CONNECTION '${subConninfo(src)}' PUBLICATION ${name} WITH (copy_data = true)`);
    await waitAllReady(tgt, name);
    const s = (performance.now() - t0) / 1000;
    await q1(tgt, `DROP SUBSCRIPTION ${name}`);
    return record(
      `15->17 rows copy, subscription table sync (max_sync_workers_per_subscription ${workers})`,
      s,
      bytes,
      `${TABLES} tables, schema loaded before, slot creation included`,
    );
  } finally {
    await q1(src, `DROP PUBLICATION IF EXISTS ${name}`).catch(() => undefined);
    await tgt.destroy();
  }
}

/**
 * The alternative: a slot created over a replication connection exports its snapshot; `sessions`
 * psql pairs each COPY one table at a time from that snapshot into the target; then the
 * subscription starts on the slot with copy_data = false, so the stream begins exactly where the
 * snapshot ends (as pgcopydb does).
 */
async function snapshotCopy(src: PostgresSandbox, bytes: number, sessions: number): Promise<number> {
  const pg = (await import('pg')).default;
  const tgt = await target17(2);
  const name = `bench_snap_${sessions}`;
  try {
    await loadSchema(src, tgt);
    await q1(src, `CREATE PUBLICATION ${name} FOR TABLE ${[...tables, 'burst'].join(', ')}`);
    const t0 = performance.now();
    const repl = new pg.Client({ connectionString: src.url({ database: DB }), replication: 'database' } as never);
    await repl.connect();
    let snapshot: string;
    try {
      const r = await repl.query(`CREATE_REPLICATION_SLOT ${name} LOGICAL pgoutput EXPORT_SNAPSHOT`);
      snapshot = String(r.rows[0].snapshot_name);
      const queue = [...tables, 'burst'];
      const worker = async () => {
        for (let t = queue.shift(); t; t = queue.shift())
          await sh(
            `${psql(src)} -c "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" -c "SET TRANSACTION SNAPSHOT '${snapshot}'" -c "COPY ${t} TO STDOUT" | ${psql(tgt)} -c "COPY ${t} FROM STDIN"`,
          );
      };
      await Promise.all(Array.from({ length: sessions }, worker));
    } finally {
      // The exporting session must live until every COPY has imported the snapshot; ending it frees the slot.
      await repl.end();
    }
    await q1(
      tgt,
      `CREATE SUBSCRIPTION ${name} CONNECTION '${subConninfo(src)}' PUBLICATION ${name} WITH (copy_data = false, create_slot = false, slot_name = '${name}')`,
    );
    const s = (performance.now() - t0) / 1000;
    await q1(tgt, `DROP SUBSCRIPTION ${name}`);
    return record(
      `15->17 rows copy, parallel COPY from the slot's exported snapshot (${sessions} sessions)`,
      s,
      bytes,
      `${TABLES} tables, schema loaded before, slot creation and subscription start included`,
    );
  } finally {
    await q1(src, `DROP PUBLICATION IF EXISTS ${name}`).catch(() => undefined);
    await q1(src, `SELECT pg_drop_replication_slot('${name}') FROM pg_replication_slots WHERE slot_name = '${name}' AND NOT active`, 'postgres').catch(
      () => undefined,
    );
    await tgt.destroy();
  }
}

function seedInputs(src: PostgresSandbox, tgt: PostgresSandbox, method: 'physical' | 'logical'): Record<string, string> {
  const db = method === 'logical' ? { database: DB } : {};
  return {
    engine: 'postgres',
    'source-url': src.url(db),
    'target-url': tgt.url(db),
    'replication-user': REPL.user,
    'replication-password': REPL.password,
    'target-data-dir': tgt.dataDir,
    'target-start-command': tgt.startCommand,
    'target-stop-command': tgt.stopCommand,
    method,
    // Both targets follow the one source at once (for the catch-up): each its own slot.
    'replication-slot': `zdm_${method}`,
    'logical-max-size': '100GB',
  };
}

async function seedReplica(src: PostgresSandbox, bytes: number, method: 'physical' | 'logical'): Promise<[PostgresSandbox, number]> {
  const tgt =
    method === 'physical'
      ? await startPostgres({ name: 'target15', major: 15, password: ADMIN_PASSWORD, durable: true, settings: SOURCE_SETTINGS })
      : await target17(2);
  const inputs = seedInputs(src, tgt, method);
  const t0 = performance.now();
  await runStep('seed-replica', (n) => inputs[n], quiet);
  const s = (performance.now() - t0) / 1000;
  const label =
    method === 'physical' ? '15->15 seed-replica method physical (pg_basebackup)' : '15->17 seed-replica method logical (subscription, 2 sync workers)';
  const rate = record(label, s, bytes, 'end to end: checks, schema/roles or target stop/start, copy, replication started; MB of the appdb database');
  return [tgt, rate];
}

async function lsn(src: PostgresSandbox): Promise<string> {
  return (await src.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l'))[0].l;
}

async function burstCount(sb: PostgresSandbox): Promise<number> {
  return Number((await q1<{ n: string }>(sb, 'SELECT count(*)::text AS n FROM burst')).n);
}

/** Seconds from `release` until `done`, polled every 50 ms. */
async function applyTime(release: () => Promise<unknown>, done: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  await release();
  while (!(await done())) await sleep(50);
  return (performance.now() - t0) / 1000;
}

/** Replayed up to `l1`; no query on the user tables, which would conflict with (and delay) the replay. */
async function replayedTo(standby: PostgresSandbox, l1: string): Promise<boolean> {
  const r = await standby.query<{ d: string }>(`SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '${l1}')::text AS d`);
  return Number(r[0].d) >= 0;
}

async function catchUp(src: PostgresSandbox, standby: PostgresSandbox, subscriber: PostgresSandbox): Promise<void> {
  const sub = (await q1<{ s: string }>(subscriber, 'SELECT subname AS s FROM pg_subscription')).s;
  await standby.query('SELECT pg_wal_replay_pause()');
  await q1(subscriber, `ALTER SUBSCRIPTION "${sub}" DISABLE`);
  const rowsPerTable = Math.round((SIZE_MB * 1024 * 1024) / 260 / TABLES);
  const dir = mkdtempSync(path.join(tmpdir(), 'zdm-bench-burst-'));
  // One transaction: an update of a random row of a random table and an insert, as an app's writes.
  writeFileSync(
    path.join(dir, 'burst.sql'),
    `\\set id random(1, ${rowsPerTable})\nBEGIN;\nUPDATE t1 SET payload = md5(random()::text) WHERE id = :id;\nINSERT INTO burst (k, payload) VALUES (:id, repeat(md5(:id::text), 3));\nEND;\n`,
  );
  const l0 = await lsn(src);
  try {
    await sh(`${bin('pgbench')} -n -c 8 -j 2 -T ${BURST_SECONDS} -f ${dir}/burst.sql ${conn(src)} >/dev/null`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const l1 = await lsn(src);
  const wal = Number((await src.query<{ d: string }>(`SELECT pg_wal_lsn_diff('${l1}', '${l0}')::text AS d`))[0].d);
  const rows = await burstCount(src);
  const made = record(
    `source: WAL written by the burst at full speed (pgbench, 8 clients, ${BURST_SECONDS} s)`,
    BURST_SECONDS,
    wal,
    `${rows} transactions (update + insert each)`,
  );
  // The standby has received it all (its receiver runs while replay is paused): replay alone is timed.
  while (Number((await standby.query<{ d: string }>(`SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '${l1}')::text AS d`))[0].d) < 0) await sleep(100);
  const phys = await applyTime(
    () => standby.query('SELECT pg_wal_replay_resume()'),
    () => replayedTo(standby, l1),
  );
  const pRate = record(
    'catch-up 15->15: physical replay of the burst',
    phys,
    wal,
    `${(rows / phys).toFixed(0)} transactions/s; ${(mb(wal) / phys / made).toFixed(1)}x the source's rate`,
  );
  // Commits apply in the source's order: once every row of the burst is in, the burst is applied.
  const logi = await applyTime(
    () => q1(subscriber, `ALTER SUBSCRIPTION "${sub}" ENABLE`),
    async () => (await burstCount(subscriber)) >= rows,
  );
  const lRate = record(
    'catch-up 15->17: logical apply of the same burst',
    logi,
    wal,
    `${(rows / logi).toFixed(0)} transactions/s (decoding on the source included); ${(mb(wal) / logi / made).toFixed(1)}x the source's rate; ${(phys / logi).toFixed(2)}x physical`,
  );
  figures.push({
    section: SECTION,
    name: 'postgres: catch-up, logical apply rate / physical replay rate (same burst)',
    value: Number((lRate / pRate).toFixed(2)),
    unit: 'x',
    durability: DURABILITY,
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadStart = loadavg()[0];
  const [src, bytes] = await startSource();
  const copy: Record<string, number> = {};
  let phys: PostgresSandbox | undefined;
  let logi: PostgresSandbox | undefined;
  try {
    // The by-hand copies first, while the source has nothing but the tables (no zdm objects).
    copy.sub2 = await subscriptionCopy(src, bytes, 2);
    copy.snap2 = await snapshotCopy(src, bytes, 2);
    copy.sub4 = await subscriptionCopy(src, bytes, 4);
    copy.snap4 = await snapshotCopy(src, bytes, 4);
    let physRate: number;
    let logiRate: number;
    [phys, physRate] = await seedReplica(src, bytes, 'physical');
    [logi, logiRate] = await seedReplica(src, bytes, 'logical');
    figures.push({
      section: SECTION,
      name: 'postgres: seed-replica, logical 15->17 MB/s / physical 15->15 MB/s',
      value: Number((logiRate / physRate).toFixed(2)),
      unit: 'x',
      durability: DURABILITY,
    });
    figures.push({
      section: SECTION,
      name: 'postgres: rows copy, parallel snapshot COPY (4 sessions) / subscription table sync (4 workers)',
      value: Number((copy.snap4 / copy.sub4).toFixed(2)),
      unit: 'x',
      durability: DURABILITY,
    });
    figures.push({
      section: SECTION,
      name: 'postgres: rows copy, parallel snapshot COPY (2 sessions) / subscription table sync (2 workers)',
      value: Number((copy.snap2 / copy.sub2).toFixed(2)),
      unit: 'x',
      durability: DURABILITY,
    });
    await catchUp(src, phys, logi);
  } finally {
    await Promise.all([phys?.destroy(), logi?.destroy(), src.destroy()]);
  }
  const file = 'bench/results.json';
  const results = JSON.parse(readFileSync(file, 'utf8')) as { figures: Figure[]; pgLogical?: Summary };
  // Each run's figures are kept in pgLogical.runs (the noise between runs is part of the result).
  const summary = (at: string, load: unknown, list: Figure[]): Run => ({
    at,
    loadAverage: load,
    values: Object.fromEntries(list.map((f) => [f.name, f.value])),
  });
  const prior = results.pgLogical;
  const runs = prior
    ? (prior.runs ?? [
        summary(
          prior.at,
          prior.loadAverage,
          results.figures.filter((f) => f.section === SECTION),
        ),
      ])
    : [];
  const loadAverage = { start: Number(loadStart.toFixed(1)), end: Number(loadavg()[0].toFixed(1)) };
  const at = new Date().toISOString();
  results.figures = [...results.figures.filter((f) => f.section !== SECTION), ...figures];
  results.pgLogical = {
    at,
    seconds: (Date.now() - started) / 1000,
    sizeMb: SIZE_MB,
    tables: TABLES,
    burstSeconds: BURST_SECONDS,
    loadAverage,
    note: 'machine shared with other engineers running tests: 2 CPUs, loaded; source Debian PostgreSQL 15, targets 15 (Debian) and 17 (embedded, npm); figures of the last run, every run in runs',
    runs: [...runs, summary(at, loadAverage, figures)],
  };
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(
    `written to ${file} (${((Date.now() - started) / 1000).toFixed(0)} s in all, load average ${loadStart.toFixed(1)} -> ${loadavg()[0].toFixed(1)})\n`,
  );
}

await main();
