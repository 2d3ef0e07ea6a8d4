/**
 * The pooler-held switch on real PgBouncers (Debian's 1.18) in front of real PostgreSQL: preflight
 * refuses an unreachable pooler with its fix; a long transaction stops cutover before anything is
 * paused (policy abort) or makes PAUSE time out (policy wait), after which the pooler is resumed and
 * the source keeps taking writes through it; two PgBouncers are paused, repointed and resumed together.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { loadSampleData, missingWrites, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { pgbouncerInputs, startPgbouncers, throughPgbouncer } from '../../src/rehearse/pooler.js';
import { WriteLoad, type WriteStats, type WriteTarget } from '../../src/rehearse/writer.js';
import type { PgbouncerSandbox } from '../../src/sandbox/pgbouncer.js';
import { freePort } from '../../src/sandbox/util.js';

let pair: PgPair;
let bouncers: PgbouncerSandbox[] = [];
let tuning = '';

function run(step: StepName, raw: Record<string, string>, lines?: string[]) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines?.push(l)));
}

const common = () => ({ 'source-url': pair.source.url(), 'target-url': pair.target.url() });
const cutoverInputs = () => ({
  ...common(),
  ...pgbouncerInputs(pair, bouncers),
  tuning,
  'source-stop-command': pair.source.fastStopCommand,
  'source-start-command': pair.source.startCommand,
});

/** A client of the application, through one of the poolers. */
async function appClient(b: PgbouncerSandbox): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: b.url(pair.appUser, pair.appPassword, pair.appDatabase), connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function adminShow(b: PgbouncerSandbox, command: string): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: b.adminUrl() });
  await c.connect();
  try {
    return (await c.query(command)).rows;
  } finally {
    await c.end();
  }
}

const entry = async (b: PgbouncerSandbox) => (await adminShow(b, 'SHOW DATABASES')).find((r) => r.name === pair.appDatabase)!;

/** Writes through the pooler; returns the port of the server that took it. */
async function writeThrough(b: PgbouncerSandbox, seq: number): Promise<number> {
  const c = await appClient(b);
  try {
    const r = await c.query("INSERT INTO writes (client_seq, payload) VALUES ($1, 'x') RETURNING current_setting('port') AS port", [seq]);
    return Number(r.rows[0].port);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  pair = await startPgPair();
  await loadSampleData(pair, 2);
  bouncers = await startPgbouncers(pair, 2);
  const tune = await run('tune-target', { ...common(), 'target-memory': '512MB', 'kernel-tuning': 'off' });
  tuning = tune.outputs.tuning;
  await run('seed-replica', {
    ...common(),
    'replication-user': pair.replicationUser,
    'replication-password': pair.replicationPassword,
    'target-data-dir': pair.target.dataDir,
    'target-start-command': pair.target.startCommand,
    'target-stop-command': pair.target.stopCommand,
    tuning,
  });
  await run('await-lag-zero', { ...common(), 'settle-seconds': '1' });
}, 180_000);

afterAll(async () => {
  await Promise.all(bouncers.map((b) => b.destroy()));
  await pair?.destroy();
}, 60_000);

