/** MySQL in the harness: Debian unstable's server, extracted by scripts/install-mysql.sh, starts on loopback through its own loader. */
import { describe, expect, it } from 'vitest';
import { sh } from '../../src/sandbox/util.js';
import { mysqlMissing, useMysql } from '../harness/index.js';

describe.skipIf(mysqlMissing !== undefined)(`MySQL sandbox${mysqlMissing ? ` (skipped: ${mysqlMissing})` : ''}`, () => {
  const my = useMysql({ name: 'harness' });

  it('answers on loopback with GTIDs, super_read_only, the CLONE plugin and performance_schema', async () => {
    const [r] = await my().query<Record<string, string | number>>(
      "SELECT VERSION() AS v, @@gtid_mode AS g, @@enforce_gtid_consistency AS e, @@performance_schema AS p, @@super_read_only AS s, (SELECT PLUGIN_STATUS FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'clone') AS c",
    );
    console.log(`MySQL sandbox: ${r.v} (${my().version})`);
    expect(String(r.v)).toMatch(/^\d+\.\d+\.\d+/);
    expect(String(r.v).startsWith(my().version.split('-')[0])).toBe(true);
    expect(r).toMatchObject({ g: 'ON', e: 'ON', p: 1, s: 0, c: 'ACTIVE' });
    expect(await my().query('SHOW BINARY LOG STATUS')).toHaveLength(1);
    expect(my().url()).toMatch(/^mysql:\/\/root:[0-9a-f]+@127\.0\.0\.1:\d+\/$/);
  });

  it('stops and starts with its commands', async () => {
    await sh(my().stopCommand);
    expect(await my().isRunning()).toBe(false);
    await sh(my().startCommand);
    expect(await my().isRunning()).toBe(true);
    expect(await my().query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});
