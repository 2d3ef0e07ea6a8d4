/**
 * `fence: accounts` on real MariaDB servers, with the source reached as an admin without SUPER
 * (modelled on a managed service's master user): an account that cannot lock users is refused
 * before anything changes; a session the kill does not end aborts the cutover and gives the
 * writes back; a normal cutover under writes loses nothing and leaves the application able to log
 * in on the new primary only.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { FLAVORS } from '../../src/engines/mysql/flavor.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import type { StepFailed, StepResult } from '../../src/steps/step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import type { MariadbSandbox } from '../../src/sandbox/mariadb.js';

const run = (step: StepName, raw: Record<string, string>, lines: string[] = []) => runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));

async function appConn(fx: MariadbFixture, server: MariadbSandbox): Promise<mysql.Connection> {
  const c = await mysql.createConnection({ uri: fx.appUrl(server), connectTimeout: 3000 });
  c.on('error', () => undefined);
  return c;
}

/** Whether the application account logs in and writes on `server` (the error text when not). */
async function appWrites(fx: MariadbFixture, server: MariadbSandbox, seq: number): Promise<true | string> {
  try {
    const c = await appConn(fx, server);
    try {
      await c.query('INSERT INTO writes (client_seq, payload) VALUES (?, ?)', [seq, 'probe']);
      return true;
    } finally {
      await c.end().catch(() => undefined);
    }
  } catch (e) {
    return (e as Error).message;
  }
}

/** The accounts locked on `server`, but mariadb.sys (locked by the server itself). */
async function lockedAccounts(server: MariadbSandbox): Promise<string[]> {
  const r = await server.query<{ user: string; host: string; locked: number }>(FLAVORS.mariadb.accountsQuery);
  return r.filter((a) => Number(a.locked) === 1 && a.user !== 'mariadb.sys').map((a) => `${a.user}@${a.host}`);
}

async function isReplica(server: MariadbSandbox): Promise<boolean> {
  return (await server.query('SHOW REPLICA STATUS')).length === 1;
}

