/** post-cutover on real servers: a healthy new primary passes with its checklist; each gap fails with what to do. */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { StepFailed } from '../../src/steps/step.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { startMariadb, type MariadbSandbox } from '../../src/sandbox/mariadb.js';
import { startPostgres, type PostgresSandbox } from '../../src/sandbox/postgres.js';
import { sleep } from '../../src/sandbox/util.js';
import type { StepResult } from '../../src/steps/index.js';

let pg: PostgresSandbox;
let maria: MariadbSandbox;
let backups: string;

beforeAll(async () => {
  // A new primary as it should be after cutover: full durability (test servers otherwise run with fsync=off).
  [pg, maria, backups] = await Promise.all([
    startPostgres({ name: 'newprimary', settings: { fsync: 'on' } }),
    startMariadb({ name: 'newprimary' }),
    fs.mkdtemp(path.join(os.tmpdir(), 'zdm-backups-')),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([pg?.destroy(), maria?.destroy(), backups && fs.rm(backups, { recursive: true, force: true })]);
}, 60_000);

type Row = { check: string; status: string; detail: string };

function run(raw: Record<string, string>): Promise<StepResult> {
  return runStep('post-cutover', (n) => raw[n], new TextLog(() => undefined));
}

async function failure(raw: Record<string, string>): Promise<StepFailed> {
  try {
    await run(raw);
  } catch (e) {
    if (e instanceof StepFailed) return e;
    throw new Error(`post-cutover failed without a checklist: ${describeError(e)}`, { cause: e });
  }
  throw new Error('post-cutover passed but should have failed');
}

const rows = (r: StepResult) => JSON.parse(r.outputs.checks) as Row[];
/** Rows not ok, less a latency row that warns: it measures the machine, and warns on a loaded one (issue 13 item 16). */
const notOk = (r: StepResult) => rows(r).filter((c) => c.status !== 'ok' && !(c.check.startsWith('latency to ') && c.status === 'warn'));

/** Runs a replication client (pg_receivewal, mariadb-binlog) until the test ends. */
async function withClient(argv: string[], env: Record<string, string>, fn: () => Promise<void>): Promise<void> {
  const child: ChildProcess = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: 'ignore' });
  try {
    await fn();
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
  }
}