describe('pooler-held cutover through PgBouncer', () => {
  it('preflight fails on an unreachable pooler, naming it and the fix', async () => {
    const dead = `postgres://zdm_admin:secret-admin-pw@127.0.0.1:${await freePort()}/pgbouncer`;
    const lines: string[] = [];
    let message = '';
    await run(
      'preflight',
      {
        ...common(),
        pooler: 'pgbouncer',
        'pooler-admin-urls': `${bouncers[0].adminUrl()}\n${dead}`,
        'pooler-config-files': `${bouncers[0].configFile}\n/nonexistent/pgbouncer.ini`,
        'pooler-database': pair.appDatabase,
        'replication-user': pair.replicationUser,
        'replication-password': pair.replicationPassword,
        'target-data-dir': pair.target.dataDir,
      },
      lines,
    ).catch((e) => (message = describeError(e)));
    expect(message).toMatch(/preflight failed/);
    const text = lines.join('\n');
    // The reachable one passes, the dead one fails with what to check; its password never shows.
    expect(text).toMatch(new RegExp(`ok +pgbouncer 127\\.0\\.0\\.1:${bouncers[0].port} reachable`));
    expect(text).toMatch(/FAIL pgbouncer 127\.0\.0\.1:\d+ reachable: cannot use its admin console: .*ECONNREFUSED.*Check pooler-admin-urls/);
    expect(text).not.toContain('secret-admin-pw');
  }, 120_000);

  it('a long transaction stops cutover before anything is paused (long-transaction-policy: abort)', async () => {
    const tx = await appClient(bouncers[0]);
    try {
      await tx.query('BEGIN');
      await tx.query("INSERT INTO writes (client_seq, payload) VALUES (900001, 'long')");
      await new Promise((r) => setTimeout(r, 2100));
      let message = '';
      await run('cutover', { ...cutoverInputs(), 'long-transaction-seconds': '1' }).catch((e) => (message = describeError(e)));
      expect(message).toMatch(/1 transaction\(s\) open for 1 s or more through the pooler would hold PAUSE/);
      expect(message).toMatch(/user app_writer, server pid \d+ on 127\.0\.0\.1:\d+, last request \d+ s ago/);
      expect(message).toMatch(/Nothing was paused or fenced/);
      expect(Number((await entry(bouncers[0])).paused)).toBe(0);
    } finally {
      await tx.query('ROLLBACK').catch(() => undefined);
      await tx.end();
    }
    expect(await writeThrough(bouncers[0], 900002)).toBe(pair.source.port);
  }, 120_000);

  it('a long transaction makes PAUSE time out: cutover aborts, every pooler is resumed, the source keeps taking writes', async () => {
    const tx = await appClient(bouncers[1]);
    try {
      await tx.query('BEGIN');
      await tx.query("INSERT INTO writes (client_seq, payload) VALUES (900003, 'long')");
      let message = '';
      const started = Date.now();
      await run('cutover', { ...cutoverInputs(), 'long-transaction-policy': 'wait', 'pause-timeout-seconds': '2' }).catch((e) => (message = describeError(e)));
      expect(message).toMatch(/PAUSE did not complete on every pooler, so nothing was fenced: pgbouncer 127\.0\.0\.1:\d+: .*PAUSE did not complete within 2 s/);
      expect(message).toMatch(/Every pooler was resumed: the source keeps taking writes/);
      expect(Date.now() - started).toBeLessThan(60_000);
      for (const b of bouncers) expect(Number((await entry(b)).paused)).toBe(0);
      // The open transaction itself is untouched and commits on the source.
      await tx.query('COMMIT');
    } finally {
      await tx.end();
    }
    for (const [i, b] of bouncers.entries()) expect(await writeThrough(b, 900010 + i)).toBe(pair.source.port);
    expect(await missingWrites(pair, pair.source, [900003, 900010, 900011])).toEqual([]);
  }, 120_000);

  it('two PgBouncers are paused, repointed and resumed together, and no write fails or is lost', async () => {
    // One application client per pooler; the second numbers its writes apart from the first.
    const offset = 1_000_000;
    const second = throughPgbouncer(pair, bouncers[1]);
    const shifted: WriteTarget = {
      get label() {
        return second.label;
      },
      connect: async () => {
        const c = await second.connect();
        return { write: (seq: number) => c.write(seq + offset), close: c.close };
      },
    };
    const loads = [new WriteLoad([throughPgbouncer(pair, bouncers[0])], 100), new WriteLoad([shifted], 100)];
    for (const l of loads) l.start();
    let result: Awaited<ReturnType<typeof run>> | undefined;
    let stats: WriteStats[];
    try {
      await new Promise((r) => setTimeout(r, 1000));
      result = await run('cutover', cutoverInputs());
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      stats = await Promise.all(loads.map((l) => l.stop()));
    }
    const [a, b] = stats;
    expect(result!.outputs.fence).toBe('shutdown');
    expect(Number(result!.outputs['pooler-held-ms'])).toBeGreaterThan(0);
    for (const bouncer of bouncers) {
      const e = await entry(bouncer);
      expect([e.host, e.port, Number(e.paused)]).toEqual(['127.0.0.1', pair.target.port, 0]);
    }
    for (const s of [a, b]) {
      expect(s.failed).toBe(0);
      expect(s.acknowledgedBy.source).toBeGreaterThan(0);
      expect(s.acknowledgedBy.target).toBeGreaterThan(0);
    }
    const acked = [...a.ackedSeqs, ...b.ackedSeqs.map((s) => s + offset)];
    expect(await missingWrites(pair, pair.target, acked)).toEqual([]);
  }, 180_000);
});
