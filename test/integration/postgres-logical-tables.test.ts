/**
 * A logical migration of some of the source's tables (Debian's 15 to embedded 17): `tables:
 * public.*, !public.audit_log` leaves a key-less audit table out of the checks, the schema and the
 * publication; its writes and its DDL during catch-up do not stop the cutover, and verify compares
 * only the tables carried. With refresh-materialized-views, the matview the schema copy created
 * empty is refreshed on the new primary right after the switch, and named in the log.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { pgAppWrite } from '../harness/pg-app.js';

let pair: PgPair;
const lines: string[] = [];
const TABLES = 'public.*, !public.audit_log';

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
}

const common = () => ({
  'source-url': pair.source.url({ database: pair.appDatabase }),
  'target-url': pair.target.url({ database: pair.appDatabase }),
  tables: TABLES,
});

/** Statements as a server's admin, in the application's database. */
async function on<T extends Record<string, unknown>>(server: 'source' | 'target', sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: pair[server].url({ database: pair.appDatabase }) });
  await c.connect();
  try {
    const r = await c.query(sql);
    return (Array.isArray(r) ? r[r.length - 1] : r).rows as T[];
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  pair = await startPgPair({ sourceMajor: 15, targetMajor: 17, sourceSettings: { wal_level: 'logical' } });
  await pair.target.query(`CREATE DATABASE ${pair.appDatabase}`);
  await loadSampleData(pair, 1);
  // No primary key: a logical migration that carried it would be refused (logical-replica-identity).
  await on('source', 'CREATE MATERIALIZED VIEW public.sample_count AS SELECT count(*)::int AS n FROM public.sample');
  await on('source', "CREATE TABLE public.audit_log (at timestamptz NOT NULL DEFAULT now(), what text); INSERT INTO public.audit_log (what) VALUES ('seeded')");
}, 120_000);

afterAll(async () => {
  await pair?.destroy();
}, 60_000);

describe('tables: public.*, !public.audit_log', () => {
  it('seeds the selected tables only: the left-out table passes the checks, is neither created on the target nor published', async () => {
    lines.length = 0;
    await run('seed-replica', {
      ...common(),
      'replication-user': pair.replicationUser,
      'replication-password': pair.replicationPassword,
      'target-data-dir': pair.target.dataDir,
    });
    const log = lines.join('\n');
    expect(log).toMatch(/left out by tables: public\.\*, !public\.audit_log: public\.audit_log \(not created on the target, not replicated\)/);
    expect(log).toMatch(/publication zdm_replica lists the 3 of 4 table\(s\) that tables: .* selects/);
    const published = await on<{ t: string }>(
      'source',
      "SELECT schemaname || '.' || tablename AS t FROM pg_publication_tables WHERE pubname = 'zdm_replica' ORDER BY 1",
    );
    expect(published.map((r) => r.t)).toEqual(['public.sample', 'public.writes', 'public.zdm_heartbeat']);
    expect(await on('target', "SELECT to_regclass('public.audit_log') AS t")).toEqual([{ t: null }]);
    expect(await on('target', "SELECT to_regclass('public.sample') AS t")).toEqual([{ t: 'sample' }]);
  }, 180_000);

  it("the left-out table's writes and DDL during catch-up do not stop the cutover; verify compares the carried tables only", async () => {
    // UPDATE and DELETE of a key-less table fail on the source when it is published: these prove it is not.
    await on(
      'source',
      "INSERT INTO public.audit_log (what) VALUES ('during catch-up'); UPDATE public.audit_log SET what = what || '!'; DELETE FROM public.audit_log WHERE what = 'seeded!'",
    );
    await on('source', 'ALTER TABLE public.audit_log ADD COLUMN who text');
    await pgAppWrite(pair, 'source', -1);
    await run('await-lag-zero', { ...common(), 'settle-seconds': '1', 'timeout-seconds': '120' });
    // Empty on the target until cutover: pg_dump --schema-only creates it WITH NO DATA.
    expect(await on('target', "SELECT ispopulated FROM pg_matviews WHERE matviewname = 'sample_count'")).toEqual([{ ispopulated: false }]);
    lines.length = 0;
    const out = await run('cutover', { ...common(), 'refresh-materialized-views': 'true' });
    expect(out.outputs.fence).toBe('read-only');
    expect(lines.join('\n')).toMatch(/refreshed materialized view public\.sample_count on the new primary in \d+ ms \(refresh-materialized-views\)/);
    expect(await on('target', 'SELECT n FROM public.sample_count')).toEqual(await on('source', 'SELECT count(*)::int AS n FROM public.sample'));
    expect(await on('target', 'SELECT client_seq::int AS s FROM writes WHERE client_seq < 0')).toEqual([{ s: -1 }]);
    const v = await run('verify', common());
    expect(v.outputs.ok).toBe('true');
    expect(JSON.stringify(JSON.parse(v.outputs.report))).not.toContain('audit_log');
  }, 180_000);
});
