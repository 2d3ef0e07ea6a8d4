/**
 * A migration spread over several workflow runs: dist/index.js once per step, as the runner runs
 * it, each step given NO output of an earlier one (no `tuning`), sharing nothing but the servers
 * and the state directory. cutover still restores the catch-up settings tune-target made (from the
 * migration record), status reads the record, revert restores the rest, and abort,
 * after promotion, refuses. (abort in a fresh process after seed-replica: test/integration/lifecycle.test.ts.)
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingWrites, pgWriteTargets, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { loadSampleData } from '../../src/rehearse/postgres.js';
import { WriteLoad } from '../../src/rehearse/writer.js';
import { runDistStep, type DistRun } from './run-dist.js';

let pair: PgPair;
let load: WriteLoad;
const state = mkdtempSync(path.join(os.tmpdir(), 'zdm-runs-'));

beforeAll(async () => {
  pair = await startPgPair();
  await loadSampleData(pair, 4);
  load = new WriteLoad(pgWriteTargets(pair), 100);
  load.start();
}, 120_000);

afterAll(async () => {
  await load?.stop().catch(() => undefined);
  await pair?.destroy();
}, 60_000);

function ok(run: DistRun): DistRun {
  if (run.code !== 0) throw new Error(`step failed (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  return run;
}

const setting = async (name: string) => (await pair.target.query<{ v: string }>('SELECT current_setting($1) AS v', [name]))[0].v;

describe('separate runs that share only the servers and the state directory', () => {
  it('tune, seed, wait, status, cutover and revert without passing tuning between them', async () => {
    const common = { 'source-url': pair.source.url(), 'target-url': pair.target.url(), 'state-dir': state };
    const retryBefore = await setting('wal_retrieve_retry_interval');
    ok(await runDistStep('tune-target', { ...common, 'target-memory': '1GB', 'kernel-tuning': 'off' }));
    expect(await setting('wal_retrieve_retry_interval')).toBe('100ms');
    ok(
      await runDistStep('seed-replica', {
        ...common,
        'replication-user': pair.replicationUser,
        'replication-password': pair.replicationPassword,
        'target-data-dir': pair.target.dataDir,
        'target-start-command': pair.target.startCommand,
        'target-stop-command': pair.target.stopCommand,
      }),
    );
    // seed-replica re-applied the plan from the record to the fresh copy.
    expect(await setting('wal_retrieve_retry_interval')).toBe('100ms');
    ok(await runDistStep('await-lag-zero', { ...common, 'settle-seconds': '2', 'timeout-seconds': '300' }));
    const st = ok(await runDistStep('status', common));
    expect(st.outputs.phase).toBe('caught-up');
    expect(st.outputs.replicating).toBe('true');
    const cut = ok(
      await runDistStep('cutover', {
        ...common,
        fence: 'shutdown',
        'source-stop-command': pair.source.fastStopCommand,
        'source-start-command': pair.source.startCommand,
      }),
    );
    expect(cut.stdout).toContain('tuning: the plan tune-target wrote into the migration record');
    // The catch-up settings restored at cutover, from the record alone.
    expect(await setting('wal_retrieve_retry_interval')).toBe(retryBefore);
    const stats = await load.stop();
    expect(await missingWrites(pair, pair.target, stats.ackedSeqs)).toEqual([]);
    const rev = ok(await runDistStep('revert', { ...common, 'kernel-tuning': 'off' }));
    expect(rev.outputs.reverted).toContain('max_wal_size');
    const rec = JSON.parse(readFileSync(path.join(state, `127.0.0.1-${pair.target.port}.json`), 'utf8'));
    expect(rec.events.filter((e: { result: string }) => e.result === 'ok').map((e: { step: string }) => e.step)).toEqual([
      'tune-target',
      'seed-replica',
      'await-lag-zero',
      'cutover',
      'revert',
    ]);
    expect(rec.phase).toBe('reverted');
    expect(rec.steps.cutover.outputs['write-blocked-ms']).toMatch(/^\d+$/);
    for (const secret of [pair.source.password, pair.replicationPassword]) expect(JSON.stringify(rec)).not.toContain(secret);
  }, 300_000);

  it('abort in a fresh process, after a run that ended at seed-replica, given nothing but the servers and the state dir', async () => {
    const other = await startPgPair();
    try {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-runs-abort-'));
      const c = { 'source-url': other.source.url(), 'target-url': other.target.url(), 'state-dir': dir };
      const retryBefore = (await other.target.query<{ v: string }>("SELECT current_setting('wal_retrieve_retry_interval') AS v"))[0].v;
      ok(await runDistStep('tune-target', { ...c, 'target-memory': '1GB', 'kernel-tuning': 'off' }));
      ok(
        await runDistStep('seed-replica', {
          ...c,
          'replication-user': other.replicationUser,
          'replication-password': other.replicationPassword,
          'target-data-dir': other.target.dataDir,
          'target-start-command': other.target.startCommand,
          'target-stop-command': other.target.stopCommand,
        }),
      );
      const a = ok(await runDistStep('abort', { ...c, 'abort-target': 'standalone', 'kernel-tuning': 'off' }));
      expect(a.outputs.removed).toMatch(/tune-target's settings restored on the target .*replication slot zdm_replica dropped on the source/);
      expect((await other.target.query<{ v: string }>("SELECT current_setting('wal_retrieve_retry_interval') AS v"))[0].v).toBe(retryBefore);
      expect(await other.source.query('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
      expect((await other.target.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0].r).toBe(false);
      expect(ok(await runDistStep('abort', { ...c, 'abort-target': 'standalone', 'kernel-tuning': 'off' })).outputs.removed).toBe('');
    } finally {
      await other.destroy();
    }
  }, 180_000);

  it('abort, after promotion, refuses and points to rollback', async () => {
    const r = await runDistStep('abort', { 'source-url': pair.source.url(), 'target-url': pair.target.url(), 'state-dir': state });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/past promotion \(promoted .*, phase reverted now\)|abort only abandons a migration before promotion/);
  }, 60_000);
});
