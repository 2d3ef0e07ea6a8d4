/**
 * The way back on real servers: cutover with reverse-replication makes the old source a replica of
 * the new primary; rollback refuses, changing nothing, when that replication is missing or broken;
 * finalize tears it down. (The full rollback under load is test/e2e/rehearse-rollback.test.ts.)
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { appUrl, loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { waitFor } from '../../src/engines/wait.js';
import { pgAppWrite } from '../harness/pg-app.js';

/** Every log line of every step, to check that no secret is ever printed. */
const logged: string[] = [];
const run = (step: StepName, raw: Record<string, string>) => runStep(step, (n) => raw[n], new TextLog((l) => logged.push(l)));

async function failure(step: StepName, raw: Record<string, string>): Promise<string> {
  try {
    await run(step, raw);
  } catch (e) {
    return describeError(e);
  }
  throw new Error(`${step} succeeded but should have failed`);
}

async function pgSeqs(pair: PgPair, server: 'source' | 'target'): Promise<number[]> {
  const c = new pg.Client({ connectionString: appUrl(pair, pair[server]), connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query('SELECT client_seq::int AS s FROM writes ORDER BY 1')).rows.map((r: { s: number }) => r.s);
  } finally {
    await c.end();
  }
}

/** A PostgreSQL pair migrated up to the cutover: tuned, seeded, caught up. */
async function pgReadyForCutover(sourceSettings?: Record<string, string>): Promise<{ pair: PgPair; tuning: string }> {
  const pair = await startPgPair({ sourceSettings });
  const common = { 'source-url': pair.source.url(), 'target-url': pair.target.url() };
  await loadSampleData(pair, 2);
  const tuning = (await run('tune-target', { ...common, 'target-memory': '512MB' })).outputs.tuning;
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
  return { pair, tuning };
}

function pgCutoverInputs(pair: PgPair, tuning: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    'source-url': pair.source.url(),
    'target-url': pair.target.url(),
    tuning,
    'source-stop-command': pair.source.fastStopCommand,
    'source-start-command': pair.source.startCommand,
    'reverse-replication': 'true',
    'replication-user': pair.replicationUser,
    'replication-password': pair.replicationPassword,
    ...over,
  };
}

