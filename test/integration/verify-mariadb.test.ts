/**
 * verify on a real MariaDB replica: passes on clean data while writes and updates continue (the
 * rechecks), finds a row changed on the target behind replication's back with its key, checksums a
 * table without a primary key whole and names it, and with a tiny strict budget does not claim success.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { WriteLoad } from '../../src/rehearse/writer.js';
import { StepFailed, type StepResult } from '../../src/steps/step.js';

let fx: MariadbFixture;
const quiet = new TextLog(() => undefined);

const verifyInputs = (over: Record<string, string> = {}): Record<string, string> => ({
  engine: 'mariadb',
  'source-url': fx.source.url(),
  'target-url': fx.target.url(),
  'chunk-rows': '1000',
  ...over,
});

async function verifyFails(raw: Record<string, string>): Promise<{ message: string; result: StepResult }> {
  try {
    await runStep('verify', (n) => raw[n], quiet);
  } catch (e) {
    if (e instanceof StepFailed) return { message: describeError(e), result: e.result };
    throw e;
  }
  throw new Error('verify succeeded but should have failed');
}

async function setDelay(seconds: number): Promise<void> {
  await fx.target.query('STOP REPLICA');
  await fx.target.query(`CHANGE MASTER TO MASTER_DELAY = ${seconds}`);
  await fx.target.query('START REPLICA');
}

beforeAll(async () => {
  fx = await MariadbFixture.start();
  await fx.loadSampleData(2);
  const app = await mysql.createConnection({ uri: fx.appUrl(fx.source) });
  try {
    await app.query('CREATE TABLE nokey (a INT, b VARCHAR(20) NULL) ENGINE=InnoDB');
    await app.query("INSERT INTO nokey VALUES (1, 'x'), (2, NULL), (2, NULL), (3, '')");
    await app.query('CREATE TABLE pairs (k1 INT NOT NULL, k2 VARCHAR(10) NOT NULL, v DATETIME(6), PRIMARY KEY (k1, k2)) ENGINE=InnoDB');
    await app.query("INSERT INTO pairs SELECT seq DIV 10, CONCAT('k', seq MOD 10), NOW(6) FROM seq_1_to_3000");
    // ENUM sorts by its index but compares as a string: such a key is not walked in ranges.
    await app.query("CREATE TABLE enumkey (e ENUM('b', 'a', 'c') PRIMARY KEY, v INT) ENGINE=InnoDB");
    await app.query("INSERT INTO enumkey VALUES ('a', 1), ('b', 2), ('c', 3)");
    // Many types, and text columns of different collations (CONCAT_WS over them would fail without the cast).
    await app.query(
      `CREATE TABLE types (id VARBINARY(16) PRIMARY KEY, a VARCHAR(10) COLLATE utf8mb4_bin, b VARCHAR(10) COLLATE utf8mb4_general_ci,
        c TEXT CHARACTER SET latin1, j JSON, bl BLOB, bi BIT(3), d DECIMAL(10, 2), f DOUBLE, dt DATETIME(6), ts TIMESTAMP(3) NULL, g POINT, e ENUM('x', 'y')) ENGINE=InnoDB`,
    );
    await app.query(
      `INSERT INTO types VALUES (UNHEX('00ff'), 'Ab', 'ab', 'caf\u00e9', '{"k": [1, 2]}', UNHEX('0001ff'), b'101', 12.5, 0.1, '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00.5', POINT(1, 2), 'y'),
        (UNHEX('01'), NULL, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    );
  } finally {
    await app.end();
  }
  const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
  await runStep('seed-replica', (n) => inputs['seed-replica'][n], quiet);
  await runStep('await-lag-zero', (n) => ({ ...inputs['await-lag-zero'], 'settle-seconds': '1' })[n], quiet);
}, 180_000);

afterAll(async () => {
  await fx?.destroy();
}, 60_000);

describe('verify on MariaDB', () => {
  it('passes on clean data while inserts and updates continue on the source and the replica applies them 1 s late', async () => {
    // The delay makes chunks differ at first sight: only the rechecks after the position wait let it pass.
    await setDelay(1);
    const load = new WriteLoad(fx.writeTargets().slice(0, 1), 200);
    const app = await mysql.createConnection({ uri: fx.appUrl(fx.source) });
    let updating = true;
    let updates = 0;
    const updater = (async () => {
      while (updating) {
        await app.query('UPDATE sample SET payload = MD5(RAND()) WHERE id = ?', [1 + Math.floor(Math.random() * 8000)]);
        updates++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    load.start();
    try {
      const r = await runStep('verify', (n) => verifyInputs({ 'chunk-rows': '2000' })[n], quiet);
      expect(r.outputs.ok).toBe('true');
      expect(r.outputs.mismatches).toBe('0');
      const report = JSON.parse(r.outputs.report);
      const byName = Object.fromEntries(report.tables.map((t: { name: string }) => [t.name, t]));
      expect(Object.keys(byName).sort()).toEqual(['appdb.enumkey', 'appdb.nokey', 'appdb.pairs', 'appdb.sample', 'appdb.types', 'appdb.writes']);
      expect(byName['appdb.sample']).toMatchObject({ status: 'match', key: ['id'] });
      expect(byName['appdb.sample'].chunks).toBeGreaterThanOrEqual(4);
      expect(byName['appdb.sample'].rechecks).toBeGreaterThan(0);
      expect(byName['appdb.pairs']).toMatchObject({ status: 'match', key: ['k1', 'k2'], rows: 3000, chunks: 2 });
      expect(byName['appdb.nokey']).toMatchObject({ status: 'match', key: [], rows: 4, chunks: 1, note: expect.stringMatching(/no primary key/) });
      expect(byName['appdb.enumkey']).toMatchObject({
        status: 'match',
        key: ['e'],
        rows: 3,
        chunks: 1,
        note: expect.stringMatching(/^primary key of type enum cannot be walked in ranges/),
      });
      expect(byName['appdb.types']).toMatchObject({ status: 'match', key: ['id'], rows: 2 });
      expect(r.summary).toMatch(/\| appdb\.nokey \| match \| none \(whole-table checksum\) \| 4 \| 1 \|/);
    } finally {
      updating = false;
      await updater;
      await load.stop();
      await app.end();
      await setDelay(0);
    }
    expect(updates).toBeGreaterThan(10);
  }, 120_000);

  it('strict mode with a tiny time budget reports partial coverage and does not claim success', async () => {
    const { message, result } = await verifyFails(verifyInputs({ 'verify-mode': 'strict', 'time-budget-seconds': '0.05', 'chunk-rows': '50' }));
    expect(message).toMatch(/^verify could not compare everything, so the data is NOT verified:\nnot \(completely\) compared: /);
    expect(message).toContain('the time budget ran out');
    expect(result.outputs.ok).toBe('false');
    expect(result.outputs.mismatches).toBe('0');
    const report = JSON.parse(result.outputs.report);
    expect(report.complete).toBe(false);
    expect(report.notCompared.length).toBeGreaterThan(0);
    expect(result.summary).toMatch(/\*\*Not verified\*\*/);
  }, 60_000);

  it('finds a row changed on the target behind replication, with its key, and a changed row of a table without a key', async () => {
    const t = await mysql.createConnection({ uri: fx.target.url() });
    try {
      await t.query('SET SESSION sql_log_bin = 0');
      await t.query("UPDATE appdb.sample SET payload = 'changed behind replication' WHERE id = 4321");
      await t.query("UPDATE appdb.nokey SET b = 'y' WHERE a = 3");
    } finally {
      await t.end();
    }
    const { message, result } = await verifyFails(verifyInputs());
    expect(message).toMatch(/^verify found 2 mismatches between source and target:/);
    expect(message).toContain('appdb.sample: 1 differing range(s)\n  keys (4320, 4321]: source: 1 row (key 4321), target: 1 row (key 4321)');
    expect(message).toContain('appdb.nokey: 1 differing range(s) (no primary key: whole-table checksum)');
    expect(result.outputs).toMatchObject({ ok: 'false', mismatches: '2' });
    const sample = JSON.parse(result.outputs.report).tables.find((x: { name: string }) => x.name === 'appdb.sample');
    expect(sample.mismatches).toEqual([
      {
        range: { after: ['4320'], upTo: ['4321'] },
        source: { rows: 1, first: ['4321'], last: ['4321'] },
        target: { rows: 1, first: ['4321'], last: ['4321'] },
      },
    ]);
    expect(result.outputs.report).not.toContain(fx.source.password);
    // Leaving the table out with verify-tables makes the rest pass.
    const r = await runStep('verify', (n) => verifyInputs({ 'verify-tables': 'appdb.*, !appdb.sample, !appdb.nokey' })[n], quiet);
    expect(r.outputs.ok).toBe('true');
  }, 60_000);
});
