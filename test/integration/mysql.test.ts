/**
 * The MySQL flavour on a real server (Debian unstable's MySQL, extracted by scripts/install-mysql.sh):
 * a migration seeded and caught up, verify naming a planted divergence by its key, a stalled replica
 * never counted as caught up, a super_read_only fence that a SUPER writer cannot pass, and the
 * accounts fence with an admin holding neither SUPER nor CONNECTION_ADMIN.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { FLAVORS } from '../../src/engines/mysql/flavor.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { StepFailed } from '../../src/steps/step.js';
import { mysqlBinDir } from '../../src/sandbox/mysql.js';
import { mysqlMissing } from '../harness/index.js';

const run = (step: StepName, raw: Record<string, string>, lines: string[] = []) => runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));

async function fails(step: StepName, raw: Record<string, string>, lines: string[] = []): Promise<{ message: string; outputs: Record<string, string> }> {
  try {
    await run(step, raw, lines);
  } catch (e) {
    return { message: describeError(e), outputs: e instanceof StepFailed ? e.result.outputs : {} };
  }
  throw new Error(`${step} succeeded but should have failed`);
}

/** Seeds the target and waits until it caught up; returns the tuning and the inputs of every step. */
async function migrated(fx: MariadbFixture, fence: string) {
  const all = fx.stepInputs({ fence, targetMemory: '1GB' });
  const tune = await run('tune-target', all['tune-target']);
  const lines: string[] = [];
  const seed = await run('seed-replica', { ...all['seed-replica'], tuning: tune.outputs.tuning }, lines);
  await run('await-lag-zero', { ...all['await-lag-zero'], 'settle-seconds': '1' });
  return { all, tuning: tune.outputs.tuning, seed, seedLog: lines.join('\n') };
}

