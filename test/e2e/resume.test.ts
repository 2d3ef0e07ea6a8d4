/**
 * Resumable, idempotent steps, the way the runner runs them (dist/index.js): each step is killed
 * midway (its whole process group, as a runner crash would) and run again to success, under a
 * live write load, with zero acknowledged writes lost. Re-runs read the servers' real state:
 * seed-replica refuses to copy over a working replica or a promoted target, and a cutover run
 * again after promotion fences nothing twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RehearsalFixture } from '../../src/rehearse/fixture.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { PostgresFixture } from '../../src/rehearse/postgres.js';
import { WriteLoad } from '../../src/rehearse/writer.js';
import { expectOk, runDistStep, type DistRun } from './run-dist.js';

const ok = (run: DistRun, what: string) => expectOk(run, [], what);

/** The error line an action prints when it fails. */
function failure(run: DistRun): string {
  expect(run.code).not.toBe(0);
  return run.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? run.stdout + run.stderr;
}

describe.each([
  // MariaDB: killed once the copy is complete and the target stopped, before the copy replaces its data directory.
  { engine: 'mariadb', start: () => MariadbFixture.start() as Promise<RehearsalFixture>, kill: { env: { ZDM_FAILPOINT: 'seed:copied' } } },
  // PostgreSQL: killed while pg_basebackup copies into the data directory (the previous one set aside).
  { engine: 'postgres', start: () => PostgresFixture.start() as Promise<RehearsalFixture>, kill: { killWhen: /copying the source with pg_basebackup/ } },
])('steps killed midway and run again ($engine)', ({ start, kill, engine }) => {
  let fx: RehearsalFixture;
  let load: WriteLoad | undefined;

  beforeAll(async () => {
    fx = await start();
    await fx.loadSampleData(32);
  }, 180_000);

  afterAll(async () => {
    await load?.stop();
    await fx?.destroy();
  }, 60_000);

  it('continues or refuses as the servers really are, and loses no write', async () => {
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    load = new WriteLoad(fx.writeTargets(), 200);
    load.start();
    const tune = ok(await runDistStep('tune-target', inputs['tune-target']), 'tune-target');
    const seedInputs = { ...inputs['seed-replica'], tuning: tune.outputs.tuning };

    // seed-replica killed midway; run again, it puts the target back as it was, copies again and starts replication.
    const killed = await runDistStep('seed-replica', seedInputs, kill);
    expect(killed.code).toBe(137);
    const reseeded = ok(await runDistStep('seed-replica', seedInputs), 'seed-replica after a kill');
    // It found the target down with a partial copy, and put the previous data directory back first.
    // (PostgreSQL copies into the data directory, set aside first; MySQL/MariaDB into a directory beside it, while the target stops.)
    expect(reseeded.stdout).toMatch(
      engine === 'postgres'
        ? /an interrupted seed-replica left a partial copy in .* and the previous data directory at .*\.zdm-old-/
        : /an interrupted seed-replica left a partial copy at .*\.zdm-new-\d+T\d+: removing it/,
    );
    expect(reseeded.stdout).toMatch(/starting the target as it was before the interrupted seed/);
    // A third run finds a working replica and refuses to throw it away.
    const again = failure(await runDistStep('seed-replica', seedInputs));
    expect(again).toMatch(/target not already a replica: the target is already .*Run await-lag-zero to continue from where it is, or set reseed: true/);
    // Asked explicitly, it copies the source again over the working replica.
    const forced = ok(await runDistStep('seed-replica', { ...seedInputs, reseed: 'true' }), 'seed-replica with reseed');
    expect(forced.stdout).toMatch(/target not already a replica: reseed: true: the (running replica|working standby) is replaced by a new copy/);

    // await-lag-zero killed while it waits; run again, it finishes.
    const waitInputs = { ...inputs['await-lag-zero'], 'settle-seconds': '2' };
    expect((await runDistStep('await-lag-zero', { ...waitInputs, 'settle-seconds': '30' }, { killWhen: /lag: / })).code).toBe(137);
    ok(await runDistStep('await-lag-zero', waitInputs), 'await-lag-zero after a kill');

    // cutover killed right after its fence (the source is blocked, the target not promoted yet):
    // run again, it continues the same cutover and promotes only after the target proved it applied the last write.
    const cutInputs = { ...inputs.cutover, tuning: tune.outputs.tuning };
    const crashed = await runDistStep('cutover', cutInputs, { env: { ZDM_FAILPOINT: 'cutover:after-fence' } });
    expect(crashed.code).toBe(137);
    const resumed = ok(await runDistStep('cutover', cutInputs), 'cutover after a kill');
    expect(resumed.stdout).toMatch(/continuing an interrupted cutover/);
    expect(resumed.stdout).toMatch(/target has applied/);
    expect(resumed.outputs.fence).toBe(engine === 'postgres' ? 'shutdown' : 'read-only');

    // Run once more: the cutover is done; nothing is fenced or promoted twice.
    const done = ok(await runDistStep('cutover', cutInputs), 'cutover run again');
    expect(done.outputs.fence).toBe('already-done');
    expect(done.stdout).toMatch(/the cutover was already done/);
    // And the promoted target is never seeded over by accident (the writes checked below are still on it).
    // After PostgreSQL's shutdown fence the old source is down, which stops the seed even earlier.
    expect(failure(await runDistStep('seed-replica', seedInputs))).toMatch(
      engine === 'postgres'
        ? /^::error::source-url: cannot reach .*connection refused/
        : /target holds database\(s\) .*appdb.*If it is the new primary of an earlier cutover, it takes the application's writes: leave it alone/,
    );

    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load.stop();
    load = undefined;
    expect(stats.acknowledgedBy.source).toBeGreaterThan(100);
    expect(stats.acknowledgedBy.target).toBeGreaterThan(10);
    expect(await fx.missingOnTarget(stats.ackedSeqs)).toEqual([]);
  }, 300_000);
});
