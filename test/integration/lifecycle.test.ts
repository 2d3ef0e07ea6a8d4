/**
 * A migration abandoned after seed-replica, on real servers, with a writing client: `status` sees
 * the WAL the source's slot holds growing while the target is down and fails past its threshold;
 * `abort` (given no tuning input: the migration record holds the plan) leaves the source with no
 * zdm slot, publication or heartbeat table, its WAL released at the next checkpoint and its
 * settings as before tune-target; a second abort changes nothing. PostgreSQL physical and logical,
 * and MariaDB (its binlog position moving on and its grants untouched).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { PostgresFixture } from '../../src/rehearse/postgres.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { StepFailed } from '../../src/steps/step.js';
import { WriteLoad } from '../../src/rehearse/writer.js';
import { startSshd, type SshdSandbox } from '../../src/sandbox/sshd.js';
import { freePort } from '../../src/sandbox/util.js';
import { readTunnelStatus } from '../../src/hosts/supervised-tunnel.js';

const lines: string[] = [];
async function run(step: StepName, raw: Record<string, string>) {
  const result = await runStep(step, (n) => raw[n], new TextLog((l) => lines.push(`[${step}] ${l}`)));
  return result;
}
async function failure(step: StepName, raw: Record<string, string>): Promise<{ message: string; outputs: Record<string, string> }> {
  try {
    await run(step, raw);
  } catch (e) {
    return { message: describeError(e), outputs: e instanceof StepFailed ? e.result.outputs : {} };
  }
  throw new Error(`${step} succeeded but should have failed`);
}

/** Every setting of a PostgreSQL server, as it reports them (name = setting). */
async function pgSettings(q: (sql: string) => Promise<Record<string, unknown>[]>): Promise<Record<string, string>> {
  const r = await q("SELECT name, setting FROM pg_settings WHERE name NOT IN ('transaction_read_only', 'in_hot_standby') ORDER BY name");
  return Object.fromEntries(r.map((x) => [String(x.name), String(x.setting)]));
}

