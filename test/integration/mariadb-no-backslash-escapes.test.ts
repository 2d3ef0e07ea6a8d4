/**
 * A MariaDB running with sql_mode=NO_BACKSLASH_ESCAPES: zdm's own statements (CHANGE MASTER with a
 * password holding a backslash and quotes, the heartbeat) keep their meaning, and data with
 * backslashes and quotes arrives intact, by the physical and by the logical seed.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import type { MariadbSandbox } from '../../src/sandbox/index.js';

const run = (step: StepName, raw: Record<string, string>) => runStep(step, (n) => raw[n], new TextLog(() => undefined));
const TRICKY = ['back\\slash', "it's", 'say "hi"', "\\'; DROP TABLE t; --", 'tab\there', 'end\\'];
const PASSWORD = `r\\e'p"l\\`;

async function values(server: MariadbSandbox): Promise<string[]> {
  const r = await server.query<{ v: string }>('SELECT v FROM appdb.tricky ORDER BY id');
  return r.map((x) => x.v);
}

describe('MariaDB with sql_mode=NO_BACKSLASH_ESCAPES', () => {
  let fx: MariadbFixture;
  beforeAll(async () => {
    fx = await MariadbFixture.start({ durable: false, settings: { 'sql-mode': 'NO_BACKSLASH_ESCAPES' } });
    const [{ m }] = await fx.source.query<{ m: string }>('SELECT @@GLOBAL.sql_mode AS m');
    expect(m).toContain('NO_BACKSLASH_ESCAPES');
    // Under NO_BACKSLASH_ESCAPES a literal doubles its quotes and keeps its backslashes as they are.
    await fx.source.query(`CREATE USER 'zdm_tricky'@'%' IDENTIFIED BY '${PASSWORD.replace(/'/g, "''")}'`);
    await fx.source.query("GRANT REPLICATION SLAVE ON *.* TO 'zdm_tricky'@'%'");
    await fx.source.query('CREATE TABLE appdb.tricky (id INT PRIMARY KEY, v VARCHAR(100) NOT NULL)');
    const c = await mysql.createConnection({ host: '127.0.0.1', port: fx.source.port, user: 'root', password: fx.source.password });
    try {
      // Server-side prepared statements: the values go in as they are, whatever the sql_mode.
      for (const [i, v] of TRICKY.entries()) await c.execute('INSERT INTO appdb.tricky VALUES (?, ?)', [i, v]);
    } finally {
      await c.end();
    }
  }, 180_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);

  it('seeds physically, replicates with a password holding \\ and quotes, and the rows arrive intact', async () => {
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '512MB' });
    const seed = await run('seed-replica', { ...inputs['seed-replica'], 'replication-user': 'zdm_tricky', 'replication-password': PASSWORD });
    expect(seed.outputs.method).toBe('physical');
    const c = await mysql.createConnection({ host: '127.0.0.1', port: fx.source.port, user: 'root', password: fx.source.password });
    try {
      await c.execute('INSERT INTO appdb.tricky VALUES (?, ?)', [100, "after\\the 'copy'"]);
    } finally {
      await c.end();
    }
    await run('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '1' });
    const [st] = await fx.target.query<Record<string, string>>('SHOW REPLICA STATUS');
    expect(st).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_User: 'zdm_tricky' });
    expect(await values(fx.target)).toEqual([...TRICKY, "after\\the 'copy'"]);
  }, 240_000);
});
