/**
 * What the read-only fence needs of a source role without superuser (checks/fence-privileges.ts),
 * on real servers (15 to 17, logical): preflight names each missing privilege with the GRANT that
 * gives it, and changes nothing; once granted the row passes; cutover refuses before the fence when
 * one is missing (the old code fenced, failed on ALTER SYSTEM and could not lift its own fence); a
 * superuser source passes with one line.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { appUrl, loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';

let pair: PgPair;
/** An application session open all along: the checks must leave it writing. */
let app: pg.Client;
const lines: string[] = [];
const FENCER = 'zdm_fencer';
const PASSWORD = 'fencer-pw-3b9d';
const TITLE = 'source role can fence read-only';

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
}

const inputs = (sourceUser = FENCER) => ({
  'source-url': pair.source.url(sourceUser === FENCER ? { user: FENCER, password: PASSWORD, database: pair.appDatabase } : { database: pair.appDatabase }),
  'target-url': pair.target.url({ database: pair.appDatabase }),
  'replication-user': FENCER,
  'replication-password': PASSWORD,
  'target-data-dir': pair.target.dataDir,
});

type Row = { status: string; detail: string };

/** The fence check's rows of one preflight (passed or failed), read from the log. */
async function preflightRows(raw: Record<string, string>): Promise<{ rows: Row[]; passed: boolean }> {
  const from = lines.length;
  const passed = await run('preflight', raw).then(
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

/** What the fence would have changed on the source, and whether the application still writes. */
async function sourceUntouched(): Promise<void> {
  const [settings] = await pair.source.query<{ n: number; ro: string }>(
    "SELECT (SELECT count(*)::int FROM pg_file_settings WHERE name = 'default_transaction_read_only') AS n, current_setting('default_transaction_read_only') AS ro",
  );
  expect(settings).toEqual({ n: 0, ro: 'off' });
  const nologin = await pair.source.query("SELECT rolname FROM pg_roles WHERE NOT rolcanlogin AND rolname IN ('app_writer', 'zdm_repl', 'postgres')");
  expect(nologin).toEqual([]);
  await app.query("INSERT INTO sample (payload) VALUES ('still writes')");
  const fresh = new pg.Client({ connectionString: appUrl(pair, pair.source) });
  await fresh.connect();
  try {
    await fresh.query("INSERT INTO sample (payload) VALUES ('a new session writes')");
  } finally {
    await fresh.end();
  }
}

const grants = () => [
  `ALTER ROLE ${FENCER} CREATEROLE`,
  `GRANT pg_signal_backend TO ${FENCER}`,
  `GRANT pg_read_all_stats TO ${FENCER}`,
  `GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO ${FENCER}`,
  `GRANT SET ON PARAMETER zdm.fenced_by_cutover TO ${FENCER}`,
];

/** As a superuser in the application's database: function privileges are per database. */
async function inAppDb(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: pair.source.url({ database: pair.appDatabase }) });
  await c.connect();
  await c.query(sql).finally(() => c.end());
}

/**
 * A source of another major (target 17) whose role has CREATEROLE and every grant up to 15's
 * (those that exist there), for preflight with method: logical.
 */
async function otherMajor(major: number, body: (p: PgPair, raw: Record<string, string>) => Promise<void>): Promise<void> {
  const p = await startPgPair({ sourceMajor: major, targetMajor: 17, sourceSettings: { wal_level: 'logical' } });
  try {
    await p.target.query(`CREATE DATABASE ${p.appDatabase}`);
    await p.source.query(`CREATE ROLE ${FENCER} LOGIN REPLICATION CREATEROLE NOSUPERUSER PASSWORD '${PASSWORD}'`);
    const since15 = major >= 15 ? grants().slice(3) : [];
    for (const sql of [`GRANT ${p.appUser} TO ${FENCER}`, `GRANT pg_signal_backend, pg_read_all_stats TO ${FENCER}`, ...since15]) await p.source.query(sql);
    const c = new pg.Client({ connectionString: p.source.url({ database: p.appDatabase }) });
    await c.connect();
    await c.query(`GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO ${FENCER}`).finally(() => c.end());
    await body(p, {
      'source-url': p.source.url({ user: FENCER, password: PASSWORD, database: p.appDatabase }),
      'target-url': p.target.url({ database: p.appDatabase }),
      'replication-user': FENCER,
      'replication-password': PASSWORD,
      'target-data-dir': p.target.dataDir,
      method: 'logical',
    });
  } finally {
    await p.destroy();
  }
}