describe('post-cutover (PostgreSQL)', () => {
  const base = () => ({ 'target-url': pg.url() });

  it('passes on a healthy new primary, with the checklist in the summary', async () => {
    const r = await run({ ...base(), 'app-pool-size': '50', 'backup-check-command': 'echo "backup of $ZDM_ENDPOINT ok"' });
    expect(notOk(r)).toEqual([]);
    expect(rows(r).map((c) => c.check)).toEqual([
      'connection',
      'latency to the new primary',
      'connections for the application',
      'accepts writes',
      'durability',
      'backups',
    ]);
    expect(r.summary).toContain('### zdm post-cutover checklist');
    expect(r.summary).toContain(`| backups | ✅ ok | backup-check-command passed: backup of 127.0.0.1:${pg.port} ok |`);
    expect(r.summary).toContain('| durability | ✅ ok | fsync=on, synchronous_commit=on, full_page_writes=on |');
    expect(Number(r.outputs['latency-p50-ms'])).toBeGreaterThan(0);
    expect(r.summary + r.outputs.checks).not.toContain(pg.password);
  });

  it('relaxed durability fails, or only warns with allow-relaxed-durability', async () => {
    await pg.query('ALTER SYSTEM SET synchronous_commit = off');
    await pg.query('SELECT pg_reload_conf()');
    try {
      await sleep(200);
      const e = await failure(base());
      expect(e.message).toContain(
        '- durability: fsync=on, synchronous_commit=off, full_page_writes=on: a crash of the new primary can lose acknowledged writes. Set synchronous_commit = on',
      );
      const r = await run({ ...base(), 'allow-relaxed-durability': 'true' });
      expect(rows(r).find((c) => c.check === 'durability')!.status).toBe('warn');
    } finally {
      await pg.query('ALTER SYSTEM RESET synchronous_commit');
      await pg.query('SELECT pg_reload_conf()');
    }
  });

  it('an application role that commits without waiting for the WAL flush fails durability', async () => {
    await pg.query('CREATE ROLE app_fast LOGIN');
    await pg.query('ALTER ROLE app_fast SET synchronous_commit = off');
    try {
      const e = await failure(base());
      expect(e.message).toContain(
        'synchronous_commit of roles/databases=off for role app_fast: a crash of the new primary can lose acknowledged writes. Reset it: ALTER ROLE "app_fast" RESET synchronous_commit.',
      );
    } finally {
      await pg.query('DROP ROLE app_fast');
    }
  });

  it('a failing backup-check-command fails with its output', async () => {
    const e = await failure({ ...base(), 'backup-check-command': 'echo "no backup since Monday" >&2; exit 3' });
    expect(e.message).toContain(
      '- backups: backup-check-command failed (exit 3): no backup since Monday. Set up backups of the new primary before relying on it.',
    );
  });

  it('backup-dir: a recent non-empty file passes; only old or empty files, or no directory, fail', async () => {
    const file = path.join(backups, 'base-1.tar.gz');
    await fs.writeFile(file, 'backup bytes');
    await fs.writeFile(path.join(backups, 'empty.partial'), '');
    const ok = await run({ ...base(), 'backup-dir': backups, 'backup-max-age-hours': '24' });
    expect(rows(ok).find((c) => c.check === 'backups')!.detail).toMatch(new RegExp(`^newest backup ${file} \\(12 B\\), [\\d.]+ s old \\(limit 24 h\\)$`));
    const old = new Date(Date.now() - 3 * 24 * 3600 * 1000);
    await fs.utimes(file, old, old);
    const e = await failure({ ...base(), 'backup-dir': backups, 'backup-max-age-hours': '24' });
    expect(e.message).toContain(`- backups: no non-empty file newer than 24 h in backup-dir ${backups}: backups of the new primary are not running`);
    const gone = await failure({ ...base(), 'backup-dir': `${backups}/nope` });
    expect(gone.message).toContain(`- backups: backup-dir ${backups}/nope does not exist on the target host.`);
  });

  it('no backup check configured warns', async () => {
    const r = await run(base());
    expect(rows(r).find((c) => c.check === 'backups')).toMatchObject({ status: 'warn' });
  });

  it('expect-replicas: unmet fails; a streaming client of the new primary meets it', async () => {
    const e = await failure({ ...base(), 'expect-replicas': '1' });
    expect(e.message).toContain('- replicas of the new primary: 0 streaming, expected 1 (seen: none).');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'zdm-receivewal-'));
    try {
      await withClient(
        [`${pg.binDir}/pg_receivewal`, '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-D', dir, '--no-password'],
        { PGPASSWORD: pg.password, PGAPPNAME: 'replica1' },
        async () => {
          for (let i = 0; i < 100; i++) {
            const [{ n }] = await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'");
            if (n > 0) break;
            await sleep(100);
          }
          const r = await run({ ...base(), 'expect-replicas': '1' });
          expect(rows(r).find((c) => c.check === 'replicas of the new primary')!.detail).toMatch(
            /^1 streaming \(expected 1\): replica1@127\.0\.0\.1 \(streaming\)$/,
          );
        },
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('max_connections below app-pool-size fails', async () => {
    const e = await failure({ ...base(), 'app-pool-size': '500' });
    expect(e.message).toContain('- connections for the application: max_connections 100 (97 for non-superusers) on the new primary, below app-pool-size 500');
  });

  it('an unreachable new primary fails its latency and connection rows', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const e = await failure({ 'target-url': `postgres://postgres:x@127.0.0.1:${port}/postgres` });
    expect(e.message).toContain(`- latency to the new primary: cannot open a TCP connection to 127.0.0.1:${port} (connection refused).`);
    expect(e.message).toContain(`- connection: target-url: cannot reach 127.0.0.1:${port}: connection refused.`);
  });
});

describe('post-cutover (MariaDB)', () => {
  const base = () => ({ 'target-url': maria.url() });

  it('passes on a healthy new primary', async () => {
    const r = await run({ ...base(), 'app-pool-size': '100', 'backup-check-command': 'true' });
    expect(notOk(r)).toEqual([]);
    expect(rows(r).find((c) => c.check === 'durability')!.detail).toBe('innodb_flush_log_at_trx_commit=1, sync_binlog=1');
  });

  it('innodb_flush_log_at_trx_commit=2 fails', async () => {
    await maria.query('SET GLOBAL innodb_flush_log_at_trx_commit = 2');
    try {
      const e = await failure(base());
      expect(e.message).toContain(
        '- durability: innodb_flush_log_at_trx_commit=2, sync_binlog=1: a crash of the new primary can lose acknowledged writes. SET GLOBAL innodb_flush_log_at_trx_commit = 1',
      );
    } finally {
      await maria.query('SET GLOBAL innodb_flush_log_at_trx_commit = 1');
    }
  });

  it('read_only fails "accepts writes"', async () => {
    await maria.query('SET GLOBAL read_only = ON');
    try {
      const e = await failure(base());
      expect(e.message).toContain('- accepts writes: read_only is ON: SET GLOBAL read_only = OFF (and remove it from the configuration).');
    } finally {
      await maria.query('SET GLOBAL read_only = OFF');
    }
  });

  it('expect-replicas: unmet fails; a binlog dump client meets it', async () => {
    const e = await failure({ ...base(), 'expect-replicas': '1' });
    expect(e.message).toContain('- replicas of the new primary: 0 streaming, expected 1 (seen: none).');
    const [first] = await maria.query<{ Log_name: string }>('SHOW BINARY LOGS');
    await withClient(
      [
        'mariadb-binlog',
        '--read-from-remote-server',
        '--stop-never',
        '--host=127.0.0.1',
        `--port=${maria.port}`,
        '--user=root',
        `--result-file=/dev/null`,
        first.Log_name,
      ],
      { MYSQL_PWD: maria.password },
      async () => {
        for (let i = 0; i < 100; i++) {
          const d = await maria.query("SELECT 1 FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'");
          if (d.length) break;
          await sleep(100);
        }
        const r = await run({ ...base(), 'expect-replicas': '1' });
        expect(rows(r).find((c) => c.check === 'replicas of the new primary')!.detail).toMatch(
          /^1 streaming \(expected 1\): 127\.0\.0\.1:\d+ \(Binlog Dump\)$/,
        );
      },
    );
  });
});
