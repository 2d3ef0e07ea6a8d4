/**
 * The pooler-held switch from the committed bundle (dist/index.js): the rehearsal through PgBouncer
 * ends with zero failed and zero missing writes; through HAProxy (which cannot hold requests) with
 * zero missing and its failed requests and reconnect time reported; and a cutover killed (SIGKILL, as a runner crash)
 * while PgBouncer is paused leaves it paused, and the re-run resumes it first, then completes the switch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { TextLog } from '../../src/log.js';
import { PostgresFixture } from '../../src/rehearse/postgres.js';
import { pgbouncerInputs, startPgbouncers, throughPgbouncer } from '../../src/rehearse/pooler.js';
import { WriteLoad } from '../../src/rehearse/writer.js';
import { runStep } from '../../src/run-step.js';
import type { PgbouncerSandbox } from '../../src/sandbox/pgbouncer.js';
import { expectOk, rehearseDist, runDistStep } from './run-dist.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-rehearse-pooler-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function appdbEntry(b: PgbouncerSandbox, database: string): Promise<Record<string, unknown>> {
  const c = new pg.Client({ connectionString: b.adminUrl() });
  await c.connect();
  try {
    return (await c.query('SHOW DATABASES')).rows.find((r) => r.name === database);
  } finally {
    await c.end();
  }
}

describe('pooler-held cutover (dist/index.js)', () => {
  it('zdm rehearse --engine postgres --pooler pgbouncer: no write fails, none is missing', () => {
    const { out, json } = rehearseDist(dir, ['--engine', 'postgres', '--pooler', 'pgbouncer']);
    expect(out).toContain('OK: every acknowledged write is on the new primary.');
    expect(out).toMatch(/pooler +pgbouncer: clients' requests held \d+ ms/);
    expect(json.ok).toBe(true);
    expect(json.writes.failed).toBe(0);
    expect(json.writes.missingOnTarget).toBe(0);
    expect(json.writes.acknowledgedByTarget).toBeGreaterThan(0);
    expect(json.cutover.writeBlockedMs).toBeGreaterThan(0);
    expect(json.pooler.kind).toBe('pgbouncer');
    expect(json.pooler.heldMs).toBeGreaterThanOrEqual(json.cutover.writeBlockedMs);
  }, 300_000);

  it('zdm rehearse --engine mariadb --pooler haproxy: none missing; failed requests and reconnect time reported', () => {
    const { out, json } = rehearseDist(dir, ['--engine', 'mariadb', '--pooler', 'haproxy']);
    expect(out).toContain('OK: every acknowledged write is on the new primary.');
    expect(out).toMatch(
      /pooler +haproxy \(cannot hold requests\): \d+ requests saw an error \(\d+ failed attempts, each retried\), clients reconnected to the new primary in \d+ ms/,
    );
    expect(json.writes.missingOnTarget).toBe(0);
    expect(json.writes.acknowledgedByTarget).toBeGreaterThan(0);
    expect(json.pooler).toMatchObject({ kind: 'haproxy', heldMs: null, failedRequests: json.writes.failedRequests, failedAttempts: json.writes.failed });
    expect(json.pooler.reconnectMs).toBeGreaterThan(0);
  }, 300_000);

  it('a cutover killed while PgBouncer is paused: the re-run resumes it, then switches, and no write is lost', async () => {
    const fx = await PostgresFixture.start();
    let bouncers: PgbouncerSandbox[] = [];
    let load: WriteLoad | undefined;
    try {
      await fx.loadSampleData(4);
      bouncers = await startPgbouncers(fx.pair, 1);
      const db = fx.pair.appDatabase;
      const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
      const quiet = new TextLog(() => undefined);
      for (const step of ['seed-replica', 'await-lag-zero'] as const) await runStep(step, (n) => inputs[step][n], quiet);
      load = new WriteLoad([throughPgbouncer(fx.pair, bouncers[0])], 100);
      load.start();
      const cutover = { ...inputs.cutover, ...pgbouncerInputs(fx.pair, bouncers) };

      const killed = await runDistStep('cutover', cutover, { env: { ZDM_FAILPOINT: 'cutover:pooler-paused' } });
      expect(killed.code).toBe(137);
      expect(killed.stdout).toMatch(/1 pooler\(s\) paused/);
      // Killed with the pooler paused: nothing resumed it.
      expect(Number((await appdbEntry(bouncers[0], db)).paused)).toBe(1);

      const rerun = expectOk(await runDistStep('cutover', cutover), [], 'cutover re-run');
      expect(rerun.stdout).toMatch(/pgbouncer 127\.0\.0\.1:\d+ was paused: an earlier zdm run died mid-switch\. Resuming it before anything else\./);
      expect(rerun.outputs.fence).toBe('shutdown');
      const entry = await appdbEntry(bouncers[0], db);
      expect([Number(entry.paused), entry.port]).toEqual([0, fx.pair.target.port]);
      await new Promise((r) => setTimeout(r, 1000));
      const stats = await load.stop();
      load = undefined;
      expect(stats.acknowledgedBy.target).toBeGreaterThan(0);
      expect(await fx.missingOnTarget(stats.ackedSeqs)).toEqual([]);
    } finally {
      await load?.stop();
      await Promise.all(bouncers.map((b) => b.destroy()));
      await fx.destroy();
    }
  }, 300_000);
});
