/**
 * What guards a switch on real servers (issue 13): a promotion is always reported as one, even when
 * the old source dies after the fence or what follows promotion fails; two cutovers at once never
 * both fence and promote (a lock on the target); writes a privileged session makes past the fence
 * are counted; typed notes reach the summary as warnings.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { StepFailed } from '../../src/steps/step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { pgAppWrite } from '../harness/pg-app.js';

const run = (step: StepName, raw: Record<string, string>, lines: string[] = []) => runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));

/** A PostgreSQL pair migrated up to the cutover: tuned, seeded, caught up. */
async function pgReady(): Promise<{ pair: PgPair; tuning: string; common: Record<string, string> }> {
  const pair = await startPgPair();
  const common = { 'source-url': pair.source.url(), 'target-url': pair.target.url() };
  await loadSampleData(pair, 1);
  const tuning = (await run('tune-target', { ...common, 'target-memory': '512MB', 'kernel-tuning': 'off' })).outputs.tuning;
  await run('seed-replica', {
    ...common,
    'replication-user': pair.replicationUser,
    'replication-password': pair.replicationPassword,
    'target-data-dir': pair.target.dataDir,
    'target-start-command': pair.target.startCommand,
    'target-stop-command': pair.target.stopCommand,
    tuning,
  });
  await run('await-lag-zero', { ...common, 'settle-seconds': '1' });
  return { pair, tuning, common };
}

const tmp = (name: string) => path.join(os.tmpdir(), `zdm-guard-${process.pid}-${name}`);

