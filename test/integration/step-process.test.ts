/**
 * Steps run as their own process, as the runner and a terminal run them: a step ends by itself
 * after its error (issue 13 item 1), and the commands it runs do not see its inputs (item 14).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useMariadb, usePostgres } from '../harness/index.js';
import { actionEnv, runStepProcess } from '../harness/step-process.js';
import { connectMy, rows } from '../../src/engines/mysql/connect.js';
import { lostServerOf } from '../../src/engines/server-lost.js';

const pgSource = usePostgres({ name: 'ends-src' });
const pgTarget = usePostgres({ name: 'ends-tgt' });
const my = useMariadb({ name: 'ends-my' });
const dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-step-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a step ends after its error (issue 13 item 1)', () => {
  it('PostgreSQL: a heartbeat table in a schema that does not exist: exit 1 at once, naming heartbeat-table', async () => {
    const r = await runStepProcess(['await-lag-zero'], {
      ZDM_SOURCE_URL: pgSource().url(),
      ZDM_TARGET_URL: pgTarget().url(),
      ZDM_HEARTBEAT_TABLE: 'nosuch.zdm_heartbeat',
      ZDM_TIMEOUT_SECONDS: '600',
    });
    expect(r.code, `the step did not end within 60 s:\n${r.output}`).toBe(1);
    expect(r.output).toMatch(
      /zdm await-lag-zero: error: input heartbeat-table: zdm could not create or write the heartbeat table nosuch\.zdm_heartbeat on the source: schema "nosuch" does not exist\. Name a table in a schema that exists/,
    );
    expect(r.output).not.toContain(pgSource().password);
    // Nothing of it stays connected to the source.
    const left = await pgSource().query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'zdm%'");
    expect(left).toEqual([{ n: 0 }]);
  }, 90_000);

  it('MariaDB, run as the action: a heartbeat table the source cannot write: exit 1 at once, naming heartbeat-table', async () => {
    await my().query('CREATE DATABASE IF NOT EXISTS hbdb');
    await my().query('CREATE TABLE IF NOT EXISTS hbdb.hb (x INT)');
    const r = await runStepProcess(
      [],
      actionEnv('await-lag-zero', {
        'source-url': my().url(),
        'target-url': my().url(),
        'heartbeat-table': 'hbdb.hb',
        'timeout-seconds': '600',
      }),
    );
    expect(r.code, `the step did not end within 60 s:\n${r.output}`).toBe(1);
    expect(r.output).toMatch(/::error::input heartbeat-table: zdm could not create or write the heartbeat table hbdb\.hb on the source: Unknown column/);
  }, 90_000);

  it('MariaDB: a three-part heartbeat-table is refused before any server is touched', async () => {
    const r = await runStepProcess(['await-lag-zero'], {
      ZDM_SOURCE_URL: my().url(),
      ZDM_TARGET_URL: my().url(),
      ZDM_HEARTBEAT_TABLE: 'zdm.x.heartbeat',
    });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/error: input heartbeat-table must be database\.table, e\.g\. zdm\.heartbeat/);
  }, 90_000);
});

describe('child processes do not inherit the step inputs (issue 13 item 14)', () => {
  const secret = 'repl-secret-5e1f';

  function expectClean(file: string) {
    const env = readFileSync(file, 'utf8');
    expect(env).toMatch(/^ZDM_ENDPOINT=127\.0\.0\.1:\d+$/m);
    expect(env).toMatch(/^PATH=/m);
    expect(env).not.toMatch(/^INPUT_/im);
    expect(env).not.toMatch(/^ZDM_(TARGET_URL|SOURCE_URL|REPLICATION_PASSWORD|BACKUP_CHECK_COMMAND)=/m);
    expect(env).not.toMatch(/^ACTIONS_RUNTIME_TOKEN=/m);
    expect(env).not.toContain(pgTarget().password);
    expect(env).not.toContain(secret);
  }

  it('run as the action: a command input that prints its environment shows no INPUT_ variable and no secret', async () => {
    const file = path.join(dir, 'env-action.txt');
    const r = await runStepProcess([], {
      ...actionEnv('post-cutover', {
        'target-url': pgTarget().url(),
        'source-url': pgSource().url(),
        'replication-password': secret,
        'allow-relaxed-durability': 'true',
        'backup-check-command': `env > '${file}'`,
      }),
      ACTIONS_RUNTIME_TOKEN: secret,
    });
    expect(r.output).toMatch(/backup-check-command passed/);
    expectClean(file);
  }, 90_000);

  it('run from the command line: no ZDM_ input variable and no secret', async () => {
    const file = path.join(dir, 'env-cli.txt');
    const r = await runStepProcess(['post-cutover'], {
      ZDM_TARGET_URL: pgTarget().url(),
      ZDM_REPLICATION_PASSWORD: secret,
      ZDM_ALLOW_RELAXED_DURABILITY: 'true',
      ZDM_BACKUP_CHECK_COMMAND: `env > '${file}'`,
    });
    expect(r.output).toMatch(/backup-check-command passed/);
    expectClean(file);
  }, 90_000);
});

describe('a lost MariaDB connection is marked with its server (issue 13 item 7)', () => {
  it('a query on a connection the server killed names target-url and host:port', async () => {
    const c = await connectMy(new URL(my().url()), { input: 'target-url' });
    try {
      const [{ id }] = await rows<{ id: number }>(c, 'SELECT CONNECTION_ID() AS id');
      await my().query(`KILL ${Number(id)}`);
      const e = await rows(c, 'SELECT 1').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(Error);
      expect(lostServerOf(e)?.server).toEqual({ input: 'target-url', at: `127.0.0.1:${my().port}` });
    } finally {
      c.destroy();
    }
  });

  it('a statement error is not taken for a lost connection', async () => {
    const c = await connectMy(new URL(my().url()), { input: 'source-url' });
    try {
      const e = await rows(c, 'SELECT * FROM no_such_db.t').catch((err: unknown) => err);
      expect(lostServerOf(e)).toBeUndefined();
    } finally {
      await c.end();
    }
  });
});
