/**
 * The read-only fence by database (cutover.ts fenceDatabases), on real servers: a source role as a
 * managed service's master user has it (no superuser, no ALTER SYSTEM, no SET on the mark; CREATEROLE,
 * pg_signal_backend, owner of the application's database) migrates 15 -> 17 by logical replication
 * under a write load. The old code refused this source before the fence (no ALTER SYSTEM).
 * - preflight passes and names the fence by database; a role setting that turns read-only off, or
 *   a database the role may not alter, fails with the statement that fixes it;
 * - an abort inside the fence (a superuser's session the role may not end) gives the writes back:
 *   no database setting of the fence's is left, a database read-only of its own stays so, and one
 *   an interrupted fence left (its 'ON') is lifted too;
 * - cutover: 0 acknowledged writes missing, and the old source refuses the application's writes.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { appUrl, loadSampleData, missingWrites, pgWriteTargets, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { WriteLoad } from '../../src/rehearse/writer.js';
import { liftReadOnlyFence } from '../../src/engines/postgres/cutover.js';
import { openEngine } from '../../src/engines/index.js';
import { withDirectEndpoints } from '../../src/hosts/endpoint.js';
import { LocalHost } from '../../src/hosts/local.js';
import { readInputs } from '../../src/inputs.js';

let pair: PgPair;
let load: WriteLoad | undefined;
const lines: string[] = [];
const MASTER = 'zdm_master';
const PASSWORD = 'master-pw-5e2a';
const TITLE = 'source role can fence read-only';

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
}

const inputs = () => ({
  'source-url': pair.source.url({ user: MASTER, password: PASSWORD, database: pair.appDatabase }),
  'target-url': pair.target.url({ database: pair.appDatabase }),
  'replication-user': MASTER,
  'replication-password': PASSWORD,
  method: 'logical',
});

type Row = { status: string; detail: string };

async function preflightRows(): Promise<{ rows: Row[]; passed: boolean }> {
  const from = lines.length;
  const passed = await run('preflight', inputs()).then(
    () => true,
    () => false,
  );
  const rows = lines
    .slice(from)
    .map((l) => new RegExp(`(ok  |WARN|FAIL|skip) ${TITLE}: (.*)$`).exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ status: m[1].trim(), detail: m[2] }));
  return { rows, passed };
}

/** Each database's own default_transaction_read_only setting on the source. */
async function dbSettings(): Promise<Record<string, string>> {
  const r = await pair.source.query<{ name: string; v: string }>(
    `SELECT d.datname AS name, substr(x, 31) AS v FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) x
     WHERE s.setrole = 0 AND x LIKE 'default_transaction_read_only=%'`,
  );
  return Object.fromEntries(r.map((x) => [x.name, x.v]));
}

/** A new application session on the source: does it write? */
async function appWrites(): Promise<string> {
  const c = new pg.Client({ connectionString: appUrl(pair, pair.source) });
  await c.connect();
  try {
    await c.query("INSERT INTO sample (payload) VALUES ('db fence test')");
    return 'written';
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end();
  }
}

/**
 * An application that connects per request (to `database`): a new session on the source every 40 ms, each held
 * 200 ms, so that about five are open at any moment (the old fence waited for none to be left, and
 * gave up after 5 s). Not faster: the sessions' SCRAM handshakes run in this process, beside zdm's
 * own, and 200 a second starved zdm's connection to the source on a loaded machine.
 */
