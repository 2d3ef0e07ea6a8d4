/**
 * Cutover's safety paths on real PostgreSQL: the lag gate refuses before fencing, an abort after
 * the fence gives the source its writes back, and the read-only fence holds and is lifted on the new primary.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { pgAppWrite } from '../harness/pg-app.js';
import { appUrl, loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';

let pair: PgPair;
let tuning = '';

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog(() => undefined));
}

const appWrite = (server: 'source' | 'target', seq: number) => pgAppWrite(pair, server, seq);

/**
 * Holds the target's replay back without pausing it (a paused replay is refused at once, see
 * lag-faults.test.ts): recovery_min_apply_delay keeps each commit from being applied.
 */
async function holdReplay(on: boolean): Promise<void> {
  await pair.target.query(on ? "ALTER SYSTEM SET recovery_min_apply_delay = '1h'" : 'ALTER SYSTEM RESET recovery_min_apply_delay');
  await pair.target.query('SELECT pg_reload_conf()');
}

const common = () => ({ 'source-url': pair.source.url(), 'target-url': pair.target.url() });

beforeAll(async () => {
  pair = await startPgPair();
  await loadSampleData(pair, 2);
  const tune = await run('tune-target', { ...common(), 'target-memory': '512MB', 'kernel-tuning': 'off' });
  tuning = tune.outputs.tuning;
  await run('seed-replica', {
    ...common(),
    'replication-user': pair.replicationUser,
    'replication-password': pair.replicationPassword,
    'target-data-dir': pair.target.dataDir,
    'target-start-command': pair.target.startCommand,
    'target-stop-command': pair.target.stopCommand,
    tuning,
  });
  await run('await-lag-zero', { ...common(), 'settle-seconds': '1' });
}, 180_000);

afterAll(async () => {
  await pair?.destroy();
}, 60_000);

describe('cutover safety on real PostgreSQL', () => {
  it('refuses to fence while the target lags, and changes nothing', async () => {
    await pair.target.query('SELECT pg_wal_replay_pause()');
    try {
      for (let i = 1; i <= 20; i++) await appWrite('source', i);
      let message = '';
      await run('cutover', { ...common(), fence: 'read-only', tuning }).catch((e) => (message = describeError(e)));
      expect(message).toMatch(/^lag is too high to block writes now \(.*\)\. Nothing was changed\. Run await-lag-zero, then cutover again\./);
      await appWrite('source', 21);
    } finally {
      await pair.target.query('SELECT pg_wal_replay_resume()');
    }
  }, 60_000);

  it('await-lag-zero fails on timeout with a diagnosis when the target does not replay', async () => {
    await holdReplay(true);
    try {
      for (let i = 30; i <= 40; i++) await appWrite('source', i);
      let message = '';
      await run('await-lag-zero', { ...common(), 'timeout-seconds': '2' }).catch((e) => (message = describeError(e)));
      expect(message).toMatch(/^the target did not catch up within timeout-seconds \(2 s\):\nlast reading: .* behind/);
      expect(message).toMatch(/lag is not shrinking: the source writes faster than the target applies/);
      expect(message).toMatch(/bottleneck: the replica's apply, which has stopped: .* received and nothing applied .*pg_is_wal_replay_paused/);
    } finally {
      await holdReplay(false);
    }
  }, 60_000);

  it('gives the source its writes back when the target cannot prove it applied the last write', async () => {
    await holdReplay(true);
    try {
      await appWrite('source', 100);
      let message = '';
      await run('cutover', { ...common(), fence: 'read-only', tuning, 'max-lag-bytes': '1GB', 'max-lag-seconds': '3600', 'apply-timeout-seconds': '1' }).catch(
        (e) => (message = describeError(e)),
      );
      expect(message).toMatch(
        /^cutover aborted, the source has its writes back and the target is still a replica: the target did not replay the source's final position/,
      );
      // The source takes the application's writes again: role LOGIN restored, read-only default lifted.
      await appWrite('source', 101);
      const [{ ro }] = await pair.source.query<{ ro: string }>("SELECT current_setting('default_transaction_read_only') AS ro");
      expect(ro).toBe('off');
      const [{ rec }] = await pair.target.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
      expect(rec).toBe(true);
    } finally {
      await holdReplay(false);
    }
  }, 60_000);

  it('with the read-only fence: every acknowledged write reaches the new primary, the app moves over, the old source stays fenced', async () => {
    await run('await-lag-zero', { ...common(), 'settle-seconds': '1' });
    await appWrite('source', 200);
    const result = await run('cutover', { ...common(), fence: 'read-only', tuning });
    expect(result.outputs.fence).toBe('read-only');
    expect(Number(result.outputs['write-blocked-ms'])).toBeGreaterThan(0);
    // The app role was made NOLOGIN on the source; that reached the target by replication and was lifted there.
    await appWrite('target', 201);
    await expect(appWrite('source', 202)).rejects.toThrow(/not permitted to log in/);
    const c = new pg.Client({ connectionString: appUrl(pair, pair.target) });
    await c.connect();
    const { rows } = await c.query('SELECT client_seq::int AS s FROM writes WHERE client_seq IN (21, 100, 101, 200, 201) ORDER BY 1');
    await c.end();
    expect(rows.map((r) => r.s)).toEqual([21, 100, 101, 200, 201]);
    const [{ n }] = await pair.source.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 'zdm_replica'");
    expect(n).toBe(0);
  }, 60_000);
});
