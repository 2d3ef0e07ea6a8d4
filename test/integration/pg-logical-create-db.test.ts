/**
 * A logical migration into a target server that lacks target-url's database: tune-target and
 * preflight work through the postgres database, and seed-replica creates the database as the
 * source's (encoding, collation, owner) before it loads the schema.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';

const lines: string[] = [];
const run = (step: StepName, raw: Record<string, string>) => runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));

describe('PostgreSQL logical seed into a server without the database', () => {
  let pair: PgPair;
  beforeAll(async () => {
    pair = await startPgPair({ sourceSettings: { wal_level: 'logical' } });
    await loadSampleData(pair, 1);
  }, 180_000);
  afterAll(async () => {
    await pair?.destroy();
  }, 60_000);

  it('tunes, seeds and creates the database with the source database encoding, collation and owner', async () => {
    const common = { 'source-url': pair.source.url({ database: pair.appDatabase }), 'target-url': pair.target.url({ database: pair.appDatabase }) };
    expect(await pair.target.query('SELECT 1 FROM pg_database WHERE datname = $1', [pair.appDatabase])).toEqual([]);
    await run('tune-target', { ...common, 'target-memory': '512MB' });
    expect(lines.join('\n')).toContain(`database "${pair.appDatabase}" does not exist on the target yet: a logical seed creates it`);
    await run('seed-replica', { ...common, method: 'logical', 'replication-user': pair.replicationUser, 'replication-password': pair.replicationPassword });
    const q = 'SELECT pg_encoding_to_char(encoding) AS enc, datcollate AS coll, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1';
    const [want] = await pair.source.query(q, [pair.appDatabase]);
    const [got] = await pair.target.query(q, [pair.appDatabase]);
    expect(got).toEqual(want);
    expect(got).toMatchObject({ owner: pair.appUser });
    await run('await-lag-zero', { ...common, 'settle-seconds': '1' });
    const rowsOn = async (server: 'source' | 'target') => {
      const client = new pg.Client({ connectionString: server === 'source' ? common['source-url'] : common['target-url'] });
      await client.connect();
      try {
        return Number((await client.query('SELECT count(*) AS n FROM sample')).rows[0].n);
      } finally {
        await client.end();
      }
    };
    expect(await rowsOn('target')).toBe(await rowsOn('source'));
  }, 240_000);
});
