/**
 * PostgreSQL across majors by logical replication, on real servers (Debian's 15 to embedded 17):
 * method auto picks logical, the seed copies roles, schema and rows under a write load, the target
 * refuses application writes until cutover, fence: shutdown is refused (the default fence is read-only
 * for a logical migration), and cutover loses no acknowledged write and leaves no sequence behind.
 */
import { promises as fs } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { loadSampleData, missingWrites, pgWriteTargets, sequencesAfterCutover, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { WriteLoad } from '../../src/rehearse/writer.js';
import { startPostgres } from '../../src/sandbox/postgres.js';
import { pgAppWrite } from '../harness/pg-app.js';

let pair: PgPair;
let load: WriteLoad | undefined;
const lines: string[] = [];
/** Every write acknowledged so far, by either side. */
const acked: number[] = [];

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
}

const common = () => ({ 'source-url': pair.source.url({ database: pair.appDatabase }), 'target-url': pair.target.url({ database: pair.appDatabase }) });

/** cutover keeping the way back: reverse logical replication from the new primary. */
const reverseInputs = () => ({ ...common(), fence: 'read-only', 'reverse-replication': 'true' });

/** A statement as the admin in the application's database. */
async function adminQuery(server: 'source' | 'target', sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: pair[server].url({ database: pair.appDatabase }) });
  await c.connect();
  await c.query(sql).finally(() => c.end());
}

async function sequence(server: 'source' | 'target'): Promise<{ last_value: string; is_called: boolean }> {
  // As the admin: the fenced old source refuses the application's role.
  const c = new pg.Client({ connectionString: pair[server].url({ database: pair.appDatabase }) });
  await c.connect();
  try {
    return (await c.query('SELECT last_value::text, is_called FROM public.writes_id_seq')).rows[0];
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  // wal_level = logical on the target too: the way back (reverse-replication) publishes from it.
  pair = await startPgPair({ sourceMajor: 15, targetMajor: 17, sourceSettings: { wal_level: 'logical' }, targetSettings: { wal_level: 'logical' } });
  await pair.target.query(`CREATE DATABASE ${pair.appDatabase}`);
  await loadSampleData(pair, 4);
  load = new WriteLoad(pgWriteTargets(pair), 100);
  load.start();
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await pair?.destroy();
}, 60_000);