describe('PostgreSQL: reverse replication, rollback refusals, finalize', () => {
  let pair: PgPair;
  let tuning = '';
  const common = () => ({ 'source-url': pair.source.url(), 'target-url': pair.target.url() });
  const cutoverInputs = (over: Record<string, string> = {}) => pgCutoverInputs(pair, tuning, over);
  const rollbackInputs = () => ({ ...common(), 'target-stop-command': pair.target.fastStopCommand, 'target-start-command': pair.target.startCommand });

  const appWrite = (server: 'source' | 'target', seq: number) => pgAppWrite(pair, server, seq);
  const has = async (server: 'source' | 'target', seq: number) => (await pgSeqs(pair, server)).includes(seq);

  const inRecovery = async (server: 'source' | 'target') => (await pair[server].query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0].r;

  beforeAll(async () => {
    ({ pair, tuning } = await pgReadyForCutover());
  }, 180_000);

  afterAll(async () => {
    await pair?.destroy();
  }, 60_000);

  it('refuses reverse replication with the read-only fence when pg_rewind could not rewind the source, before blocking any write', async () => {
    const m = await failure('cutover', cutoverInputs({ fence: 'read-only' }));
    expect(m).toMatch(
      /^input reverse-replication with fence: read-only needs pg_rewind .* needs wal_log_hints = on or data checksums on the source: neither is on\. .* Nothing was changed\.$/,
    );
    await appWrite('source', 1);
    expect(await inRecovery('target')).toBe(true);
  }, 60_000);

  it('rollback refuses when no reverse replication was set up, and changes nothing', async () => {
    const m = await failure('rollback', rollbackInputs());
    expect(m).toMatch(/^rollback refused: /);
    expect(m).toContain('Nothing was changed');
    await appWrite('source', 2);
    expect(await inRecovery('target')).toBe(true);
  }, 60_000);

  it('cutover makes the old source a standby of the new primary, with the password only in a passfile', async () => {
    const out = (await run('cutover', cutoverInputs())).outputs;
    expect(out['reverse-replication']).toBe('running');
    expect(out['reverse-position']).toBe(out['final-position']);
    expect(await inRecovery('target')).toBe(false);
    expect(await inRecovery('source')).toBe(true);
    await appWrite('target', 3);
    await waitFor('write 3 on the old source', 15_000, async () => ((await has('source', 3)) ? true : undefined));
    const auto = readFileSync(path.join(pair.source.dataDir, 'postgresql.auto.conf'), 'utf8');
    expect(auto).toMatch(/primary_conninfo = '.*passfile=/);
    expect(auto).not.toContain(pair.replicationPassword);
    const passfile = path.join(path.dirname(pair.source.dataDir), `.zdm-${path.basename(pair.source.dataDir)}.pgpass`);
    expect(statSync(passfile).mode & 0o777).toBe(0o600);
    const slots = await pair.target.query<{ slot_name: string; active: boolean }>('SELECT slot_name, active FROM pg_replication_slots');
    expect(slots).toEqual([{ slot_name: 'zdm_reverse', active: true }]);
  }, 90_000);

  it('rollback refuses when reverse replication is broken (old source down), and the new primary keeps its writes', async () => {
    await pair.source.stop('immediate');
    try {
      const m = await failure('rollback', rollbackInputs());
      expect(m).toMatch(/^rollback refused: cannot see reverse replication \(.*\)\. Nothing was changed; the new primary keeps its writes\./);
      // The old source is source-url to the user, although the engine reaches it as its "target".
      expect(m).toMatch(/\(source-url: cannot reach 127\.0\.0\.1:\d+: connection refused/);
      await appWrite('target', 4);
      expect(await inRecovery('target')).toBe(false);
    } finally {
      await pair.source.start();
    }
    await waitFor('write 4 on the restarted old source', 30_000, async () => ((await has('source', 4)) ? true : undefined));
  }, 90_000);

  it('rollback aborts and gives the new primary its writes back when it stopped without a shutdown checkpoint', async () => {
    // On the old source, timeline 1 ends with its own shutdown checkpoint from the cutover: the proof
    // must read the timeline it follows now, where the new primary's last record is no checkpoint.
    await appWrite('target', 10);
    const m = await failure('rollback', { ...rollbackInputs(), 'target-stop-command': pair.target.stopCommand.replace('-m fast', '-m immediate') });
    expect(m).toMatch(
      /^rollback aborted, the new primary has its writes back and the old source is still a replica: cannot prove the old source holds all of the new primary's WAL: the last record it received \(.*\) is not the new primary's shutdown checkpoint/,
    );
    expect(await inRecovery('target')).toBe(false);
    expect(await inRecovery('source')).toBe(true);
    await appWrite('target', 11);
    await waitFor('write 11 on the old source', 30_000, async () => ((await has('source', 11)) ? true : undefined));
  }, 90_000);

  it('finalize stops the old standby, removes its standby settings and drops the reverse slot', async () => {
    const out = (await run('finalize', { ...common(), 'source-stop-command': pair.source.stopCommand })).outputs;
    expect(out['reverse-replication']).toBe('removed');
    expect(await pair.source.isRunning()).toBe(false);
    expect(await pair.target.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'zdm_reverse'")).toEqual([]);
    expect(readFileSync(path.join(pair.source.dataDir, 'postgresql.auto.conf'), 'utf8')).not.toMatch(/primary_conninfo/);
    // standby.signal stays: started by mistake, the old source cannot become a second primary.
    expect(existsSync(path.join(pair.source.dataDir, 'standby.signal'))).toBe(true);
    expect(await failure('rollback', rollbackInputs())).toMatch(/^rollback refused: /);
    await appWrite('target', 5);
  }, 90_000);
});

describe('PostgreSQL: cutover with the read-only fence (pg_rewind), rollback with the read-only fence', () => {
  let pair: PgPair;
  let tuning = '';

  beforeAll(async () => {
    ({ pair, tuning } = await pgReadyForCutover({ wal_log_hints: 'on' }));
  }, 180_000);

  afterAll(async () => {
    await pair?.destroy();
  }, 60_000);

  it('every write acknowledged before and after cutover is on the old source, the primary again; finalize then refuses', async () => {
    logged.length = 0;
    await pgAppWrite(pair, 'source', 1);
    // The read-only fence leaves the old source running past the fork: cutover stops it and rewinds it.
    const cut = (await run('cutover', pgCutoverInputs(pair, tuning, { fence: 'read-only' }))).outputs;
    expect(cut.fence).toBe('read-only');
    expect(cut['reverse-replication']).toBe('running');
    expect(logged.join('\n')).toContain('rewound the old source to the new primary');
    expect(cut['reverse-from']).toBe(`127.0.0.1:${pair.target.port}`);
    for (let i = 2; i <= 30; i++) await pgAppWrite(pair, 'target', i);
    // Another run holds the switch lock on the old source (the side rollback promotes): rollback refuses, changing nothing.
    const holder = new pg.Client({ connectionString: pair.source.url(), application_name: 'zdm_lock cutover elsewhere' });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock(8021101)');
    expect(await failure('rollback', { 'source-url': pair.source.url(), 'target-url': pair.target.url(), fence: 'read-only' })).toMatch(
      /^another zdm cutover or rollback holds the switch lock on the old source: "zdm_lock cutover elsewhere" since .*Nothing was changed/,
    );
    await holder.end();
    const back = (await run('rollback', { 'source-url': pair.source.url(), 'target-url': pair.target.url(), fence: 'read-only' })).outputs;
    expect(back.fence).toBe('read-only');
    expect(back.endpoint).toBe(`127.0.0.1:${pair.source.port}`);
    expect(Number(back['write-blocked-ms'])).toBeGreaterThan(0);
    expect((await pair.source.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0].r).toBe(false);
    expect(await pgSeqs(pair, 'source')).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    await pgAppWrite(pair, 'source', 31);
    // The new primary stays up but fenced: the application's role cannot log in there.
    await expect(pgAppWrite(pair, 'target', 32)).rejects.toThrow(/not permitted to log in/);
    const m = await failure('finalize', { 'source-url': pair.source.url(), 'target-url': pair.target.url(), 'source-stop-command': pair.source.stopCommand });
    expect(m).toMatch(/^the old source is a primary, not a standby of the new primary \(a rollback ran/);
    expect(await pair.source.isRunning()).toBe(true);
    const text = logged.join('\n') + JSON.stringify([cut, back]);
    expect(text).toContain('reverse replication running');
    for (const secret of [pair.replicationPassword, pair.source.password, pair.target.password]) expect(text).not.toContain(secret);
  }, 90_000);
});

describe('MariaDB: reverse replication, rollback refusals, finalize', () => {
  let fx: MariadbFixture;
  let tuning = '';
  const inputs = () => fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
  const rollbackInputs = () => fx.wayBackInputs({ fence: 'auto' }).rollback;

  async function app(server: 'source' | 'target'): Promise<mysql.Connection> {
    return mysql.createConnection({ uri: fx.appUrl(fx[server]), connectTimeout: 3000 });
  }
  async function appWrite(server: 'source' | 'target', seq: number): Promise<void> {
    const c = await app(server);
    try {
      await c.query('INSERT INTO writes (client_seq, payload) VALUES (?, ?)', [seq, 'x']);
    } finally {
      await c.end();
    }
  }
  async function has(server: 'source' | 'target', seq: number): Promise<boolean> {
    const c = await app(server);
    try {
      const [r] = await c.query('SELECT 1 FROM writes WHERE client_seq = ?', [seq]);
      return (r as unknown[]).length === 1;
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    fx = await MariadbFixture.start();
    await fx.loadSampleData(2);
    tuning = (await run('tune-target', inputs()['tune-target'])).outputs.tuning;
    await run('seed-replica', { ...inputs()['seed-replica'], tuning });
    await run('await-lag-zero', { ...inputs()['await-lag-zero'], 'settle-seconds': '1' });
  }, 180_000);

  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it('cutover refuses reverse replication when the old source could not log in to the target, before blocking writes', async () => {
    const m = await failure('cutover', {
      ...inputs().cutover,
      ...fx.wayBackInputs({ fence: 'auto' }).cutover,
      tuning,
      'target-replication-address': '127.0.0.1:1',
    });
    expect(m).toMatch(
      /^reverse-replication: the old source would replicate from the new primary at 127\.0\.0\.1:1 as zdm_repl, and that login failed from here: .* Nothing was changed\.$/,
    );
    expect(m).not.toContain(fx.replicationPassword);
    await appWrite('source', 100);
    expect((await fx.target.query('SHOW REPLICA STATUS')).length).toBe(1);
  }, 60_000);

  it('cutover makes the old source a read-only replica of the new primary from the GTID of the fence', async () => {
    await appWrite('source', 1);
    const out = (await run('cutover', { ...inputs().cutover, ...fx.wayBackInputs({ fence: 'auto' }).cutover, tuning })).outputs;
    expect(out['reverse-replication']).toBe('running');
    expect(out['reverse-position']).toBe(out['final-position']);
    expect(out['final-position']).toMatch(/^gtid:/);
    await appWrite('target', 2);
    await waitFor('write 2 on the old source', 15_000, async () => ((await has('source', 2)) ? true : undefined));
    await expect(appWrite('source', 3)).rejects.toThrow(/read-only|READ-ONLY/);
  }, 90_000);

  it('rollback refuses when reverse replication is broken, and the new primary keeps its writes', async () => {
    await fx.source.query('STOP REPLICA');
    try {
      const m = await failure('rollback', rollbackInputs());
      expect(m).toMatch(
        /^rollback refused: the old source is not replicating from the new primary \(.*IO thread No, SQL thread No.*\)\. .*Nothing was changed; the new primary keeps its writes\.$/,
      );
      await appWrite('target', 4);
    } finally {
      await fx.source.query('START REPLICA');
    }
    await waitFor('write 4 on the old source', 15_000, async () => ((await has('source', 4)) ? true : undefined));
  }, 60_000);

  it('rollback that cannot prove the old source applied the last write gives the new primary its writes back', async () => {
    await fx.source.query('STOP REPLICA');
    await fx.source.query('CHANGE MASTER TO MASTER_DELAY = 30');
    await fx.source.query('START REPLICA');
    try {
      await appWrite('target', 6);
      const m = await failure('rollback', { ...rollbackInputs(), 'max-lag-bytes': '1GB', 'max-lag-seconds': '3600', 'apply-timeout-seconds': '1' });
      expect(m).toMatch(
        /^rollback aborted, the new primary has its writes back and the old source is still a replica: the old source did not apply the new primary's final position gtid:/,
      );
      expect(Number((await fx.target.query<{ ro: number }>('SELECT @@read_only AS ro'))[0].ro)).toBe(0);
      await appWrite('target', 7);
      expect((await fx.source.query('SHOW REPLICA STATUS')).length).toBe(1);
    } finally {
      await fx.source.query('STOP REPLICA');
      await fx.source.query('CHANGE MASTER TO MASTER_DELAY = 0');
      await fx.source.query('START REPLICA');
    }
    await waitFor('write 7 on the old source', 15_000, async () => ((await has('source', 7)) ? true : undefined));
  }, 60_000);

  it('finalize stops replication on the old source and removes its settings; rollback then refuses', async () => {
    const out = (await run('finalize', { engine: 'mariadb', 'source-url': fx.source.url(), 'target-url': fx.target.url() })).outputs;
    expect(out['reverse-replication']).toBe('removed');
    expect(await fx.source.query('SHOW REPLICA STATUS')).toEqual([]);
    expect((await fx.source.query<{ ro: number }>('SELECT @@read_only AS ro'))[0].ro).toBe(1);
    expect(await failure('rollback', rollbackInputs())).toMatch(/^rollback refused: the old source is not replicating from the new primary/);
    await appWrite('target', 5);
  }, 60_000);
});