function perRequestSessions(database = pair.appDatabase): { stop: () => Promise<void>; opened: () => number } {
  let stopped = false;
  let opened = 0;
  const request = async () => {
    const c = new pg.Client({ connectionString: pair.source.url({ user: pair.appUser, password: pair.appPassword, database }) });
    c.on('error', () => undefined);
    try {
      await c.connect();
      opened++;
      await c.query('SELECT 1');
      await new Promise((r) => setTimeout(r, 200));
    } catch {
      // terminated by the fence, or refused: the next request tries again
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  const inFlight = new Set<Promise<void>>();
  const loop = (async () => {
    while (!stopped) {
      const p = request();
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      await new Promise((r) => setTimeout(r, 40));
    }
    await Promise.all(inFlight);
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
    opened: () => opened,
  };
}

beforeAll(async () => {
  pair = await startPgPair({ sourceMajor: 15, targetMajor: 17, sourceSettings: { wal_level: 'logical' } });
  await pair.target.query(`CREATE DATABASE ${pair.appDatabase}`);
  await loadSampleData(pair, 1);
  // An RDS master user: it created (owns) the databases, holds CREATEROLE and pg_signal_backend; no ALTER SYSTEM.
  for (const sql of [
    `CREATE ROLE ${MASTER} LOGIN REPLICATION CREATEROLE NOSUPERUSER PASSWORD '${PASSWORD}'`,
    `GRANT ${pair.appUser} TO ${MASTER}`,
    `GRANT pg_signal_backend TO ${MASTER}`,
    // rds_superuser's pg_monitor: other roles' sessions are visible to it.
    `GRANT pg_read_all_stats TO ${MASTER}`,
    `ALTER DATABASE ${pair.appDatabase} OWNER TO ${MASTER}`,
    `ALTER DATABASE postgres OWNER TO ${MASTER}`,
    // Read-only of its own, and not the master's: the fence neither needs it nor lifts it.
    'CREATE DATABASE archive',
    'ALTER DATABASE archive SET default_transaction_read_only = on',
  ])
    await pair.source.query(sql);
  load = new WriteLoad(pgWriteTargets(pair), 100);
  load.start();
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await pair?.destroy();
}, 60_000);

describe('the read-only fence by database (a source role that may not ALTER SYSTEM)', () => {
  it('preflight names the fence by database; a role setting that escapes it, or a database it may not alter, fails with the fix', async () => {
    const good = await preflightRows();
    expect(good.rows.filter((r) => r.status === 'FAIL')).toEqual([]);
    expect(good.rows[0].status).toBe('ok');
    expect(good.rows[0].detail).toContain('fence by database: ALTER DATABASE ... SET default_transaction_read_only on appdb, postgres (no ALTER SYSTEM)');
    // No SET on the mark: roles keep LOGIN, a warning.
    expect(good.rows.filter((r) => r.status === 'WARN').map((r) => r.detail)).toContainEqual(
      expect.stringContaining('GRANT SET ON PARAMETER zdm.fenced_by_cutover TO zdm_master;'),
    );

    await pair.source.query(`ALTER ROLE ${pair.appUser} IN DATABASE ${pair.appDatabase} SET default_transaction_read_only = off`);
    await pair.source.query('CREATE DATABASE reports');
    try {
      const bad = await preflightRows();
      expect(bad.passed).toBe(false);
      const failed = bad.rows.filter((r) => r.status === 'FAIL').map((r) => r.detail);
      expect(failed).toHaveLength(2);
      expect(failed.join('\n')).toContain('"app_writer" in database appdb (default_transaction_read_only = off)');
      expect(failed.join('\n')).toContain('ALTER ROLE app_writer IN DATABASE appdb RESET default_transaction_read_only;');
      expect(failed.join('\n')).toContain('database reports (owner "postgres")');
      expect(failed.join('\n')).toContain(`ALTER DATABASE reports OWNER TO ${MASTER}; (or GRANT postgres TO ${MASTER};)`);
    } finally {
      await pair.source.query(`ALTER ROLE ${pair.appUser} IN DATABASE ${pair.appDatabase} RESET default_transaction_read_only`);
      await pair.source.query('DROP DATABASE reports');
    }
    expect(await dbSettings()).toEqual({ archive: 'on' });
  }, 120_000);

  it('an abort inside the fence gives the writes back: no setting of the fence left, archive still read-only', async () => {
    await run('seed-replica', inputs());
    await pair.target.query(`ALTER ROLE ${pair.appUser} PASSWORD '${pair.appPassword}'`);
    await run('await-lag-zero', { ...inputs(), 'settle-seconds': '1', 'timeout-seconds': '120' });
    // What a cutover killed inside its fence left on a database, found and lifted by this run.
    await pair.source.query(`CREATE DATABASE scratch OWNER ${MASTER}`);
    await pair.source.query("ALTER DATABASE scratch SET default_transaction_read_only = 'ON'");
    // A superuser's session: the master may not end it, so the fence cannot prove the source quiet.
    const su = new pg.Client({ connectionString: pair.source.url({ database: pair.appDatabase }) });
    await su.connect();
    su.on('error', () => undefined);
    const from = lines.length;
    let err: Error | undefined;
    try {
      err = await run('cutover', inputs()).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    } finally {
      await su.end().catch(() => undefined);
    }
    expect(err?.message).toMatch(/cutover aborted, the source has its writes back/);
    expect(err?.message).toMatch(/must be a superuser to terminate superuser process/);
    const log = lines.slice(from).join('\n');
    expect(log).toMatch(
      /fence read-only by database \(the role in source-url may not ALTER SYSTEM\): ALTER DATABASE \.\.\. SET default_transaction_read_only on appdb, postgres, scratch; archive read-only of their own, left so/,
    );
    expect(log).toMatch(/databases scratch are still read-only from an interrupted cutover's fence/);
    expect(await dbSettings()).toEqual({ archive: 'on' });
    expect(await appWrites()).toBe('written');
    await pair.source.query('DROP DATABASE scratch');
  }, 300_000);

  it('cutover by logical replication under a write load: 0 writes missing, the old source refuses the application', async () => {
    const from = lines.length;
    // The master may not make app_writer NOLOGIN (no SET on the mark): the application's new sessions go on, read-only.
    const pool = perRequestSessions();
    // And one in the database read-only of its own, whose new sessions start read-only as well.
    const archive = perRequestSessions('archive');
    await new Promise((r) => setTimeout(r, 200));
    let out: Awaited<ReturnType<typeof run>>;
    try {
      out = await run('cutover', inputs());
    } finally {
      await Promise.all([pool.stop(), archive.stop()]);
    }
    expect(pool.opened()).toBeGreaterThan(10);
    expect(archive.opened()).toBeGreaterThan(10);
    expect(out.outputs.fence).toBe('read-only');
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load!.stop();
    load = undefined;
    expect(stats.acknowledgedBy.target).toBeGreaterThan(0);
    expect(await missingWrites(pair, pair.target, stats.ackedSeqs)).toEqual([]);
    expect(await appWrites()).toMatch(/read-only transaction/);
    expect(await dbSettings()).toEqual({ archive: 'on', appdb: 'ON', postgres: 'ON' });
    const log = lines.slice(from).join('\n');
    expect(log).toMatch(/fence read-only by database .*: ALTER DATABASE \.\.\. SET default_transaction_read_only on appdb, postgres;/);
    expect(lines.join('\n')).not.toContain(PASSWORD);
  }, 300_000);

  it("rollback's lift of the fence (liftReadOnlyFence) as the same role: the fence's databases reset, no ALTER SYSTEM tried, archive stays read-only", async () => {
    const c = new pg.Client({ connectionString: pair.source.url({ user: MASTER, password: PASSWORD, database: pair.appDatabase }) });
    await c.connect();
    try {
      // The old code began with ALTER SYSTEM RESET, which this role may not run.
      expect(await liftReadOnlyFence(c)).toEqual([]);
    } finally {
      await c.end();
    }
    expect(await dbSettings()).toEqual({ archive: 'on' });
    expect(await appWrites()).toBe('written');
  }, 60_000);

  it('the fence itself refuses, before changing anything, a role setting that turns read-only off (one that appeared after the check)', async () => {
    await pair.source.query(`ALTER ROLE ${pair.appUser} SET default_transaction_read_only = off`);
    const h = new LocalHost();
    const all: Record<string, string> = { ...inputs(), fence: 'read-only' };
    const ctx = withDirectEndpoints({
      inputs: readInputs('cutover', (n) => all[n]),
      log: new TextLog((l) => lines.push(l)),
      targetHost: h,
      sourceHost: h,
      runnerHost: h,
    });
    const engine = openEngine(ctx);
    try {
      const err = await engine.switch.fence().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toContain('role "app_writer" has default_transaction_read_only = off of its own, which wins over a database\'s setting');
      expect(err?.message).toContain('Fix: ALTER ROLE app_writer RESET default_transaction_read_only; Writes were not blocked.');
    } finally {
      await engine.close();
      await pair.source.query(`ALTER ROLE ${pair.appUser} RESET default_transaction_read_only`);
    }
    expect(await dbSettings()).toEqual({ archive: 'on' });
    expect(await appWrites()).toBe('written');
  }, 60_000);
});
