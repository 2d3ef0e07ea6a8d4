/**
 * The read-only fence by database on PostgreSQL 13, where ALTER SYSTEM is superuser-only (no
 * privilege to grant): a source role without superuser that owns the databases migrates 13 -> 17 by
 * logical replication under a write load, 0 acknowledged writes missing. The old code refused it
 * before the fence ("PostgreSQL 13 allows both to superusers only").
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { appUrl, loadSampleData, missingWrites, pgWriteTargets, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { WriteLoad } from '../../src/rehearse/writer.js';

let pair: PgPair;
let load: WriteLoad | undefined;
const lines: string[] = [];
const MASTER = 'zdm_master';
const PASSWORD = 'master-pw-13a7';

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

beforeAll(async () => {
  pair = await startPgPair({ sourceMajor: 13, targetMajor: 17, sourceSettings: { wal_level: 'logical' } });
  await pair.target.query(`CREATE DATABASE ${pair.appDatabase}`);
  await loadSampleData(pair, 1);
  for (const sql of [
    `CREATE ROLE ${MASTER} LOGIN REPLICATION CREATEROLE NOSUPERUSER PASSWORD '${PASSWORD}'`,
    `GRANT ${pair.appUser} TO ${MASTER}`,
    `GRANT pg_signal_backend, pg_read_all_stats TO ${MASTER}`,
    `ALTER DATABASE ${pair.appDatabase} OWNER TO ${MASTER}`,
    `ALTER DATABASE postgres OWNER TO ${MASTER}`,
  ])
    await pair.source.query(sql);
  load = new WriteLoad(pgWriteTargets(pair), 100);
  load.start();
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await pair?.destroy();
}, 60_000);

describe('PostgreSQL 13 source without superuser: the fence by database', () => {
  it('migrates 13 -> 17 by logical replication: 0 acknowledged writes missing, the old source read-only', async () => {
    await run('preflight', inputs());
    expect(lines.join('\n')).toMatch(
      /ok {3}source role can fence read-only: .*fence by database: ALTER DATABASE \.\.\. SET default_transaction_read_only on appdb, postgres/,
    );
    await run('seed-replica', inputs());
    await pair.target.query(`ALTER ROLE ${pair.appUser} PASSWORD '${pair.appPassword}'`);
    await run('await-lag-zero', { ...inputs(), 'settle-seconds': '1', 'timeout-seconds': '120' });
    const from = lines.length;
    const out = await run('cutover', inputs());
    expect(out.outputs.fence).toBe('read-only');
    expect(lines.slice(from).join('\n')).toMatch(/fence read-only by database .*on appdb, postgres/);
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load!.stop();
    load = undefined;
    expect(stats.acknowledgedBy.target).toBeGreaterThan(0);
    expect(await missingWrites(pair, pair.target, stats.ackedSeqs)).toEqual([]);
    const c = new pg.Client({ connectionString: appUrl(pair, pair.source) });
    await c.connect();
    try {
      await expect(c.query("INSERT INTO sample (payload) VALUES ('after cutover')")).rejects.toThrow(/read-only transaction/);
    } finally {
      await c.end();
    }
    expect(lines.join('\n')).not.toContain(PASSWORD);
  }, 300_000);
});