beforeAll(async () => {
  pair = await startPgPair({ sourceMajor: 15, targetMajor: 17, sourceSettings: { wal_level: 'logical' } });
  await pair.target.query(`CREATE DATABASE ${pair.appDatabase}`);
  await loadSampleData(pair, 1);
  // What the logical method needs, and nothing of what the read-only fence needs.
  for (const sql of [
    `CREATE ROLE ${FENCER} LOGIN REPLICATION NOSUPERUSER PASSWORD '${PASSWORD}'`,
    `GRANT ${pair.appUser} TO ${FENCER}`,
    `GRANT CREATE ON DATABASE ${pair.appDatabase} TO ${FENCER}`,
  ])
    await pair.source.query(sql);
  app = new pg.Client({ connectionString: appUrl(pair, pair.source) });
  await app.connect();
}, 120_000);

afterAll(async () => {
  await app?.end().catch(() => undefined);
  await pair?.destroy();
}, 60_000);

describe('the read-only fence privileges of a source role without superuser', () => {
  it('preflight: a failing row for what makes the fence fail, a warning for a role it cannot block, each with the fix; nothing changed on the source', async () => {
    const { rows, passed } = await preflightRows(inputs());
    expect(passed).toBe(false);
    const failed = rows.filter((r) => r.status === 'FAIL').map((r) => r.detail);
    const text = failed.join('\n');
    // No ALTER SYSTEM: the fence goes by database; appdb is its owner's (a role it is a member of), postgres is not.
    for (const fix of [
      `may not alter database postgres (owner "postgres")`,
      `ALTER DATABASE postgres OWNER TO ${FENCER}; (or GRANT postgres TO ${FENCER};)`,
      `GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO ${FENCER};`,
      `GRANT pg_signal_backend TO ${FENCER};`,
      `GRANT pg_read_all_stats TO ${FENCER};`,
    ])
      expect(text).toContain(fix);
    expect(text).not.toContain('appdb');
    expect(failed.every((d) => d.startsWith(`fence read-only: role "${FENCER}" (source-url)`))).toBe(true);
    // pg_reload_conf() is only the ALTER SYSTEM path's; blocking roles is a warning: they keep LOGIN, their new sessions start read-only.
    expect(text).not.toContain('pg_reload_conf');
    const warned = rows.filter((r) => r.status === 'WARN').map((r) => r.detail);
    const warnings = warned.join('\n');
    expect(warnings).toMatch(/making "app_writer" NOLOGIN needs: they keep LOGIN .*ALTER ROLE zdm_fencer CREATEROLE;/);
    expect(warnings).toContain(`GRANT SET ON PARAMETER zdm.fenced_by_cutover TO ${FENCER};`);
    expect(warnings).toMatch(/superuser role\(s\) "postgres"/);
    expect(warnings).toMatch(/replication role\(s\) "zdm_repl"/);
    await sourceUntouched();
  });

  it('preflight: with ALTER SYSTEM granted, the ALTER SYSTEM path also needs pg_reload_conf()', async () => {
    await pair.source.query(`GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO ${FENCER}`);
    try {
      const failed = (await preflightRows(inputs())).rows.filter((r) => r.status === 'FAIL').map((r) => r.detail);
      expect(failed.join('\n')).toContain(`GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO ${FENCER};`);
      expect(failed.join('\n')).toContain(`in database ${pair.appDatabase}`);
      expect(failed.join('\n')).not.toContain('ALTER DATABASE');
    } finally {
      await pair.source.query(`REVOKE ALTER SYSTEM ON PARAMETER default_transaction_read_only FROM ${FENCER}`);
    }
  });

  it('preflight: once granted, the row passes', async () => {
    for (const sql of grants()) await pair.source.query(sql);
    await inAppDb(`GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO ${FENCER}`);
    const { rows } = await preflightRows(inputs());
    expect(rows.filter((r) => r.status === 'FAIL')).toEqual([]);
    expect(rows[0]).toMatchObject({ status: 'ok' });
    expect(rows[0].detail).toContain(`"${FENCER}" (source-url, no superuser) may set the server read-only`);
    expect(rows[0].detail).toContain('"app_writer" NOLOGIN');
  });

  it('preflight: a superuser source passes with one line; fence: shutdown has no row', async () => {
    const su = await preflightRows(inputs('postgres'));
    expect(su.rows).toEqual([{ status: 'ok', detail: '"postgres" (source-url) is a superuser: it can do all the read-only fence does' }]);
    const shutdown = await preflightRows({ ...inputs(), fence: 'shutdown' });
    expect(shutdown.rows).toEqual([]);
  });

  it('PostgreSQL 17: making a role NOLOGIN also needs ADMIN OPTION on it, and replication roles can be blocked', async () => {
    await otherMajor(17, async (p, raw) => {
      const before = await preflightRows(raw);
      expect(before.rows.filter((r) => r.status === 'FAIL')).toEqual([]);
      const warned = before.rows.filter((r) => r.status === 'WARN').map((r) => r.detail);
      expect(warned).toContainEqual(expect.stringContaining(`has no ADMIN OPTION on "app_writer", "zdm_repl"`));
      expect(warned.join('\n')).toContain(`GRANT app_writer, zdm_repl TO ${FENCER} WITH ADMIN OPTION;`);
      expect(before.rows[0].detail).toContain('make no role NOLOGIN');
      await p.source.query(`GRANT ${p.appUser}, ${p.replicationUser} TO ${FENCER} WITH ADMIN OPTION`);
      const after = await preflightRows(raw);
      expect(after.rows.filter((r) => r.status === 'FAIL')).toEqual([]);
      expect(
        after.rows
          .filter((r) => r.status === 'WARN')
          .map((r) => r.detail)
          .join('\n'),
      ).not.toContain('ADMIN OPTION');
      expect(after.rows[0].detail).toContain('make "app_writer", "zdm_repl" NOLOGIN');
    });
  }, 120_000);

  it('PostgreSQL 13: without superuser (no ALTER SYSTEM at all) the fence goes by database, once the role owns every database', async () => {
    await otherMajor(13, async (p, raw) => {
      const failed = (await preflightRows(raw)).rows.filter((r) => r.status === 'FAIL').map((r) => r.detail);
      expect(failed).toEqual([expect.stringContaining('so the fence goes by database, and it may not alter database postgres (owner "postgres")')]);
      expect(failed[0]).toContain(`ALTER DATABASE postgres OWNER TO ${FENCER};`);
      // No ALTER SYSTEM privilege exists before 15: none is offered.
      expect(failed[0]).not.toContain('GRANT ALTER SYSTEM');
      await p.source.query(`ALTER DATABASE postgres OWNER TO ${FENCER}`);
      const after = await preflightRows(raw);
      expect(after.rows.filter((r) => r.status === 'FAIL')).toEqual([]);
      expect(after.rows[0].detail).toContain('fence by database: ALTER DATABASE ... SET default_transaction_read_only on appdb, postgres (no ALTER SYSTEM)');
      expect(after.rows.map((r) => r.detail).join('\n')).toMatch(/superuser-only before PostgreSQL 15\): no role is made NOLOGIN/);
    });
  }, 120_000);

  it('cutover refuses before the fence while a privilege is missing, nothing changed; once granted it switches', async () => {
    await run('seed-replica', inputs());
    await pair.target.query(`ALTER ROLE ${pair.appUser} PASSWORD '${pair.appPassword}'`);
    await run('await-lag-zero', { ...inputs(), 'settle-seconds': '1', 'timeout-seconds': '120' });
    await pair.source.query(`REVOKE ALTER SYSTEM ON PARAMETER default_transaction_read_only FROM ${FENCER}`);
    const from = lines.length;
    const err = await run('cutover', inputs()).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain(`GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO ${FENCER};`);
    const log = lines.slice(from).join('\n');
    expect(log).not.toMatch(/fenced \(read-only\)|aborted after the fence/);
    await sourceUntouched();
    // The target is still the source's logical replica.
    expect(await pair.target.query("SELECT 1 FROM pg_subscription WHERE subname = 'zdm_replica'")).toHaveLength(1);

    await pair.source.query(`GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO ${FENCER}`);
    await app.end();
    const out = await run('cutover', inputs());
    expect(out.outputs.fence).toBe('read-only');
    expect(lines.join('\n')).not.toContain(PASSWORD);
  }, 300_000);
});
