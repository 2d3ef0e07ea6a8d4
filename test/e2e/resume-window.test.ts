/**
 * A cutover killed right after its fence and run again, the way the runner runs it (dist/index.js):
 * the window it reports counts from the first run's fence (recorded on the servers), not from its
 * own; and when what follows the promotion fails, the action still sets its outputs and writes the
 * job summary before it fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import type { RehearsalFixture } from '../../src/rehearse/fixture.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { PostgresFixture } from '../../src/rehearse/postgres.js';
import { runStep } from '../../src/run-step.js';
import { runDistStep } from './run-dist.js';

const run = (step: StepName, raw: Record<string, string>) => runStep(step, (n) => raw[n], new TextLog(() => undefined));

/** How long the "crashed runner" stays away before the re-run: the clients' writes stay blocked all along. */
const AWAY_MS = 3000;

describe.each([
  { engine: 'postgres', start: () => PostgresFixture.start() as Promise<RehearsalFixture> },
  { engine: 'mariadb', start: () => MariadbFixture.start() as Promise<RehearsalFixture> },
])('a resumed cutover ($engine)', ({ start }) => {
  let fx: RehearsalFixture;
  beforeAll(async () => {
    fx = await start();
    await fx.loadSampleData(1);
  }, 180_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it('reports the window from the first fence, and its outputs and summary although a part after the promotion failed', async () => {
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    const tuning = (await run('tune-target', inputs['tune-target'])).outputs.tuning;
    await run('seed-replica', { ...inputs['seed-replica'], tuning });
    await run('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '1' });
    const cut = { ...inputs.cutover, tuning };
    const crashed = await runDistStep('cutover', cut, { env: { ZDM_FAILPOINT: 'cutover:after-fence' } });
    expect(crashed.code).toBe(137);
    await new Promise((r) => setTimeout(r, AWAY_MS));
    // A catch-up setting that cannot be restored: a part after the promotion fails.
    const plan = JSON.parse(tuning);
    plan.items.push({
      name: 'zdm_no_such_setting',
      original: '1',
      value: '2',
      reason: 'test',
      applies: 'reload',
      relaxesDurability: false,
      revertAtCutover: true,
    });
    const resumed = await runDistStep('cutover', { ...cut, tuning: JSON.stringify(plan) });
    expect(resumed.code).toBe(1);
    expect(resumed.stdout).toMatch(
      /::error::the target WAS promoted and is the primary now: point the application at .*restoring the catch-up settings failed/,
    );
    expect(resumed.stdout).toMatch(/the interrupted cutover blocked writes from \d{4}-.* \(recorded on the servers\)/);
    expect(Number(resumed.outputs['write-blocked-ms'])).toBeGreaterThanOrEqual(AWAY_MS);
    expect(resumed.outputs.endpoint).toMatch(/127\.0\.0\.1/);
    expect(resumed.outputs['final-position']).not.toBe('');
    expect(resumed.summary).toMatch(new RegExp(`Write-blocked window: ${resumed.outputs['write-blocked-ms']} ms`));
    expect(resumed.summary).toMatch(/\*\*WARNING:\*\* restoring the catch-up settings failed after the promotion/);
  }, 300_000);
});
