/**
 * The MariaDB path on real servers: bad inputs refused before anything changes, a full migration
 * through runStep, and replication errors that waiting cannot heal reported as such.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { startMariadb, type MariadbSandbox } from '../../src/sandbox/mariadb.js';

let fx: MariadbFixture;
let noBinlog: MariadbSandbox;

beforeAll(async () => {
  [fx, noBinlog] = await Promise.all([MariadbFixture.start(), startMariadb({ name: 'nobinlog', serverId: 9, settings: { 'skip-log-bin': '' } })]);
  await fx.loadSampleData(2);
}, 180_000);

afterAll(async () => {
  await Promise.all([fx?.destroy(), noBinlog?.destroy()]);
}, 60_000);

function seedInputs(over: Record<string, string> = {}): Record<string, string> {
  return { ...fx.stepInputs({ fence: 'auto', targetMemory: '1GB' })['seed-replica'], ...over };
}

async function failure(step: StepName, raw: Record<string, string>): Promise<string> {
  try {
    await runStep(step, (n) => raw[n], new TextLog(() => undefined));
  } catch (e) {
    return describeError(e);
  }
  throw new Error(`${step} succeeded but should have failed`);
}

const run = (step: StepName, raw: Record<string, string>) => runStep(step, (n) => raw[n], new TextLog(() => undefined));

async function targetUntouched() {
  expect(await fx.target.isRunning()).toBe(true);
  expect(await fx.target.query('SHOW REPLICA STATUS')).toEqual([]);
}

describe('MariaDB seed-replica refuses bad input, changing nothing', () => {
  it('wrong password', async () => {
    const m = await failure('seed-replica', seedInputs({ 'source-url': fx.source.url({ password: 'wrong-pw-123' }) }));
    expect(m).toMatch(/^source-url: access denied for user "root" at 127\.0\.0\.1:\d+\./);
    expect(m).not.toContain('wrong-pw-123');
  });

  it('replication user without REPLICATION SLAVE', async () => {
    const m = await failure('seed-replica', seedInputs({ 'replication-user': fx.appUser, 'replication-password': fx.appPassword }));
    expect(m).toContain(`replication user: "${fx.appUser}" lacks the REPLICATION SLAVE privilege: GRANT REPLICATION SLAVE ON *.* TO that account.`);
    await targetUntouched();
  });

  it('backup account without RELOAD', async () => {
    const m = await failure('seed-replica', seedInputs({ 'source-url': fx.source.url({ user: fx.appUser, password: fx.appPassword }) }));
    expect(m).toMatch(/backup privileges \(source-url\): the account in source-url lacks RELOAD, PROCESS, LOCK TABLES/);
    await targetUntouched();
  });

  it('log_bin off on the source', async () => {
    const m = await failure('seed-replica', seedInputs({ 'source-url': noBinlog.url() }));
    expect(m).toContain('source log_bin: log_bin is OFF on the source: enable the binary log');
    await targetUntouched();
  });

  it('binlog_format STATEMENT', async () => {
    await fx.source.query("SET GLOBAL binlog_format = 'STATEMENT'");
    try {
      const m = await failure('seed-replica', seedInputs());
      expect(m).toContain('source binlog_format: binlog_format is STATEMENT: set binlog_format = ROW on the source');
    } finally {
      await fx.source.query("SET GLOBAL binlog_format = 'ROW'");
    }
    await targetUntouched();
  });

  it('duplicate server_id', async () => {
    const [{ id }] = await fx.source.query<{ id: number }>('SELECT @@server_id AS id');
    const [{ id: mine }] = await fx.target.query<{ id: number }>('SELECT @@server_id AS id');
    await fx.target.query(`SET GLOBAL server_id = ${id}`);
    try {
      const m = await failure('seed-replica', seedInputs());
      expect(m).toContain(`distinct server_id: source and target both have server_id = ${id}`);
    } finally {
      await fx.target.query(`SET GLOBAL server_id = ${mine}`);
    }
  });
});

describe('MariaDB migration and replication errors', () => {
  it('seeds, catches up, refuses a purged GTID position and a privileged writer, gives writes back on abort, and cuts over with no lost write', async () => {
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    const tune = await run('tune-target', inputs['tune-target']);
    const plan = JSON.parse(tune.outputs.tuning);
    expect(plan.items.find((i: { name: string }) => i.name === 'innodb_flush_log_at_trx_commit')).toMatchObject({ value: '2', relaxesDurability: true });
    const seed = await run('seed-replica', { ...inputs['seed-replica'], tuning: tune.outputs.tuning });
    expect(seed.outputs['seed-position']).toMatch(/^gtid:\d+-\d+-\d+/);
    // method: auto, both servers on this machine with readable files and the tools: the physical copy.
    expect(seed.outputs.method).toBe('physical');
    // The option file made the catch-up profile survive the restart seed-replica did.
    const [{ v }] = await fx.target.query<{ v: string }>('SELECT @@innodb_flush_log_at_trx_commit AS v');
    expect(String(v)).toBe('2');
    await run('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '1' });

    // Point the replica at a GTID the source has purged: await-lag-zero must stop with the reason at once.
    const app = await mysql.createConnection({ uri: fx.appUrl(fx.source) });
    await fx.target.query('STOP REPLICA');
    await fx.target.query("SET GLOBAL gtid_slave_pos = '0-1-1'");
    await fx.source.query('FLUSH BINARY LOGS');
    await app.query("INSERT INTO writes (client_seq, payload) VALUES (1, 'a')");
    await fx.source.query('PURGE BINARY LOGS BEFORE NOW() + INTERVAL 1 SECOND');
    await fx.target.query('START REPLICA');
    const started = Date.now();
    const m = await failure('await-lag-zero', { ...inputs['await-lag-zero'], 'timeout-seconds': '60' });
    expect(m).toMatch(/^replication cannot catch up: the source cannot send what the replica needs \(error 1236/);
    expect(Date.now() - started).toBeLessThan(30_000);

    // A stopped, broken replica holds only a copy of the source: seed it again, then cut over.
    await fx.target.query('STOP REPLICA');
    const seed2 = await run('seed-replica', { ...inputs['seed-replica'], tuning: tune.outputs.tuning });
    expect(seed2.outputs['seed-position']).toMatch(/^gtid:/);
    await run('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '1' });
    for (let i = 2; i <= 40; i++) await app.query('INSERT INTO writes (client_seq, payload) VALUES (?, ?)', [i, 'b']);

    // An account that can write past read_only is connected: cutover refuses before blocking anything.
    const privileged = await mysql.createConnection({ uri: fx.source.url() });
    const refusal = await failure('cutover', { ...inputs.cutover, tuning: tune.outputs.tuning });
    await privileged.end();
    expect(refusal).toMatch(
      /^sessions of accounts that can write past read_only are connected to the source: root \(1 session\)\..*Writes were not blocked\.$/,
    );
    expect(Number((await fx.source.query<{ ro: number }>('SELECT @@read_only AS ro'))[0].ro)).toBe(0);

    // The target cannot apply the final position in time (apply delayed): the source gets its writes back.
    await fx.target.query('STOP REPLICA');
    await fx.target.query('CHANGE MASTER TO MASTER_DELAY = 30');
    await fx.target.query('START REPLICA');
    await app.query("INSERT INTO writes (client_seq, payload) VALUES (41, 'c')");
    const abort = await failure('cutover', {
      ...inputs.cutover,
      tuning: tune.outputs.tuning,
      'max-lag-bytes': '1GB',
      'max-lag-seconds': '3600',
      'apply-timeout-seconds': '1',
    });
    expect(abort).toMatch(
      /^cutover aborted, the source has its writes back and the target is still a replica: the target did not apply the source's final position gtid:/,
    );
    expect(Number((await fx.source.query<{ ro: number }>('SELECT @@read_only AS ro'))[0].ro)).toBe(0);
    await app.query("INSERT INTO writes (client_seq, payload) VALUES (42, 'd')");
    await fx.target.query('STOP REPLICA');
    await fx.target.query('CHANGE MASTER TO MASTER_DELAY = 0');
    await fx.target.query('START REPLICA');
    await run('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '1' });

    for (let i = 43; i <= 50; i++) await app.query('INSERT INTO writes (client_seq, payload) VALUES (?, ?)', [i, 'e']);
    await app.end();
    const cut = await run('cutover', { ...inputs.cutover, tuning: tune.outputs.tuning });
    expect(cut.outputs.fence).toBe('read-only');
    expect(Number(cut.outputs['write-blocked-ms'])).toBeGreaterThan(0);
    expect(await fx.missingOnTarget(Array.from({ length: 50 }, (_, i) => i + 1))).toEqual([]);
    const [t] = await fx.target.query<{ ro: number; flush: number; sync: number }>(
      'SELECT @@read_only AS ro, @@innodb_flush_log_at_trx_commit AS flush, @@sync_binlog AS sync',
    );
    expect([Number(t.ro), Number(t.flush), Number(t.sync)]).toEqual([0, 1, 1]);
    const [s] = await fx.source.query<{ ro: number }>('SELECT @@read_only AS ro');
    expect(Number(s.ro)).toBe(1);
    expect(await fx.target.query('SHOW REPLICA STATUS')).toEqual([]);
  }, 240_000);
});
