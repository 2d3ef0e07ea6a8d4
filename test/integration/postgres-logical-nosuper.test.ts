/**
 * A PostgreSQL source as managed services give it: zdm's role is no superuser, pg_hba.conf has no
 * physical replication line, there is no SSH and no stop command. method auto picks logical and the
 * migration (15 to 17) loses no acknowledged write and leaves no sequence behind. The role holds
 * only what docs/postgres.md lists for the logical method: REPLICATION, membership in the tables'
 * owner, CREATE on the database, and for the read-only fence CREATEROLE, pg_signal_backend, pg_read_all_stats, ALTER
 * SYSTEM on default_transaction_read_only and pg_reload_conf().
 */
import { promises as fs } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { loadSampleData, missingWrites, pgWriteTargets, sequencesAfterCutover, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { WriteLoad } from '../../src/rehearse/writer.js';

let pair: PgPair;
let load: WriteLoad | undefined;
const lines: string[] = [];
const ADMIN = 'zdm_admin';
const ADMIN_PASSWORD = 'admin-pw-7c1e';

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
}

const inputs = () => ({
  'source-url': pair.source.url({ user: ADMIN, password: ADMIN_PASSWORD, database: pair.appDatabase }),
  'target-url': pair.target.url({ database: pair.appDatabase }),
  'replication-user': ADMIN,
  'replication-password': ADMIN_PASSWORD,
  // No target-data-dir: a database login is all such a user has on the target, and a logical seed needs no more.
});

beforeAll(async () => {
  pair = await startPgPair({ sourceMajor: 15, targetMajor: 17, sourceSettings: { wal_level: 'logical' } });
  await pair.target.query(`CREATE DATABASE ${pair.appDatabase}`);
  await loadSampleData(pair, 4);
  for (const sql of [
    `CREATE ROLE ${ADMIN} LOGIN REPLICATION CREATEROLE NOSUPERUSER PASSWORD '${ADMIN_PASSWORD}'`,
    `GRANT ${pair.appUser} TO ${ADMIN}`,
    `GRANT CREATE ON DATABASE ${pair.appDatabase} TO ${ADMIN}`,
    `GRANT pg_signal_backend TO ${ADMIN}`,
    // Other roles' sessions visible, so that the fence can end them and prove them gone.
    `GRANT pg_read_all_stats TO ${ADMIN}`,
    `GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO ${ADMIN}`,
    // The mark the read-only fence leaves on each role it blocks (a re-run after a crash finds them).
    `GRANT SET ON PARAMETER zdm.fenced_by_cutover TO ${ADMIN}`,
  ])
    await pair.source.query(sql);
  // Function privileges are per database: zdm's sessions run in the application's.
  const app = new pg.Client({ connectionString: pair.source.url({ database: pair.appDatabase }) });
  await app.connect();
  await app.query(`GRANT EXECUTE ON FUNCTION pg_reload_conf() TO ${ADMIN}`).finally(() => app.end());
  // Database connections only, as managed services admit: no `replication` line in pg_hba.conf.
  const hba = `${pair.source.dataDir}/pg_hba.conf`;
  await fs.writeFile(hba, (await fs.readFile(hba, 'utf8')).replace(/^host\s+replication\s.*$/gm, ''));
  await pair.source.query('SELECT pg_reload_conf()');
  load = new WriteLoad(pgWriteTargets(pair), 100);
  load.start();
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await pair?.destroy();
}, 60_000);

describe('a PostgreSQL source without superuser, physical replication, SSH or stop command', () => {
  it('migrates by logical replication: 0 acknowledged writes missing, sequences go on', async () => {
    const su = await pair.source.query<{ rolsuper: boolean }>(`SELECT rolsuper FROM pg_roles WHERE rolname = '${ADMIN}'`);
    expect(su[0].rolsuper).toBe(false);
    await run('preflight', inputs());
    expect(lines.join('\n')).toMatch(/method: logical \(auto: the majors differ/);
    // What docs/postgres.md lists is what preflight finds the read-only fence needs (checks/fence-privileges.ts).
    expect(lines.join('\n')).toMatch(/ok {3}source role can fence read-only: "zdm_admin" \(source-url, no superuser\) may set the server read-only/);
    const [{ dir }] = await pair.target.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir");
    const seeded = await run('seed-replica', inputs());
    expect(seeded.outputs.method).toBe('logical');
    // The logical seed loads through SQL: the target's own data directory is the one it had.
    expect((await pair.target.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir"))[0].dir).toBe(dir);
    // pg_authid is out of reach without superuser: the roles came without passwords, and the seed said so.
    expect(lines.join('\n')).toMatch(/without passwords: pg_authid cannot be read on the source; set them on the target before cutover/);
    await pair.target.query(`ALTER ROLE ${pair.appUser} PASSWORD '${pair.appPassword}'`);
    await run('await-lag-zero', { ...inputs(), 'settle-seconds': '1', 'timeout-seconds': '120' });
    const out = await run('cutover', { ...inputs(), fence: 'read-only' });
    expect(Number(out.outputs['write-blocked-ms'])).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load!.stop();
    load = undefined;
    expect(stats.acknowledgedBy.target).toBeGreaterThan(0);
    expect(await missingWrites(pair, pair.target, stats.ackedSeqs)).toEqual([]);
    expect(await sequencesAfterCutover(pair, pair.target)).toEqual({ inserted: 20, collisions: 0 });
    const text = lines.join('\n');
    expect(text).not.toContain(ADMIN_PASSWORD);
    // The superuser could not be blocked by a role without superuser, and the log says so.
    expect(text).toMatch(/fence read-only: the role in source-url may not block "postgres"/);
  }, 300_000);
});