describe.skipIf(mysqlMissing !== undefined)(`MySQL: a migration on a real server${mysqlMissing ? ` (skipped: ${mysqlMissing})` : ''}`, () => {
  let fx: MariadbFixture;
  let m: Awaited<ReturnType<typeof migrated>>;
  beforeAll(async () => {
    fx = await MariadbFixture.start({ engine: 'mysql' });
    console.log(`MySQL ${await fx.serverVersion()}`);
    await fx.loadSampleData(2);
    m = await migrated(fx, 'read-only');
  }, 300_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it('the seed was made by CLONE, from the GTID set clone_status records', () => {
    expect(m.seed.outputs).toMatchObject({ method: 'physical', 'seed-tool': 'clone' });
    expect(m.seed.outputs['seed-position']).toMatch(/^gtid:[0-9a-f-]{36}:1-\d+$/);
    expect(m.seedLog).toMatch(/method: auto chose physical by the CLONE plugin/);
    expect(m.seedLog).toMatch(/CLONE done: [\d.]+ MB in/);
  });

  it('verify names a row changed on the target behind replication by its key', async () => {
    const t = await mysql.createConnection({ uri: fx.target.url() });
    const verify = { engine: 'mysql', 'source-url': fx.source.url(), 'target-url': fx.target.url(), 'chunk-rows': '1000' };
    // The replica is super_read_only (seed-replica sets it): lifted for the plant, outside the binlog.
    await t.query('SET GLOBAL super_read_only = OFF');
    try {
      await t.query('SET SESSION sql_log_bin = 0');
      const [[before]] = (await t.query('SELECT payload FROM appdb.sample WHERE id = 4321')) as unknown as [{ payload: string }[]];
      await t.query("UPDATE appdb.sample SET payload = 'changed behind replication' WHERE id = 4321");
      try {
        const { message, outputs } = await fails('verify', verify);
        expect(message).toMatch(/^verify found 1 mismatch between source and target:/);
        expect(message).toContain('appdb.sample: 1 differing range(s)\n  keys (4320, 4321]: source: 1 row (key 4321), target: 1 row (key 4321)');
        expect(outputs).toMatchObject({ ok: 'false', mismatches: '1' });
      } finally {
        await t.query('UPDATE appdb.sample SET payload = ? WHERE id = 4321', [before.payload]);
      }
      expect((await run('verify', verify)).outputs.ok).toBe('true');
    } finally {
      await t.query('SET GLOBAL super_read_only = ON');
      await t.end();
    }
  }, 120_000);

  it('a replica whose applier is stopped is never counted as caught up', async () => {
    await fx.target.query('STOP REPLICA SQL_THREAD');
    try {
      await fx.source.query("INSERT INTO appdb.writes (client_seq, payload) VALUES (900001, 'while the applier is stopped')");
      const t0 = Date.now();
      const { message } = await fails('await-lag-zero', { ...m.all['await-lag-zero'], 'timeout-seconds': '60', 'settle-seconds': '1' });
      // At once, not at the timeout: waiting cannot heal it.
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(message).toContain("the replica's SQL thread on the target is stopped, without an error (STOP REPLICA SQL_THREAD)");
      expect(message).toContain('Run START REPLICA SQL_THREAD on the target');
      const gate = await fails('cutover', { ...m.all.cutover, tuning: m.tuning, 'lag-timeout-seconds': '5' });
      expect(gate.message).not.toMatch(/promoted/);
      expect(await fx.source.query('SELECT @@super_read_only AS s')).toEqual([{ s: 0 }]);
    } finally {
      await fx.target.query('START REPLICA SQL_THREAD');
    }
    await run('await-lag-zero', { ...m.all['await-lag-zero'], 'settle-seconds': '1' });
  }, 120_000);

  it('cutover: the super_read_only fence holds back a SUPER writer; nothing is written on the old source after it', async () => {
    const superConn = await mysql.createConnection(fx.source.url({ database: 'appdb' }));
    const errors = new Set<string>();
    let seq = 1_000_000;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        await superConn.query('INSERT INTO writes (client_seq, payload) VALUES (?, ?)', [++seq, 'super']).catch((e: Error) => errors.add(e.message));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let r;
    try {
      r = await run('cutover', { ...m.all.cutover, tuning: m.tuning, 'allow-privileged-writers': 'true' });
    } finally {
      stop = true;
      await writer;
      await superConn.end();
    }
    expect(r.outputs['writes-after-fence']).toBe('0');
    expect([...errors].join('\n')).toMatch(/--super-read-only/);
    // root holds SUPER and CONNECTION_ADMIN: the old source still refuses it.
    const late = await fx.source.query("INSERT INTO appdb.writes (client_seq, payload) VALUES (2000000, 'late')").catch((e: Error) => e.message);
    expect(late).toMatch(/--super-read-only/);
    expect(await fx.target.query('SELECT @@super_read_only AS s, @@read_only AS r')).toEqual([{ s: 0, r: 0 }]);
  }, 120_000);
});

describe.skipIf(mysqlMissing !== undefined)(`MySQL: fence accounts with an admin without SUPER or CONNECTION_ADMIN${mysqlMissing ? ` (skipped)` : ''}`, () => {
  let fx: MariadbFixture;
  let m: Awaited<ReturnType<typeof migrated>>;
  beforeAll(async () => {
    fx = await MariadbFixture.start({ engine: 'mysql' });
    await fx.loadSampleData(1);
  }, 300_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it('CLONE refuses a MyISAM table by name, and a donor account without BACKUP_ADMIN, before anything changes; method auto copies logically instead, saying why', async () => {
    await fx.source.query('CREATE TABLE appdb.legacy (id INT PRIMARY KEY) ENGINE=MyISAM');
    try {
      const all = fx.stepInputs({ fence: 'accounts', targetMemory: '1GB' });
      const { message } = await fails('seed-replica', { ...all['seed-replica'], method: 'physical' });
      expect(message).toContain('non-InnoDB tables: CLONE copies InnoDB only, and appdb.legacy (MyISAM) would arrive empty');
      expect(await fx.target.query('SHOW REPLICA STATUS')).toEqual([]);
      const pre = await run('preflight', { ...all.preflight, method: 'auto' }).catch((e: StepFailed) => e.result);
      const checks = JSON.parse(pre.outputs.checks) as { check: string; detail: string }[];
      expect(checks.find((c) => c.check === 'seed method')?.detail).toMatch(/logical: .*CLONE cannot: CLONE copies InnoDB only, and appdb\.legacy \(MyISAM\)/);
    } finally {
      await fx.source.query('DROP TABLE appdb.legacy');
    }
    // A managed service's master user has no BACKUP_ADMIN: CLONE says so, and what to grant.
    const master = await fx.noSuperAdmin();
    const all = fx.stepInputs({ fence: 'accounts', targetMemory: '1GB' });
    const { message } = await fails('seed-replica', { ...all['seed-replica'], 'source-url': master, method: 'physical' });
    expect(message).toContain('CLONE: the account in source-url lacks BACKUP_ADMIN, which the CLONE donor needs: GRANT BACKUP_ADMIN ON *.* TO that account');
    expect(message).not.toContain(fx.source.password);
    expect(await fx.target.query('SHOW REPLICA STATUS')).toEqual([]);
  }, 120_000);

  it("the logical seed without MySQL's mysqldump: Debian's mydumper 0.10 and MariaDB's mysqldump are refused, with the mydumper release needed", async () => {
    const saved = process.env.PATH;
    // The fixture put the extracted MySQL client first on PATH; without it, mysqldump is MariaDB's link to mariadb-dump.
    process.env.PATH = (saved ?? '')
      .split(':')
      .filter((d) => d !== mysqlBinDir())
      .join(':');
    try {
      const all = fx.stepInputs({ fence: 'accounts', targetMemory: '1GB' });
      const { message } = await fails('seed-replica', { ...all['seed-replica'], method: 'logical' });
      expect(message).toMatch(
        /dump tools: mydumper 0\.10\.\d+ does not know MySQL 8\.4 and later \(it runs SHOW MASTER STATUS, removed in 8\.4\): it needs mydumper 0\.16\.3 or later, and the mysqldump on the runner is MariaDB's \(mysqldump +Ver .*MariaDB.*\)/,
      );
      expect(await fx.target.query('SHOW REPLICA STATUS')).toEqual([]);
    } finally {
      process.env.PATH = saved;
    }
  }, 120_000);

  it('an admin that cannot end sessions is refused before anything changes; one with CONNECTION_ADMIN fences the writers by their account', async () => {
    m = await migrated(fx, 'accounts');
    const weak = await fx.noSuperAdmin({ without: ['CONNECTION_ADMIN'] });
    const refused = await fails('cutover', { ...m.all.cutover, 'source-url': weak, tuning: m.tuning });
    expect(refused.message).toMatch(/CONNECTION_ADMIN/);
    expect(await fx.source.query("SELECT account_locked AS l FROM mysql.user WHERE User = 'app_writer'")).toEqual([{ l: 'N' }]);

    const app = await mysql.createConnection({ uri: fx.appUrl(fx.source) });
    app.on('error', () => undefined);
    const master = await fx.noSuperAdmin();
    const r = await run('cutover', { ...m.all.cutover, 'source-url': master, tuning: m.tuning });
    expect(r.outputs.fence).toBe('accounts');
    const locked = await fx.source.query<{ user: string; locked: number }>(FLAVORS.mysql84.accountsQuery);
    expect(locked.find((a) => a.user === 'app_writer')?.locked).toBe(1);
    // The writer's open session was ended; a new one is refused on the old source and welcome on the new primary.
    expect(await app.query('SELECT 1').catch((e: Error) => e.message)).toMatch(/closed|lost|killed|ended|ECONNRESET/i);
    expect(await mysql.createConnection({ uri: fx.appUrl(fx.source) }).catch((e: Error) => e.message)).toMatch(/locked/i);
    const onTarget = await mysql.createConnection({ uri: fx.appUrl(fx.target) });
    await onTarget.query("INSERT INTO writes (client_seq, payload) VALUES (3000000, 'on the new primary')");
    await onTarget.end();
  }, 120_000);
});