describe('PostgreSQL, physical: status while the target is down, then abort', () => {
  let fx: PostgresFixture;
  let load: WriteLoad;
  const state = mkdtempSync(path.join(os.tmpdir(), 'zdm-life-pg-'));
  let before: Record<string, string>;
  const inputs = () => {
    const all = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    for (const k of Object.keys(all) as (keyof typeof all)[]) all[k]['state-dir'] = state;
    return all;
  };
  const abortInputs = () => ({
    ...inputs()['seed-replica'],
    'state-dir': state,
    'target-stop-command': fx.pair.target.stopCommand,
    'kernel-tuning': 'off',
  });
  const q = (sql: string) => fx.pair.source.query<Record<string, unknown>>(sql);

  beforeAll(async () => {
    fx = await PostgresFixture.start();
    await fx.loadSampleData(2);
    before = await pgSettings(q);
    load = new WriteLoad(fx.writeTargets(), 50);
    load.start();
    const i = inputs();
    await run('tune-target', i['tune-target']);
    await run('seed-replica', i['seed-replica']);
    await run('await-lag-zero', i['await-lag-zero']);
  }, 240_000);
  afterAll(async () => {
    await load?.stop().catch(() => undefined);
    await fx?.destroy();
  }, 60_000);

  it('status reports a running migration, and the record holds what the steps did', async () => {
    const s = await run('status', inputs()['await-lag-zero']);
    expect(s.outputs.phase).toBe('caught-up');
    expect(s.outputs.replicating).toBe('true');
    expect(s.outputs['next-step']).toMatch(/^cutover/);
    expect(Number(s.outputs['retained-bytes'])).toBeGreaterThanOrEqual(0);
    // The source runs on this machine: its free disk is read.
    expect(Number(s.outputs['source-free-bytes'])).toBeGreaterThan(0);
    const rec = JSON.parse(readFileSync(path.join(state, `127.0.0.1-${fx.pair.target.port}.json`), 'utf8'));
    expect(rec.phase).toBe('caught-up');
    expect(rec.tuning.items.length).toBeGreaterThan(0);
    expect(rec.made.replicationSlot).toBe('zdm_replica');
    expect(JSON.stringify(rec)).not.toContain(fx.pair.source.password);
    expect(JSON.stringify(rec)).not.toContain(fx.pair.replicationPassword);
  });

  it('status sees the retained WAL grow while the target is down, and fails past max-retained-bytes', async () => {
    await fx.pair.target.stop('fast');
    try {
      const first = await failure('status', { ...inputs()['await-lag-zero'], 'max-retained-bytes': '1GB' });
      // The target is down: replication does not run, a failure while the migration waits.
      expect(first.message).toMatch(/replicating: no|lag: cannot be measured/);
      const held = Number(first.outputs['retained-bytes']);
      await q('CREATE TABLE IF NOT EXISTS burst AS SELECT g AS id, repeat(md5(g::text), 20) AS pad FROM generate_series(1, 30000) g');
      await q('INSERT INTO burst SELECT g, repeat(md5(g::text), 20) FROM generate_series(30001, 60000) g');
      const second = await failure('status', { ...inputs()['await-lag-zero'], 'max-retained-bytes': '8MB' });
      const grown = Number(second.outputs['retained-bytes']);
      expect(grown).toBeGreaterThan(held + 20 * 1024 * 1024);
      expect(second.message).toMatch(
        /retained: .* kept on the source for slot zdm_replica \(physical, wal_status \w+, inactive\): more than max-retained-bytes 8\.0 MB/,
      );
      expect(second.outputs.report).toContain('"retained"');
    } finally {
      await fx.pair.target.start();
    }
  }, 120_000);

  it('abort, given no tuning, leaves the source as before tune-target; a second abort changes nothing', async () => {
    const stats = await load.stop();
    expect(stats.acknowledged).toBeGreaterThan(0);
    // A stop command that fails stops abort before the source is cleaned: a second run finds everything left.
    const stuck = await failure('abort', { ...abortInputs(), 'target-stop-command': 'echo no such service >&2; false' });
    expect(stuck.message).toMatch(
      /^target-stop-command failed \(exit 1\): no such service\. abort stopped there \(done: .*standby settings.*\): the source still keeps/,
    );
    expect((await q("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'zdm_replica'")).length).toBe(1);
    const out = await run('abort', abortInputs());
    expect(out.outputs.removed).toMatch(/tune-target's settings restored on the target/);
    expect(out.outputs.removed).toMatch(/replication slot zdm_replica dropped on the source/);
    expect(out.outputs.removed).toMatch(/heartbeat table public\.zdm_heartbeat .* dropped on the source/);
    expect(out.outputs.removed).toMatch(/the target stopped/);
    expect(await fx.pair.target.isRunning()).toBe(false);
    expect(await q("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'zdm%'")).toEqual([]);
    expect(await q("SELECT pubname FROM pg_publication WHERE pubname LIKE 'zdm%'")).toEqual([]);
    expect(await q("SELECT to_regclass('public.zdm_heartbeat') AS t")).toEqual([{ t: null }]);
    // The WAL the slot held goes at the next checkpoint: no segment older than the checkpoint's redo is left.
    await q('SELECT pg_switch_wal()');
    await q('CHECKPOINT');
    const [{ redo }] = await q('SELECT redo_wal_file AS redo FROM pg_control_checkpoint()');
    const old = await q(`SELECT name FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND name < '${String(redo)}'`);
    expect(old).toEqual([]);
    expect(await pgSettings(q)).toEqual(before);
    const again = await run('abort', abortInputs());
    expect(again.outputs.removed).toBe('');
    const rec = JSON.parse(readFileSync(again.outputs.record, 'utf8'));
    expect(rec.phase).toBe('aborted');
  }, 180_000);
});

describe('PostgreSQL, logical: abort drops the subscription, the publication and the slot', () => {
  let fx: PostgresFixture;
  const state = mkdtempSync(path.join(os.tmpdir(), 'zdm-life-pgl-'));
  beforeAll(async () => {
    fx = await PostgresFixture.start({ sourceSettings: { wal_level: 'logical' } });
    await fx.pair.target.query(`CREATE DATABASE ${fx.pair.appDatabase}`);
    await fx.loadSampleData(2);
  }, 180_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it('after a logical seed, abort leaves the target standalone and the source clean', async () => {
    const db = { database: fx.pair.appDatabase };
    const common = { 'source-url': fx.pair.source.url(db), 'target-url': fx.pair.target.url(db), 'state-dir': state };
    await run('seed-replica', {
      ...common,
      method: 'logical',
      'replication-user': fx.pair.replicationUser,
      'replication-password': fx.pair.replicationPassword,
    });
    const srcQ = (sql: string) => fx.pair.source.query<Record<string, unknown>>(sql);
    expect((await srcQ("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'zdm_replica'")).length).toBe(1);
    const out = await run('abort', { ...common, 'abort-target': 'standalone' });
    expect(out.outputs.removed).toMatch(/subscription zdm_replica dropped on the target/);
    expect(out.outputs.removed).toMatch(/replication slot zdm_replica dropped on the source/);
    expect(out.outputs.removed).toMatch(/publication zdm_replica dropped on the source/);
    expect(await srcQ("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'zdm%'")).toEqual([]);
    expect(await srcQ("SELECT pubname FROM pg_publication WHERE pubname LIKE 'zdm%'")).toEqual([]);
    // The target keeps running, on its own, with the copied rows.
    const sub = await fx.pair.target.query(`SELECT count(*)::int AS n FROM pg_subscription`);
    expect(sub).toEqual([{ n: 0 }]);
    expect((await run('abort', { ...common, 'abort-target': 'standalone' })).outputs.removed).toBe('');
  }, 180_000);
});

describe('MariaDB: abort after seed-replica', () => {
  let fx: MariadbFixture;
  let load: WriteLoad;
  const state = mkdtempSync(path.join(os.tmpdir(), 'zdm-life-my-'));
  beforeAll(async () => {
    fx = await MariadbFixture.start();
    await fx.loadSampleData(2);
  }, 180_000);
  afterAll(async () => {
    await load?.stop().catch(() => undefined);
    await fx?.destroy();
  }, 60_000);

  it('removes the replica configuration and the heartbeat, leaves the binlog and the grants as they were', async () => {
    const i = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    for (const k of Object.keys(i) as (keyof typeof i)[]) i[k]['state-dir'] = state;
    const grants = async () => JSON.stringify(await fx.source.query('SELECT user, host FROM mysql.user ORDER BY user, host'));
    const dbs = async () => JSON.stringify(await fx.source.query('SHOW DATABASES'));
    const [grantsBefore, dbsBefore] = [await grants(), await dbs()];
    load = new WriteLoad(fx.writeTargets(), 50);
    load.start();
    await run('tune-target', { ...i['tune-target'], 'kernel-tuning': 'off' });
    await run('seed-replica', i['seed-replica']);
    await run('await-lag-zero', i['await-lag-zero']);
    const st = await run('status', i['await-lag-zero']);
    expect(st.outputs.replicating).toBe('true');
    expect(st.outputs['retained-bytes']).not.toBe('');
    await load.stop();
    const [pos1] = await fx.source.query<{ File: string; Position: number }>('SHOW BINLOG STATUS');
    const out = await run('abort', { ...i['seed-replica'], 'abort-target': 'standalone', 'kernel-tuning': 'off' });
    expect(out.outputs.removed).toMatch(/replication stopped and its configuration/);
    expect(out.outputs.removed).toMatch(/heartbeat table zdm\.heartbeat .* dropped on the source/);
    expect(await fx.target.query('SHOW REPLICA STATUS')).toEqual([]);
    expect(await grants()).toBe(grantsBefore);
    expect(await dbs()).toBe(dbsBefore);
    const [pos2] = await fx.source.query<{ File: string; Position: number }>('SHOW BINLOG STATUS');
    // Nothing reset the binlog: the same file, moved on only by abort's own DROP statements.
    expect(pos2.File).toBe(pos1.File);
    expect(Number(pos2.Position)).toBeGreaterThanOrEqual(Number(pos1.Position));
    expect((await run('abort', { ...i['seed-replica'], 'abort-target': 'standalone', 'kernel-tuning': 'off' })).outputs.removed).toBe('');
  }, 240_000);
});

describe('PostgreSQL over SSH: abort stops the replication tunnel the record names', () => {
  let fx: PostgresFixture;
  let sshd: SshdSandbox;
  const state = mkdtempSync(path.join(os.tmpdir(), 'zdm-life-ssh-'));
  beforeAll(async () => {
    [fx, sshd] = await Promise.all([PostgresFixture.start(), startSshd({ name: 'life-ssh' })]);
    await fx.loadSampleData(1);
  }, 180_000);
  afterAll(async () => {
    await fx?.destroy();
    await sshd?.destroy();
  }, 60_000);

  it('seed-replica over SSH records its tunnel; abort, given another tunnel port, still stops it', async () => {
    const tunnelDir = `${sshd.baseDir}/tunnels`;
    const port = await freePort();
    const ssh = {
      'source-ssh-host': `127.0.0.1:${sshd.port}`,
      'source-ssh-user': sshd.user,
      'source-ssh-key': sshd.privateKey,
      'source-ssh-host-key': sshd.hostKeyFingerprint,
      'tunnel-dir': tunnelDir,
      'state-dir': state,
    };
    await run('seed-replica', { ...fx.stepInputs({ fence: 'auto', targetMemory: '1GB' })['seed-replica'], ...ssh, 'replication-tunnel-port': String(port) });
    expect(readTunnelStatus(tunnelDir, `replication-${port}`)).toBeDefined();
    const out = await run('abort', {
      ...fx.stepInputs({ fence: 'auto', targetMemory: '1GB' })['seed-replica'],
      ...ssh,
      'replication-tunnel-port': String(port + 1),
      'abort-target': 'standalone',
    });
    expect(out.outputs.removed).toContain(`the replication tunnel (port ${port}) stopped`);
    expect(readTunnelStatus(tunnelDir, `replication-${port}`)).toBeUndefined();
  }, 180_000);
});