describe('method auto between servers of one major', () => {
  it('refuses to narrow the migration where the replication role may not stream or pg_hba admits no physical replication, listing the databases left behind; physical where it may; logical when asked', async () => {
    const t15 = await startPostgres({ name: 'same-major-target', password: pair.source.password });
    try {
      const said = async (user: string, password: string, method = 'auto') => {
        lines.length = 0;
        const raw = {
          ...common(),
          'target-url': t15.url(),
          'replication-user': user,
          'replication-password': password,
          'target-data-dir': t15.dataDir,
          method,
        };
        let error = '';
        await run('preflight', raw).catch((e) => (error = describeError(e)));
        return `${error}\n${lines.join('\n')}`;
      };
      expect(await said(pair.appUser, pair.appPassword)).toMatch(
        /method: auto refuses to narrow the migration: the source cannot serve a physical copy \(role "app_writer" has no REPLICATION attribute .*a logical migration moves only database "appdb" .*These databases would stay behind: postgres\. To move the whole cluster, ALTER ROLE app_writer WITH LOGIN REPLICATION on the source\. To move only "appdb", set method: logical/,
      );
      expect(await said(pair.appUser, pair.appPassword, 'logical')).toMatch(
        /method: logical \(method: logical was given; moves database "appdb" only: postgres stay behind \(migrate each the same way, one run per database\)\)/,
      );
      expect(await said(pair.replicationUser, pair.replicationPassword)).toMatch(/method: physical \(auto: same major \(15\)/);
      // A source that admits database connections only, as managed services do: no `replication` line in pg_hba.conf.
      const hba = `${pair.source.dataDir}/pg_hba.conf`;
      const original = await fs.readFile(hba, 'utf8');
      await fs.writeFile(hba, original.replace(/^host replication .*$/gm, ''));
      await pair.source.query('SELECT pg_reload_conf()');
      try {
        expect(await said(pair.replicationUser, pair.replicationPassword)).toMatch(
          /method: auto refuses to narrow the migration: the source cannot serve a physical copy \(no physical replication line in the source's pg_hba.conf for "zdm_repl" .*These databases would stay behind: postgres\. To move the whole cluster, add a line such as `host replication zdm_repl <target-address>\/32 scram-sha-256` to the source's pg_hba.conf/,
        );
      } finally {
        await fs.writeFile(hba, original);
        await pair.source.query('SELECT pg_reload_conf()');
      }
    } finally {
      await t15.destroy();
    }
  }, 120_000);
});

describe('PostgreSQL 15 to 17 by logical replication', () => {
  it('seeds by auto-chosen logical replication under writes; the target refuses the application until cutover', async () => {
    // target-data-dir given as with a physical seed: the logical one ignores it (postgres-logical-nosuper.test.ts seeds without it).
    const seedInputs = {
      ...common(),
      'replication-user': pair.replicationUser,
      'replication-password': pair.replicationPassword,
      'target-data-dir': pair.target.dataDir,
    };
    // First the target cannot reach the source: the subscription fails after the schema is loaded, and says why.
    let failed = '';
    await run('seed-replica', { ...seedInputs, 'source-replication-address': '127.0.0.1:1' }).catch((e) => (failed = describeError(e)));
    expect(failed).toMatch(/^creating subscription zdm_replica on the target failed: could not connect to the publisher: .*127\.0\.0\.1:1 as "postgres"/);
    expect(failed + lines.join('\n')).not.toContain(pair.source.password);
    // The re-run goes on from the loaded schema.
    const seed = await run('seed-replica', seedInputs);
    expect(lines.join('\n')).toMatch(/holds the source's 3 table\(s\), empty: the schema an earlier seed loaded; going on from there/);
    expect(lines.join('\n')).toMatch(
      /method: logical \(auto: the majors differ \(source 15, target 17\); a physical copy needs the same major; moves database "appdb" only: postgres stay behind/,
    );
    expect(seed.outputs['seed-position']).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    const subs = await pair.target.query<{ subname: string }>('SELECT subname FROM pg_subscription');
    expect(subs.map((r) => r.subname)).toEqual(['zdm_replica']);
    // The role came with the copy (pg_dumpall --roles-only), but may not write yet.
    let refused = '';
    await pgAppWrite(pair, 'target', -1).catch((e) => (refused = describeError(e)));
    expect(refused).toMatch(/read-only transaction/);
    await run('await-lag-zero', { ...common(), 'settle-seconds': '1', 'timeout-seconds': '120' });
    // Online verify across the majors while the writes go on: a chunk that differs is rechecked once
    // the subscription has confirmed the source's position (the slot), and every row then agrees.
    const online = await run('verify', { ...common(), 'verify-mode': 'online', 'chunk-rows': '2000' });
    expect(online.outputs.ok).toBe('true');
    expect(JSON.parse(online.outputs.report).tables.length).toBeGreaterThan(0);
  }, 240_000);

  it('strict verify waits for the subscription to apply the source position before it compares once', async () => {
    // Strict compares each row once, so the source must be quiet: the writers pause meanwhile.
    await load!.pause();
    try {
      // The target falls behind: its apply worker stops, and the source takes a write it does not have.
      await adminQuery('target', 'ALTER SUBSCRIPTION zdm_replica DISABLE');
      await pgAppWrite(pair, 'source', -11);
      lines.length = 0;
      const verifying = run('verify', { ...common(), 'verify-mode': 'strict', 'chunk-rows': '2000' });
      verifying.catch(() => undefined); // awaited below, after the subscription is enabled again
      await new Promise((r) => setTimeout(r, 1500));
      await adminQuery('target', 'ALTER SUBSCRIPTION zdm_replica ENABLE');
      // A logical replica is a primary (no replay position): the wait is on the source's slot.
      const verify = await verifying;
      expect(verify.outputs.ok).toBe('true');
      expect(lines.join('\n')).toMatch(/the target replicates from the source/);
      expect(lines.join('\n')).toMatch(/the target has applied the source's position [0-9A-F]+\/[0-9A-F]+/);
      expect(await missingWrites(pair, pair.target, [-11])).toEqual([]);
    } finally {
      await adminQuery('target', 'ALTER SUBSCRIPTION zdm_replica ENABLE').catch(() => undefined);
      load!.resume();
    }
  }, 120_000);

  it('refuses fence: shutdown for a logical replica, and changes nothing', async () => {
    let message = '';
    await run('cutover', { ...common(), fence: 'shutdown', 'source-stop-command': 'false' }).catch((e) => (message = describeError(e)));
    expect(message).toMatch(/fence: shutdown cannot end a logical migration .* Set fence: read-only, or leave fence at auto/);
    await pgAppWrite(pair, 'source', -2);
  }, 120_000);

  it('refuses reverse-replication when the old source could not log in to the new primary, before anything is changed', async () => {
    let message = '';
    await run('cutover', { ...reverseInputs(), 'target-replication-address': '127.0.0.1:1' }).catch((e) => (message = describeError(e)));
    expect(message).toMatch(
      /reverse-replication after a logical migration: the old source would subscribe to the new primary at 127\.0\.0\.1:1 .* login failed from here: .* Nothing was changed\./,
    );
    expect(message).not.toContain(pair.target.password);
    await pgAppWrite(pair, 'source', -3);
    expect((await pair.target.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'zdm_reverse'")).length).toBe(0);
    // A table only the target has would make the old source's subscription fail after the switch: named before the fence.
    await adminQuery('target', 'CREATE TABLE public.only_on_target (id int PRIMARY KEY)');
    message = '';
    await run('cutover', reverseInputs()).catch((e) => (message = describeError(e)));
    await adminQuery('target', 'DROP TABLE public.only_on_target');
    expect(message).toMatch(/the old source lacks public\.only_on_target: create them there .* Nothing was changed\./);
    message = '';
    await run('cutover', { ...reverseInputs(), 'reverse-replication-slot': 'zdm_replica' }).catch((e) => (message = describeError(e)));
    expect(message).toMatch(/reverse-replication-slot.*must differ from replication-slot \(zdm_replica\)/);
    await pgAppWrite(pair, 'source', -8);
  }, 120_000);

  it('cuts over with the default fence (auto: read-only for a logical migration, no source-stop-command) and reverse-replication: no acknowledged write lost, sequences copied, subscription and slot gone, the old source subscribed', async () => {
    lines.length = 0;
    const out = await run('cutover', { ...common(), 'reverse-replication': 'true' });
    expect(out.outputs.fence).toBe('read-only');
    expect(lines.join('\n')).toMatch(/fence: auto is read-only for a logical migration \(the target replicates through subscription zdm_replica\)/);
    expect(out.outputs['writes-after-fence']).toBe('0');
    expect(out.outputs['reverse-replication']).toBe('running');
    // The reverse slot was made inside the fence, before the target took a write: its start is at or before the new primary's first write.
    expect(lines.join('\n')).toMatch(
      /reverse start point on the target: publication and logical slot zdm_reverse at [0-9A-F]+\/[0-9A-F]+, before it takes writes/,
    );
    // The physical clean-up (standby settings by ALTER SYSTEM, a passfile) does not run for a target that never was a standby.
    expect(lines.join('\n')).toMatch(/dropped logical replication slot zdm_replica on the old source/);
    expect(lines.join('\n')).not.toMatch(/standby connection settings/);
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load!.stop();
    load = undefined;
    expect(stats.acknowledgedBy.target).toBeGreaterThan(0);
    expect(await missingWrites(pair, pair.target, [...stats.ackedSeqs, -2, -3])).toEqual([]);
    // The source's last identity value was carried over inside the fence, then the new primary went on from there.
    const src = await sequence('source');
    const tgt = await sequence('target');
    expect(BigInt(tgt.last_value)).toBeGreaterThanOrEqual(BigInt(src.last_value));
    expect(await sequencesAfterCutover(pair, pair.target)).toEqual({ inserted: 20, collisions: 0 });
    expect((await pair.target.query('SELECT 1 FROM pg_subscription')).length).toBe(0);
    expect((await pair.source.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'zdm_replica'")).length).toBe(0);
    acked.push(...stats.ackedSeqs, -2, -3, -8);
    // The old source subscribes to the new primary and stays fenced for the application.
    expect((await pair.source.query('SELECT subname FROM pg_subscription')).map((r) => r.subname)).toEqual(['zdm_reverse']);
    let refused = '';
    await pgAppWrite(pair, 'source', -4).catch((e) => (refused = describeError(e)));
    expect(refused).toMatch(/not permitted to log in|read-only/);
  }, 180_000);

  it('rolls back by reverse logical replication under writes: every acknowledged write on the old source, sequences go on, the window reported', async () => {
    // Writes on the new primary, then rollback with the load running: it follows the primary back.
    // A second load: its sequence numbers are offset past the first one's (client_seq is the primary key).
    const offset = 10_000_000;
    const targets = pgWriteTargets(pair).map((t) => ({
      ...t,
      connect: async () => {
        const c = await t.connect();
        return { write: (seq: number) => c.write(seq + offset), close: () => c.close() };
      },
    }));
    load = new WriteLoad(targets, 100);
    load.start();
    await pgAppWrite(pair, 'target', -5);
    await new Promise((r) => setTimeout(r, 1500));
    // DDL on the new primary since cutover: logical replication does not carry it, so rollback refuses, naming it, and gives the new primary its writes back.
    await adminQuery('target', 'CREATE TABLE public.added_after_cutover (id int PRIMARY KEY)');
    let refused = '';
    await run('rollback', { ...common(), fence: 'read-only' }).catch((e) => (refused = describeError(e)));
    expect(refused).toMatch(/rollback aborted, the new primary has its writes back .*table public\.added_after_cutover added/s);
    await pgAppWrite(pair, 'target', -7);
    await adminQuery('target', 'DROP TABLE public.added_after_cutover');
    lines.length = 0;
    const out = await run('rollback', { ...common(), fence: 'read-only' });
    expect(Number(out.outputs['write-blocked-ms'])).toBeGreaterThan(0);
    expect(out.summary).toMatch(/Write-blocked window: \d+ ms/);
    expect(out.outputs['writes-after-fence']).toBe('0');
    expect(lines.join('\n')).toMatch(/sequence value\(s\) copied to the old source inside the fence/);
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load.stop();
    load = undefined;
    expect(stats.acknowledgedBy.target).toBeGreaterThan(0);
    expect(stats.acknowledgedBy.source).toBeGreaterThan(0);
    acked.push(...stats.ackedSeqs.map((s) => s + offset), -5, -7);
    expect(await missingWrites(pair, pair.source, acked)).toEqual([]);
    // The identity sequence went on from the new primary's: no value it handed out is handed out again.
    expect(await sequencesAfterCutover(pair, pair.source)).toEqual({ inserted: 20, collisions: 0 });
    expect((await pair.source.query('SELECT 1 FROM pg_subscription')).length).toBe(0);
    expect((await pair.target.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'zdm_reverse'")).length).toBe(0);
    expect((await pair.target.query("SELECT 1 FROM pg_publication WHERE pubname = 'zdm_reverse'")).length).toBe(0);
    // The migration target stays fenced: the application cannot write there.
    refused = '';
    await pgAppWrite(pair, 'target', -6).catch((e) => (refused = describeError(e)));
    expect(refused).toMatch(/not permitted to log in|read-only/);
  }, 240_000);
});

describe('finalize after a logical cutover with reverse-replication', () => {
  it('drops the reverse subscription on the old source, and the slot and publication on the new primary', async () => {
    const p = await startPgPair({ sourceMajor: 15, targetMajor: 17, sourceSettings: { wal_level: 'logical' }, targetSettings: { wal_level: 'logical' } });
    try {
      await p.target.query(`CREATE DATABASE ${p.appDatabase}`);
      await loadSampleData(p, 1);
      const urls = { 'source-url': p.source.url({ database: p.appDatabase }), 'target-url': p.target.url({ database: p.appDatabase }) };
      await run('seed-replica', {
        ...urls,
        'replication-user': p.replicationUser,
        'replication-password': p.replicationPassword,
        'target-data-dir': p.target.dataDir,
      });
      await run('await-lag-zero', { ...urls, 'settle-seconds': '1', 'timeout-seconds': '120' });
      const out = await run('cutover', { ...urls, fence: 'read-only', 'reverse-replication': 'true' });
      expect(out.outputs['reverse-replication']).toBe('running');
      expect((await p.source.query('SELECT 1 FROM pg_subscription')).length).toBe(1);
      lines.length = 0;
      const fin = await run('finalize', urls);
      expect(fin.outputs['reverse-replication']).toBe('removed');
      expect(lines.join('\n')).toMatch(/dropped subscription zdm_reverse on the old source/);
      expect((await p.source.query('SELECT 1 FROM pg_subscription')).length).toBe(0);
      expect((await p.target.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'zdm_reverse'")).length).toBe(0);
      expect((await p.target.query("SELECT 1 FROM pg_publication WHERE pubname = 'zdm_reverse'")).length).toBe(0);
    } finally {
      await p.destroy();
    }
  }, 240_000);
});
