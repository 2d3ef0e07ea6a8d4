/**
 * A MariaDB source whose account has no RELOAD (no FLUSH TABLES WITH READ LOCK, as on some managed
 * services): mydumper takes its consistent point with LOCK TABLES on every table (--lock-all-tables),
 * on a real server under writes, and replication from that point loses nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { WriteLoad } from '../../src/rehearse/writer.js';

let fx: MariadbFixture;
const logged: string[] = [];
const log = new TextLog((line) => logged.push(line));
const run = (step: 'seed-replica' | 'await-lag-zero' | 'verify', raw: Record<string, string>) => runStep(step, (n) => raw[n], log);

beforeAll(async () => {
  fx = await MariadbFixture.start();
  await fx.loadSampleData(2);
}, 120_000);

afterAll(async () => {
  await fx?.destroy();
}, 60_000);

describe('a logical seed from an account without RELOAD', () => {
  let outputs: Record<string, string>;
  let acked: number[] = [];
  let sourceUrl = '';

  beforeAll(async () => {
    sourceUrl = await fx.noSuperAdmin({ without: ['RELOAD'] });
    const grants = await fx.source.query<Record<string, string>>(`SHOW GRANTS FOR '${new URL(sourceUrl).username}'@'%'`);
    expect(grants.map((r) => Object.values(r)[0]).join('\n')).not.toContain('RELOAD');
    const load = new WriteLoad(fx.writeTargets().slice(0, 1), 100);
    load.start();
    try {
      const seed = { ...fx.stepInputs({ fence: 'auto', targetMemory: '1GB' })['seed-replica'], method: 'logical', 'source-url': sourceUrl };
      outputs = (await run('seed-replica', seed)).outputs;
    } finally {
      acked = (await load.stop()).ackedSeqs;
    }
    await run('await-lag-zero', { ...fx.stepInputs({ fence: 'auto', targetMemory: '1GB' })['await-lag-zero'], 'settle-seconds': '1' });
  }, 240_000);

  it('takes the consistent point with LOCK TABLES, and says so', () => {
    expect(outputs.method).toBe('logical');
    expect(logged.join('\n')).toMatch(/mydumper: \d+ threads, consistent point by LOCK TABLES held only while the snapshots open/);
  });

  it('replicates from that point: every write acknowledged during the copy is on the target', async () => {
    expect(outputs['seed-position']).toMatch(/^gtid:0-1-\d+$/);
    expect(acked.length).toBeGreaterThan(10);
    expect(await fx.missingOnTarget(acked)).toEqual([]);
  });

  it('leaves a copy that strict verify finds identical once writes stop', async () => {
    const r = await run('verify', { engine: 'mariadb', 'source-url': fx.source.url(), 'target-url': fx.target.url(), 'verify-mode': 'strict' });
    expect(r.outputs.ok).toBe('true');
    expect(Number(r.outputs['rows-compared'])).toBeGreaterThan(1000);
  }, 120_000);
});