describe('PostgreSQL: a promotion is always reported as one', () => {
  let ready: Awaited<ReturnType<typeof pgReady>>;
  beforeAll(async () => {
    ready = await pgReady();
  }, 180_000);
  afterAll(async () => {
    await ready?.pair.destroy();
  }, 60_000);

  it('the old source dies right after the promotion: outputs, summary and what is left on it are reported; a re-run while it is down reports the promotion', async () => {
    const { pair, tuning, common } = ready;
    await pgAppWrite(pair, 'source', 1);
    // on-promoted-command runs right after the promotion: it kills the old source (immediate stop).
    const kill = pair.source.stopCommand.replace('-m fast', '-m immediate');
    const lines: string[] = [];
    const r = await run('cutover', { ...common, fence: 'read-only', tuning, 'on-promoted-command': kill }, lines);
    expect(r.outputs.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(r.outputs.fence).toBe('read-only');
    expect(Number(r.outputs['write-blocked-ms'])).toBeGreaterThan(0);
    expect(r.outputs['final-position']).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(r.outputs['writes-after-fence']).toBe('');
    expect(r.summary).toMatch(/Write-blocked window: \d+ ms/);
    // The dead old source's leftovers are warnings (logged and in the summary), with what to do once it is back.
    expect(r.summary).toMatch(/\*\*WARNING:\*\* the old source could not be reached after the promotion .*It stays fenced .*drop replication slot zdm_replica/);
    expect(r.summary).toMatch(/\*\*WARNING:\*\* the old source could not be checked for writes after the fence/);
    expect(lines.some((l) => /warn.*the old source could not be reached after the promotion/i.test(l))).toBe(true);
    await pgAppWrite(pair, 'target', 2);

    // Run again while the old source is still down, and a part after promotion fails: still reported as the promotion it is.
    const plan = JSON.parse(tuning);
    plan.items.push({
      name: 'zdm_no_such_setting',
      original: '1',
      value: '2',
      reason: 'test',
      applies: 'reload',
      relaxesDurability: false,
      revertAtCutover: true,
    });
    let err: unknown;
    await run('cutover', { ...common, fence: 'read-only', tuning: JSON.stringify(plan) }).catch((e) => (err = e));
    expect(err).toBeInstanceOf(StepFailed);
    const f = err as StepFailed;
    expect(describeError(f)).toMatch(
      /^the target WAS promoted and is the primary now: point the application at 127\.0\.0\.1:\d+\. But restoring the catch-up settings failed: /,
    );
    expect(describeError(f)).toMatch(/Run cutover again once both servers are reachable/);
    expect(f.result.outputs).toMatchObject({ endpoint: r.outputs.endpoint, fence: 'already-done' });
    expect(f.result.summary).toMatch(/The cutover had already been done/);

    const again = await run('cutover', { ...common, fence: 'read-only', tuning });
    expect(again.outputs).toMatchObject({ endpoint: r.outputs.endpoint, fence: 'already-done' });
    expect(again.summary).toMatch(/The cutover had already been done/);
  }, 120_000);
});

describe('PostgreSQL: two cutovers at the same time (shutdown fence)', () => {
  let ready: Awaited<ReturnType<typeof pgReady>>;
  beforeAll(async () => {
    ready = await pgReady();
  }, 180_000);
  afterAll(async () => {
    await ready?.pair.destroy();
  }, 60_000);

  it('only one fences and promotes; the other refuses at once with the real reason', async () => {
    const { pair, tuning, common } = ready;
    const marks = tmp('promoted');
    writeFileSync(marks, '');
    const inputs = {
      ...common,
      tuning,
      fence: 'shutdown',
      'source-stop-command': pair.source.fastStopCommand,
      'source-start-command': pair.source.startCommand,
      'on-promoted-command': `echo promoted >> ${marks}`,
    };
    const results = await Promise.allSettled([run('cutover', inputs), run('cutover', inputs)]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => describeError(r.reason));
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(
      /^another zdm cutover or rollback holds the switch lock on the target: "zdm_lock cutover .* pid \d+" since \d{4}-\d\d-\d\dT.*, from host 127\.0\.0\.1 \(pid \d+ on the target\)\. Nothing was changed\./,
    );
    expect(readFileSync(marks, 'utf8').trim().split('\n')).toEqual(['promoted']);
  }, 120_000);
});

describe('PostgreSQL: writes past the read-only fence', () => {
  let ready: Awaited<ReturnType<typeof pgReady>>;
  beforeAll(async () => {
    ready = await pgReady();
  }, 180_000);
  afterAll(async () => {
    await ready?.pair.destroy();
  }, 60_000);

  it('a superuser session that turns read-only off and writes on the old source after the fence is counted', async () => {
    const { pair, tuning, common } = ready;
    // Right after the promotion, a superuser writes on the fenced old source (it keeps LOGIN, and may SET read-only off).
    const insert = "INSERT INTO writes (client_seq, payload) VALUES (900001, 'past the fence')";
    const write = `psql ${JSON.stringify(pair.source.url({ database: 'appdb' }))} -v ON_ERROR_STOP=1 -c 'SET default_transaction_read_only = off' -c ${JSON.stringify(insert)}`;
    const r = await run('cutover', { ...common, fence: 'read-only', tuning, 'on-promoted-command': write });
    expect(r.summary).toMatch(/on-promoted-command done/);
    expect(Number(r.outputs['writes-after-fence'])).toBeGreaterThanOrEqual(1);
    expect(r.summary).toMatch(/\*\*WARNING:\*\* WRITES AFTER THE FENCE: \d+ transaction\(s\) were written on the old source after the fence \(first: xid \d+/);
  }, 120_000);
});

describe('MariaDB: writes past the fence and two cutovers at once', () => {
  let fx: MariadbFixture;
  let inputs: Record<string, string>;
  beforeAll(async () => {
    fx = await MariadbFixture.start();
    await fx.loadSampleData(1);
    const all = fx.stepInputs({ fence: 'read-only', targetMemory: '1GB' });
    const tune = await run('tune-target', all['tune-target']);
    await run('seed-replica', { ...all['seed-replica'], tuning: tune.outputs.tuning });
    await run('await-lag-zero', { ...all['await-lag-zero'], 'settle-seconds': '1' });
    inputs = { ...all.cutover, tuning: tune.outputs.tuning, 'allow-privileged-writers': 'true' };
  }, 180_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it("a second cutover refuses on the lock, not on the first one's sessions; a SUPER session writing past the fence is counted", async () => {
    // A SUPER (root) session writes all along: the read lock holds it back, read_only does not.
    const superConn = await mysql.createConnection(fx.source.url({ database: 'appdb' }));
    let seq = 1_000_000;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        await superConn.query('INSERT INTO writes (client_seq, payload) VALUES (?, ?)', [++seq, 'super']).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const lines: string[] = [];
    try {
      const results = await Promise.allSettled([run('cutover', inputs, lines), run('cutover', inputs)]);
      const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => describeError(r.reason));
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatch(
        /^another zdm cutover or rollback holds the switch lock on the target \(connection \d+ since .*, from host 127\.0\.0\.1:\d+\)\. Nothing was changed/,
      );
      expect(ok).toHaveLength(1);
      const n = Number(ok[0].outputs['writes-after-fence']);
      expect(n).toBeGreaterThan(0);
      expect(ok[0].summary).toMatch(new RegExp(`\\*\\*${n} transaction\\(s\\) were written on the old source after the fence`));
      expect(ok[0].summary).toMatch(/\*\*WARNING:\*\* WRITES AFTER THE FENCE: \d+ transaction\(s\) .*first GTID \d+-\d+-\d+/);
    } finally {
      stop = true;
      await writer;
      await superConn.end();
    }
  }, 120_000);
});

describe('MariaDB: two cutovers at the same time, no privileged writer allowed', () => {
  let fx: MariadbFixture;
  let inputs: Record<string, string>;
  beforeAll(async () => {
    fx = await MariadbFixture.start();
    await fx.loadSampleData(1);
    const all = fx.stepInputs({ fence: 'read-only', targetMemory: '1GB' });
    const tune = await run('tune-target', all['tune-target']);
    await run('seed-replica', { ...all['seed-replica'], tuning: tune.outputs.tuning });
    await run('await-lag-zero', { ...all['await-lag-zero'], 'settle-seconds': '1' });
    inputs = { ...all.cutover, tuning: tune.outputs.tuning };
  }, 180_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it("the second refuses on the lock, not on the first one's sessions taken for privileged writers", async () => {
    const marks = tmp('mariadb-promoted');
    writeFileSync(marks, '');
    const both = { ...inputs, 'on-promoted-command': `echo promoted >> ${marks}` };
    const results = await Promise.allSettled([run('cutover', both), run('cutover', both)]);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => describeError(r.reason));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/^another zdm cutover or rollback holds the switch lock on the target \(connection \d+ since .*\)\. Nothing was changed/);
    expect(readFileSync(marks, 'utf8').trim().split('\n')).toEqual(['promoted']);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  }, 120_000);
});
