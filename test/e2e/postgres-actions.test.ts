/**
 * End to end, the way GitHub Actions runs zdm: dist/index.js once per step, each step's outputs
 * fed to the next step's inputs, real PostgreSQL servers, a live write load, zero lost writes.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSampleData, missingWrites, pgWriteTargets, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { WriteLoad } from '../../src/rehearse/writer.js';
import { runDistStep, type DistRun, shownText } from './run-dist.js';

let pair: PgPair;
let load: WriteLoad;
const secrets: string[] = [];

beforeAll(async () => {
  pair = await startPgPair();
  secrets.push(pair.source.password, pair.target.password, pair.replicationPassword);
  await loadSampleData(pair, 16);
  load = new WriteLoad(pgWriteTargets(pair), 300);
  load.start();
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await pair?.destroy();
}, 60_000);

function expectNoSecrets(run: DistRun) {
  // `::add-mask::VALUE` lines are commands the runner consumes (it then masks VALUE everywhere); nothing else may hold a secret.
  const masked = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('::add-mask::'))
    .map((l) => l.slice('::add-mask::'.length));
  const shown = shownText(run);
  for (const s of secrets) {
    expect(shown.includes(s), 'a secret was printed').toBe(false);
    if (run.stdout.includes(s)) expect(masked).toContain(s);
  }
  expect(masked).toContain(pair.source.password);
}

function ok(run: DistRun) {
  if (run.code !== 0) throw new Error(`step failed (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  expectNoSecrets(run);
}

describe('the four actions through dist/index.js on real PostgreSQL under writes', () => {
  it('migrates with zero lost writes and reports the window', async () => {
    const common = { engine: 'auto', 'source-url': pair.source.url(), 'target-url': pair.target.url() };

    const tune = await runDistStep('tune-target', { ...common, 'target-memory': '1GB', 'kernel-tuning': 'off' });
    ok(tune);
    const plan = JSON.parse(tune.outputs.tuning);
    expect(plan.engine).toBe('postgres');
    expect(plan.items.map((i: { name: string }) => i.name)).toContain('max_wal_size');
    expect(tune.summary).toContain('zdm tune-target');
    const [{ v: walSize }] = await pair.target.query<{ v: string }>("SELECT current_setting('max_wal_size') AS v");
    expect(walSize).toBe(plan.items.find((i: { name: string }) => i.name === 'max_wal_size').value);

    const seed = await runDistStep('seed-replica', {
      ...common,
      'replication-user': pair.replicationUser,
      'replication-password': pair.replicationPassword,
      'target-data-dir': pair.target.dataDir,
      'target-start-command': pair.target.startCommand,
      'target-stop-command': pair.target.stopCommand,
      tuning: tune.outputs.tuning,
    });
    ok(seed);
    expect(seed.outputs['seed-position']).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(seed.outputs['replication-slot']).toBe('zdm_replica');
    const [{ rec }] = await pair.target.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
    expect(rec).toBe(true);
    // The replication password is in the passfile only, never in the server's configuration.
    const [{ conninfo }] = await pair.target.query<{ conninfo: string }>("SELECT current_setting('primary_conninfo') AS conninfo");
    expect(conninfo).toContain('passfile=');
    expect(conninfo).not.toContain(pair.replicationPassword);

    const wait = await runDistStep('await-lag-zero', { ...common, 'settle-seconds': '2', 'timeout-seconds': '300' });
    ok(wait);
    expect(Number(wait.outputs['lag-bytes'])).toBeLessThanOrEqual(1024 * 1024);
    expect(wait.stdout).toMatch(/caught up/);

    const cut = await runDistStep('cutover', {
      ...common,
      'source-stop-command': pair.source.stopCommand,
      'source-start-command': pair.source.startCommand,
      tuning: tune.outputs.tuning,
    });
    ok(cut);
    const blocked = Number(cut.outputs['write-blocked-ms']);
    expect(blocked).toBeGreaterThan(0);
    expect(cut.outputs.fence).toBe('shutdown');
    expect(cut.outputs.endpoint).toBe(`127.0.0.1:${pair.target.port}`);
    expect(cut.summary).toContain(`Write-blocked window: ${blocked} ms`);
    // The audit record reaches the runner as an output and in the summary (ok() scanned both for secrets).
    expect(cut.outputs['audit-record']).toMatch(/\.audit\.json$/);
    expect(cut.summary).toMatch(/### zdm audit record: .*\n[\s\S]*write-blocked \*\*\d+ ms\*\* \(fence shutdown\)/);
    expect(JSON.parse(readFileSync(cut.outputs['audit-record'], 'utf8')).cutover.writeBlockedMs).toBe(blocked);
    const [{ rec: after }] = await pair.target.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
    expect(after).toBe(false);
    // The catch-up settings were restored on the new primary.
    const [{ v: walAfter }] = await pair.target.query<{ v: string }>("SELECT current_setting('max_wal_size') AS v");
    expect(walAfter).toBe(plan.items.find((i: { name: string }) => i.name === 'max_wal_size').original);
    expect(await pair.source.isRunning()).toBe(false);

    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load.stop();
    expect(stats.acknowledgedBy.source).toBeGreaterThan(100);
    expect(stats.acknowledgedBy.target).toBeGreaterThan(10);
    expect(await missingWrites(pair, pair.target, stats.ackedSeqs)).toEqual([]);
  }, 300_000);
});
