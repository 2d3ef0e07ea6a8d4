/** MariaDB method: logical, for small databases only. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';

let fx: MariadbFixture;

beforeAll(async () => {
  fx = await MariadbFixture.start();
  await fx.loadSampleData(2);
}, 120_000);

afterAll(async () => {
  await fx?.destroy();
}, 60_000);

const run = (step: 'seed-replica' | 'await-lag-zero', raw: Record<string, string>) => runStep(step, (n) => raw[n], new TextLog(() => undefined));

describe('logical seed', () => {
  it('refuses a source above logical-max-size, saying why', async () => {
    let message = '';
    await run('seed-replica', {
      ...fx.stepInputs({ fence: 'auto', targetMemory: '1GB' })['seed-replica'],
      method: 'logical',
      'logical-max-size': '64kB',
    }).catch((e) => (message = describeError(e)));
    expect(message).toMatch(/logical seed size: the source holds .* above logical-max-size \(64\.0 kB\): a logical dump rebuilds every table and index/);
  });

  it('loads a consistent dump and replicates from its GTID', async () => {
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    const seed = await run('seed-replica', { ...inputs['seed-replica'], method: 'logical' });
    expect(seed.outputs['seed-position']).toMatch(/^gtid:0-1-\d+$/);
    await fx.source.query("INSERT INTO appdb.writes (client_seq, payload) VALUES (7, 'after the dump')");
    await run('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '1' });
    const [src] = await fx.source.query<{ n: number }>('SELECT COUNT(*) AS n FROM appdb.sample');
    const [tgt] = await fx.target.query<{ n: number }>('SELECT COUNT(*) AS n FROM appdb.sample');
    expect(Number(tgt.n)).toBe(Number(src.n));
    expect(await fx.missingOnTarget([7])).toEqual([]);
  });
});
