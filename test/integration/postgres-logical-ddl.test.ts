/**
 * DDL on the source during a logical migration's catch-up (Debian's 15 to embedded 17): cutover
 * refuses before the fence, naming the change, and the source keeps taking writes; once the change
 * is undone on the source, cutover goes through with the default fence.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { pgAppWrite } from '../harness/pg-app.js';

let pair: PgPair;
const lines: string[] = [];

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
}

const common = () => ({ 'source-url': pair.source.url({ database: pair.appDatabase }), 'target-url': pair.target.url({ database: pair.appDatabase }) });

/** One statement as the source's admin, in the application's database. */
async function onSource(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: pair.source.url({ database: pair.appDatabase }) });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  pair = await startPgPair({ sourceMajor: 15, targetMajor: 17, sourceSettings: { wal_level: 'logical' } });
  await pair.target.query(`CREATE DATABASE ${pair.appDatabase}`);
  await loadSampleData(pair, 1);
  await run('seed-replica', {
    ...common(),
    'replication-user': pair.replicationUser,
    'replication-password': pair.replicationPassword,
    'target-data-dir': pair.target.dataDir,
  });
  await run('await-lag-zero', { ...common(), 'settle-seconds': '1', 'timeout-seconds': '120' });
}, 180_000);

afterAll(async () => {
  await pair?.destroy();
}, 60_000);

describe('DDL on the source during a logical catch-up', () => {
  it('blocks cutover before the fence, naming the column; the source takes writes again, the subscription stays', async () => {
    await onSource('ALTER TABLE public.sample ADD COLUMN note text');
    lines.length = 0;
    let message = '';
    await run('cutover', common()).catch((e) => (message = describeError(e)));
    expect(message).toMatch(/the source's schema is not proven unchanged since seed-replica copied it/);
    expect(message).toContain('- column public.sample.note added (text)');
    expect(message).toMatch(/Nothing was switched/);
    // Refused at the gate: the fence was never raised.
    expect(lines.join('\n')).not.toMatch(/fenced \(read-only\)|unfenced/);
    await pgAppWrite(pair, 'source', -1);
    expect((await pair.target.query(`SELECT 1 FROM pg_subscription WHERE subname = 'zdm_replica'`)).length).toBe(1);
  }, 120_000);

  it('goes through with the default fence once the change is undone on the source', async () => {
    await onSource('ALTER TABLE public.sample DROP COLUMN note');
    const out = await run('cutover', common());
    expect(out.outputs.fence).toBe('read-only');
    await pgAppWrite(pair, 'target', -2);
    const c = new pg.Client({ connectionString: pair.target.url({ database: pair.appDatabase }) });
    await c.connect();
    try {
      expect((await c.query('SELECT client_seq FROM writes WHERE client_seq < 0 ORDER BY 1')).rows.map((r) => Number(r.client_seq))).toEqual([-2, -1]);
    } finally {
      await c.end();
    }
  }, 120_000);
});
