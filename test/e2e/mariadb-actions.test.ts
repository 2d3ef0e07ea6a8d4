/**
 * End to end on MariaDB, the way GitHub Actions runs zdm: dist/index.js once per step, outputs fed
 * forward, a live write load, zero lost writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { WriteLoad } from '../../src/rehearse/writer.js';
import { expectOk, runDistStep, type DistRun } from './run-dist.js';

let fx: MariadbFixture;
let load: WriteLoad;

beforeAll(async () => {
  fx = await MariadbFixture.start();
  await fx.loadSampleData(16);
  load = new WriteLoad(fx.writeTargets(), 300);
  load.start();
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await fx?.destroy();
}, 60_000);

const ok = (run: DistRun) => expectOk(run, [fx.source.password, fx.replicationPassword]);

describe('the four actions through dist/index.js on real MariaDB under writes', () => {
  it('migrates with zero lost writes', async () => {
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    const tune = ok(await runDistStep('tune-target', inputs['tune-target']));
    const seed = ok(await runDistStep('seed-replica', { ...inputs['seed-replica'], tuning: tune.outputs.tuning }));
    expect(seed.outputs['seed-position']).toMatch(/^gtid:/);
    expect(seed.summary).toContain('zdm seed-replica');
    ok(await runDistStep('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '2' }));
    const cut = ok(await runDistStep('cutover', { ...inputs.cutover, tuning: tune.outputs.tuning }));
    expect(cut.outputs.fence).toBe('read-only');
    expect(cut.summary).toContain('Write-blocked window');
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load.stop();
    expect(stats.acknowledgedBy.source).toBeGreaterThan(100);
    expect(stats.acknowledgedBy.target).toBeGreaterThan(10);
    expect(await fx.missingOnTarget(stats.ackedSeqs)).toEqual([]);
  }, 300_000);
});
