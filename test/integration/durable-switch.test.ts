/**
 * Durable throwaway servers (the rehearsal's and the bench's default) and the timing breakdown of
 * a PostgreSQL shutdown-fence cutover on them: every phase of the switch is on the step's timeline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { PostgresFixture } from '../../src/rehearse/postgres.js';
import { clientPause, WriteLoad } from '../../src/rehearse/writer.js';
import { startPostgres } from '../../src/sandbox/postgres.js';
import { SWITCH_RETRY_INTERVAL } from '../../src/engines/postgres/tuning.js';

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog(() => undefined));
}

let fx: PostgresFixture;

beforeAll(async () => {
  fx = await PostgresFixture.start({ durable: true });
}, 120_000);

afterAll(async () => {
  await fx?.destroy();
}, 60_000);

describe('durable throwaway servers', () => {
  it('a durable PostgreSQL pair has fsync, synchronous_commit and full_page_writes on; a test server keeps fsync off', async () => {
    expect(fx.durable).toBe(true);
    expect(await fx.durability()).toEqual({ fsync: 'on', full_page_writes: 'on', synchronous_commit: 'on' });
    const [{ fsync }] = await fx.pair.target.query<{ fsync: string }>("SELECT current_setting('fsync') AS fsync");
    expect(fsync).toBe('on');
    const light = await startPostgres({ name: 'light' });
    try {
      const [r] = await light.query<{ fsync: string }>("SELECT current_setting('fsync') AS fsync");
      expect(r.fsync).toBe('off');
    } finally {
      await light.destroy();
    }
  }, 60_000);

  it('a MariaDB source is durable by default (sync_binlog=1, innodb_flush_log_at_trx_commit=1) and relaxed with durable: false', async () => {
    const [durable, relaxed] = await Promise.all([MariadbFixture.start(), MariadbFixture.start({ durable: false })]);
    try {
      expect(await durable.durability()).toEqual({ sync_binlog: '1', innodb_flush_log_at_trx_commit: '1' });
      expect(await relaxed.durability()).toEqual({ sync_binlog: '0', innodb_flush_log_at_trx_commit: '2' });
    } finally {
      await Promise.all([durable.destroy(), relaxed.destroy()]);
    }
  }, 120_000);

  it('a shutdown-fence cutover on durable servers reports each phase of its window, in order, and the clients land on the new primary', async () => {
    await fx.loadSampleData(2);
    const load = new WriteLoad(fx.writeTargets(), 200);
    load.start();
    try {
      const inputs = fx.stepInputs({ fence: 'shutdown', targetMemory: '512MB' });
      const tuning = (await run('tune-target', inputs['tune-target'])).outputs.tuning;
      await run('seed-replica', { ...inputs['seed-replica'], tuning });
      await run('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '1' });
      // The promotion waits out at most this retry sleep (5 s by default): low through the switch, restored after it.
      const retry = async () => (await fx.pair.target.query<{ v: string }>("SELECT current_setting('wal_retrieve_retry_interval') AS v"))[0].v;
      expect(JSON.parse(tuning).items).toContainEqual(expect.objectContaining({ name: 'wal_retrieve_retry_interval', original: '5s', revertAtCutover: true }));
      expect(await retry()).toBe(SWITCH_RETRY_INTERVAL);
      const result = await run('cutover', { ...inputs.cutover, tuning });
      expect(await retry()).toBe('5s');
      const tl = result.timeline ?? [];
      const at = (phase: string) => tl.find((m) => m.phase === phase)?.at ?? NaN;
      expect(tl.map((m) => m.phase)).toEqual(
        expect.arrayContaining([
          'start',
          'stop-command',
          'fence',
          'source-down',
          'wal-received',
          'final-position',
          'applied',
          'promote-request',
          'recovery-end',
          'promote',
        ]),
      );
      expect(tl.map((m) => m.at)).toEqual([...tl.map((m) => m.at)].sort((a, b) => a - b));
      // The final position waits for both proofs: the source refuses connections, and its last WAL reached the target.
      expect(at('final-position')).toBeGreaterThanOrEqual(Math.max(at('source-down'), at('wal-received')));
      expect(at('promote') - at('start')).toBe(Number(result.outputs['write-blocked-ms']));
      await new Promise((r) => setTimeout(r, 500));
      const stats = await load.stop();
      expect(stats.acknowledgedBy.target).toBeGreaterThan(0);
      expect(await fx.missingOnTarget(stats.ackedSeqs)).toEqual([]);
      const pause = clientPause(stats, at('start'), stats.firstTargetAckAt!);
      // A request sent after the source's last acknowledgement waited until the new primary took it (the clients send every 5 ms at 200/s).
      expect(pause.max).toBeGreaterThanOrEqual(stats.firstTargetAckAt! - stats.lastSourceAckAt! - 20);
    } finally {
      await load.stop();
    }
  }, 240_000);
});