describe('MariaDB: fence: accounts with an admin without SUPER', () => {
  let fx: MariadbFixture;
  let cutover: Record<string, string>;
  let preflight: Record<string, string>;
  beforeAll(async () => {
    fx = await MariadbFixture.start();
    const masterUrl = await fx.noSuperAdmin();
    await fx.loadSampleData(1);
    const all = fx.stepInputs({ fence: 'accounts', targetMemory: '1GB' });
    const tune = await run('tune-target', all['tune-target']);
    await run('seed-replica', { ...all['seed-replica'], tuning: tune.outputs.tuning });
    await run('await-lag-zero', { ...all['await-lag-zero'], 'settle-seconds': '1' });
    cutover = { ...all.cutover, 'source-url': masterUrl, tuning: tune.outputs.tuning };
    preflight = { ...all.preflight, 'source-url': masterUrl, fence: 'accounts' };
  }, 180_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it('preflight lists what the fence will lock, and what keeps it from working, as a row of its own', async () => {
    /** The row of the accounts fence (preflight fails after the seed on other rows: the target is a replica already). */
    const row = async (raw: Record<string, string>) => {
      const r = await run('preflight', raw).catch((e: StepFailed) => e.result as StepResult<'preflight'>);
      return (JSON.parse(r.outputs.checks) as { check: string; status: string; detail: string }[]).find((x) => x.check === 'fence: accounts');
    };
    expect(await row(preflight)).toEqual({
      check: 'fence: accounts',
      status: 'ok',
      detail: "cutover locks 'app_writer'@'%' and ends their sessions with KILL CONNECTION {id}; 'zdm_master'@'%' (source-url) stays unlocked",
    });
    const weak = await fx.noSuperAdmin({ without: ['CONNECTION ADMIN'] });
    const failed = await row({ ...preflight, 'source-url': weak });
    expect(failed?.status).toBe('fail');
    expect(failed?.detail).toMatch(
      /^cutover would refuse: the account in source-url lacks CONNECTION ADMIN, which KILL needs to end other accounts' sessions: GRANT CONNECTION ADMIN ON \*\.\* TO 'zdm_master_\w+'@'%', or set kill-command to your service's procedure/,
    );
    expect((await row({ ...preflight, 'source-url': weak, 'kill-command': 'CALL mysql.rds_kill({id})' }))?.status).toBe('ok');
  }, 60_000);

  it('an admin that cannot lock users (no CREATE USER) is refused before anything changes, naming the fix', async () => {
    const weak = await fx.noSuperAdmin({ without: ['CREATE USER'] });
    let err: unknown;
    await run('cutover', { ...cutover, 'source-url': weak }).catch((e) => (err = e));
    expect(describeError(err)).toMatch(
      /^fence: accounts cannot fence the source: the account in source-url \('zdm_master_\w+'@'%'\) lacks CREATE USER, which ALTER USER … ACCOUNT LOCK needs: GRANT CREATE USER ON \*\.\* TO 'zdm_master_\w+'@'%'\. Nothing was changed\.$/,
    );
    expect(await appWrites(fx, fx.source, 10)).toBe(true);
    expect(await isReplica(fx.target)).toBe(true);
  }, 60_000);

  it('an application account holding SUPER is named, with its fix, before anything changes', async () => {
    await fx.source.query("CREATE USER 'ops'@'%' IDENTIFIED BY 'x'");
    await fx.source.query("GRANT SUPER ON *.* TO 'ops'@'%'");
    try {
      let err: unknown;
      await run('cutover', cutover).catch((e) => (err = e));
      expect(describeError(err)).toMatch(
        /'ops'@'%' holds SUPER: a session of it could undo the fence\. REVOKE SUPER ON \*\.\* FROM 'ops'@'%', or leave it out of application-accounts .*Nothing was changed\.$/,
      );
      expect(await appWrites(fx, fx.source, 11)).toBe(true);
    } finally {
      await fx.source.query("DROP USER 'ops'@'%'");
    }
  }, 60_000);

  it('a session of an account the fence leaves open, that can write, is refused before anything changes', async () => {
    const admin = await mysql.createConnection(fx.source.url());
    try {
      let err: unknown;
      await run('cutover', cutover).catch((e) => (err = e));
      expect(describeError(err)).toMatch(
        /^sessions of accounts that can write and that fence: accounts leaves open are connected to the source: root \(1 session\)\. Disconnect them, add their accounts to application-accounts, or set allow-privileged-writers: true .*Writes were not blocked\.$/,
      );
      expect(await lockedAccounts(fx.source)).toEqual([]);
      expect(await appWrites(fx, fx.source, 14)).toBe(true);
    } finally {
      await admin.end();
    }
  }, 60_000);

  it('a session the kill does not end aborts the cutover: the error names it, the accounts are unlocked, the source takes writes', async () => {
    const held = await appConn(fx, fx.source);
    const [[me]] = (await held.query('SELECT CONNECTION_ID() AS id')) as unknown as [{ id: number }[]];
    try {
      let err: unknown;
      const lines: string[] = [];
      await run('cutover', { ...cutover, 'kill-command': 'DO {id}' }, lines).catch((e) => (err = e));
      expect(describeError(err)).toMatch(
        new RegExp(
          `^cutover aborted, the source has its writes back and the target is still a replica: 1 session\\(s\\) of application accounts survived the fence on the source: id ${me.id} \\(app_writer@127\\.0\\.0\\.1:\\d+, Sleep\\)\\. kill-command \\(DO \\{id\\}\\) did not end them`,
        ),
      );
      // The session that survived still writes, and the account logs in again.
      await held.query('INSERT INTO writes (client_seq, payload) VALUES (12, ?)', ['held']);
      expect(await appWrites(fx, fx.source, 13)).toBe(true);
      expect(await isReplica(fx.target)).toBe(true);
      expect(await lockedAccounts(fx.source)).toEqual([]);
    } finally {
      await held.end().catch(() => undefined);
    }
  }, 60_000);

  it('a cutover under writes, ending sessions with a kill procedure (as on RDS) instead of CONNECTION ADMIN, loses no acknowledged write; the application logs in on the new primary only', async () => {
    // What a managed service gives instead of CONNECTION ADMIN: a procedure of its own that kills for the master user.
    await fx.source.query('CREATE PROCEDURE mysql.rds_kill(IN thread BIGINT) SQL SECURITY DEFINER KILL CONNECTION thread');
    const master = await fx.noSuperAdmin({ without: ['CONNECTION ADMIN'] });
    await fx.source.query(`GRANT EXECUTE ON PROCEDURE mysql.rds_kill TO '${new URL(master).username}'@'%'`);
    const inputs = { ...cutover, 'source-url': master, 'kill-command': 'CALL mysql.rds_kill({id})' };
    const acked: number[] = [];
    let stop = false;
    let seq = 1000;
    const writer = (async () => {
      let c: mysql.Connection | undefined;
      while (!stop) {
        try {
          c ??= await appConn(fx, fx.source);
          const n = ++seq;
          await c.query('INSERT INTO writes (client_seq, payload) VALUES (?, ?)', [n, 'load']);
          acked.push(n);
        } catch {
          await c?.end().catch(() => undefined);
          c = undefined;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await c?.end().catch(() => undefined);
    })();
    let r: Awaited<ReturnType<typeof run>>;
    try {
      await new Promise((res) => setTimeout(res, 500));
      r = await run('cutover', inputs);
    } finally {
      stop = true;
      await writer;
    }
    expect(r.outputs.fence).toBe('accounts');
    expect(r.outputs['writes-after-fence']).toBe('0');
    expect(acked.length).toBeGreaterThan(10);
    const [rows] = (await (await appConn(fx, fx.target)).query('SELECT client_seq FROM writes')) as unknown as [{ client_seq: string }[]];
    const present = new Set(rows.map((x) => Number(x.client_seq)));
    expect(acked.filter((n) => !present.has(n))).toEqual([]);
    expect(await appWrites(fx, fx.target, 99_999)).toBe(true);
    expect(await appWrites(fx, fx.source, 99_998)).toMatch(/locked/i);
    expect(await lockedAccounts(fx.source)).toEqual(['app_writer@%']);
    expect(await lockedAccounts(fx.target)).toEqual([]);
    expect(r.summary).toMatch(/application accounts stay locked on the old source/);
    // A re-run (the runner lost the result) finds the promotion done: the fence's mark on the old source tells it.
    expect((await run('cutover', inputs)).outputs.fence).toBe('already-done');
  }, 120_000);
});

describe('MariaDB: fence: accounts with reverse replication and rollback', () => {
  let fx: MariadbFixture;
  let all: ReturnType<MariadbFixture['stepInputs']>;
  let tuning = '';
  const wait = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 15_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const has = async (server: MariadbSandbox, seq: number) => (await server.query('SELECT 1 FROM appdb.writes WHERE client_seq = ?', [seq])).length === 1;
  beforeAll(async () => {
    fx = await MariadbFixture.start();
    await fx.loadSampleData(1);
    all = fx.stepInputs({ fence: 'accounts', targetMemory: '1GB' });
    tuning = (await run('tune-target', all['tune-target'])).outputs.tuning;
    await run('seed-replica', { ...all['seed-replica'], tuning });
    await run('await-lag-zero', { ...all['await-lag-zero'], 'settle-seconds': '1' });
  }, 180_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it('an admin without SUPER is refused reverse replication before anything changes, naming what it lacks', async () => {
    const master = await fx.noSuperAdmin();
    let err: unknown;
    await run('cutover', { ...all.cutover, ...fx.wayBackInputs({ fence: 'accounts' }).cutover, 'source-url': master, tuning }).catch((e) => (err = e));
    expect(describeError(err)).toMatch(
      /^fence: accounts cannot fence the source: reverse-replication makes the old source a read-only replica after promotion, which needs REPLICATION SLAVE ADMIN and READ_ONLY ADMIN \(or SUPER\): GRANT REPLICATION SLAVE ADMIN, READ_ONLY ADMIN ON \*\.\* TO 'zdm_master'@'%', or cut over without reverse-replication .*Nothing was changed\.$/,
    );
    expect(await appWrites(fx, fx.source, 1)).toBe(true);
  }, 60_000);

  it('the unlock at promotion stays on the new primary: the old source keeps the accounts locked while it replicates; rollback unlocks them there', async () => {
    const r = await run('cutover', { ...all.cutover, ...fx.wayBackInputs({ fence: 'accounts' }).cutover, tuning });
    expect(r.outputs.fence).toBe('accounts');
    expect(r.outputs['reverse-replication']).toBe('running');
    expect(await appWrites(fx, fx.target, 2)).toBe(true);
    await wait('write 2 on the old source', () => has(fx.source, 2));
    // Replication brought the new primary's write, not an unlock: the application stays out of the old source.
    expect(await lockedAccounts(fx.source)).toEqual(['app_writer@%']);
    expect(await appWrites(fx, fx.source, 3)).toMatch(/locked/i);

    const back = await run('rollback', fx.wayBackInputs({ fence: 'accounts' }).rollback);
    expect(back.outputs.fence).toBe('accounts');
    expect(await appWrites(fx, fx.source, 4)).toBe(true);
    expect(await has(fx.source, 2)).toBe(true);
    expect(await lockedAccounts(fx.source)).toEqual([]);
    expect(await lockedAccounts(fx.target)).toEqual(['app_writer@%']);
    expect(await appWrites(fx, fx.target, 5)).toMatch(/locked|read-only|READ-ONLY/i);
  }, 120_000);
});
