/**
 * verify across major versions: a logical migration moves rows from one major to another (13 -> 17
 * here), so the row hashes verify computes must agree between majors for the same values. The same
 * rows, of the types whose text output is most likely to differ (floats, numeric, timestamptz,
 * json/jsonb, arrays, bytea, money, interval, unicode text), are loaded by SQL into a PostgreSQL 13
 * and a 17 (and a 14 and an 18) whose defaults differ on purpose (TimeZone, DateStyle, IntervalStyle, extra_float_digits,
 * bytea_output): strict verify passes; one value changed on one side, it fails naming
 * the table. zdm's schema fingerprint on the target (a logical seed's) is left out.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { TextLog } from '../../src/log.js';
import { recordSchema } from '../../src/engines/postgres/logical/schema-guard.js';
import { runStep } from '../../src/run-step.js';
import { startPostgres, type PostgresSandbox } from '../../src/sandbox/postgres.js';
import { StepFailed } from '../../src/steps/step.js';

const quiet = new TextLog(() => undefined);

const SCHEMA = `
CREATE TABLE tricky (
  id int PRIMARY KEY,
  f4 float4, f8 float8, n numeric, ts timestamptz, t timestamp, d date, tm timetz,
  j json, jb jsonb, a_f8 float8[], a_txt text[], b bytea, m money, i interval, u text, ch char(4)
);
CREATE TABLE floaty (f8 float8 PRIMARY KEY, f4 float4);`;

const ROWS = `
INSERT INTO tricky VALUES
 (1, 'NaN', 'NaN', 'NaN', '2024-02-29 23:59:59.123456+02', '2024-02-29 23:59:59.123456', '2024-02-29', '23:59:59+05:30',
  '{"b": 1, "a": [1.0, 2e3, null], "a": "dup"}', '{"b": 1, "a": [1.0, 2e3, null, 1e-7]}', '{NaN,Infinity,-Infinity,-0,1e-300}', '{"a b","c,d",NULL,"é"}',
  '\\x00ff7f80', 12.34, '1 year 2 mons 3 days 04:05:06.789', 'café ☕ 𝄞 Ωμέγα', 'ab'),
 (2, 'Infinity', '-Infinity', '123456789012345678901234567890.123456789012345678901234567890', '1970-01-01 00:00:00+00', '0001-01-01 00:00:00', 'infinity', '00:00:00-12:00',
  '[]', '{}', '{}', '{}', '\\x', -92233720368547758.08, '-1 days +02:03:04', '', 'abcd'),
 (3, '-0', '-0', '0.000000000000000000000000000001', '2038-01-19 03:14:08.999999+00', 'infinity', '-infinity', '12:34:56.5+00',
  '"s"', '"\\u00e9 \\n tab\\t"', '{1.1,2.2,3.3000000000000003}', '{"{}","\\"q\\""}', '\\xdeadbeef', 0, '-178000000 years', E'line1\\nline2\\ttab', NULL),
 (4, 3.4028235e38, 1e-300, '-1e100', '1999-12-31 23:59:59.999999-08', '1999-12-31 23:59:59.999999', '2000-01-01', '00:00:00+14',
  '{"n": 0.1}', '{"n": 0.1, "big": 123456789012345678901234567890}', '{0.1,0.30000000000000004}', NULL, NULL, 92233720368547758.07, '0.000001 seconds', 'ß İ ﬁ 🙂', 'x'),
 (5, 1.17549435e-38, 2.2250738585072014e-308, 1e-20, '2024-03-31 02:30:00+01', NULL, NULL, NULL,
  NULL, '[1, "1", 1.0, true, null]', '{5e-324,1.7976931348623157e308}', NULL, NULL, NULL, '1 mon -1 days', NULL, NULL),
 (6, 0.1, 0.1, 0.1, '2024-10-27 01:30:00+00', NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, 0.01, '-1 year -2 mons +3 days -04:05:06', NULL, NULL);
INSERT INTO floaty SELECT g * 0.1, (g * 0.1)::float4 FROM generate_series(-50, 50) g;
INSERT INTO floaty VALUES ('NaN', 'NaN'), ('Infinity', 'Infinity'), ('-Infinity', '-Infinity'), (1e-300, 1e-30), (5e-324, 1.4e-45);`;

/** numeric ±Infinity exist from PostgreSQL 14 on. */
const INFINITE_NUMERIC = "INSERT INTO tricky (id, n) VALUES (7, 'Infinity'), (8, '-Infinity');";

/** Defaults that would change a row's text if verify's session did not set its own. */
const oldDefaults = { TimeZone: 'America/New_York', DateStyle: 'SQL, DMY', IntervalStyle: 'sql_standard', extra_float_digits: '0', bytea_output: 'escape' };
const youngDefaults = { TimeZone: 'Asia/Kolkata', DateStyle: 'German', IntervalStyle: 'iso_8601', extra_float_digits: '3', bytea_output: 'hex' };

for (const [oldMajor, youngMajor] of [
  [13, 17],
  [14, 18],
] as const) {
  describe(`verify across majors (PostgreSQL ${oldMajor} -> ${youngMajor})`, () => {
    let old: PostgresSandbox;
    let young: PostgresSandbox;
    const rows = oldMajor >= 14 ? ROWS + INFINITE_NUMERIC : ROWS;
    const rowCount = 6 + 101 + 5 + (oldMajor >= 14 ? 2 : 0);

    /** Strict verify's failure message, or undefined when it passed (having compared every row). */
    async function verify(): Promise<string | undefined> {
      try {
        const r = await runStep(
          'verify',
          (n) => ({ 'source-url': old.url(), 'target-url': young.url(), 'verify-mode': 'strict', 'chunk-rows': '3' })[n],
          quiet,
        );
        expect(r.outputs['rows-compared']).toBe(String(rowCount));
        return undefined;
      } catch (e) {
        if (e instanceof StepFailed) return describeError(e);
        throw e;
      }
    }

    beforeAll(async () => {
      [old, young] = await Promise.all([
        startPostgres({ major: oldMajor, name: `pg${oldMajor}`, settings: oldDefaults }),
        startPostgres({ major: youngMajor, name: `pg${youngMajor}`, settings: youngDefaults }),
      ]);
      for (const s of [old, young]) {
        await s.query(SCHEMA);
        await s.query(rows);
      }
      // What a logical seed leaves on the target: zdm's schema fingerprint, which verify must leave out.
      const [s, t] = [new pg.Client({ connectionString: old.url() }), new pg.Client({ connectionString: young.url() })];
      await Promise.all([s.connect(), t.connect()]);
      await recordSchema(s, t).finally(() => Promise.all([s.end(), t.end()]));
    }, 120_000);

    afterAll(async () => {
      await Promise.all([old?.destroy(), young?.destroy()]);
    });

    it('the servers are of different majors and their sessions format values differently', async () => {
      expect([old.major, young.major]).toEqual([oldMajor, youngMajor]);
      const text = async (s: PostgresSandbox) => (await s.query<{ r: string }>('SELECT ROW(t.*)::text AS r FROM tricky t WHERE id = 1'))[0].r;
      // Without verify's session settings the two servers print the very same row differently.
      expect(await text(old)).not.toBe(await text(young));
    });

    it('strict verify passes on the same data loaded into both', async () => {
      expect(await verify()).toBeUndefined();
    });

    for (const [what, sql] of [
      ['a float8 one ulp off', 'UPDATE tricky SET f8 = 1.0000000000000002e-300 WHERE id = 4'],
      ['a float4 one ulp off', "UPDATE floaty SET f4 = '0.10000001'::float4 WHERE f8 = 0.1"],
      ['-0 for 0', "UPDATE floaty SET f8 = '-0' WHERE f8 = 0"],
      ['a timestamptz a microsecond later', "UPDATE tricky SET ts = ts + interval '1 microsecond' WHERE id = 5"],
      ['a jsonb number', 'UPDATE tricky SET jb = \'{"n": 0.10, "big": 123456789012345678901234567890}\' WHERE id = 4'],
    ] as const) {
      it(`fails when one row differs: ${what}`, async () => {
        await young.query(sql);
        try {
          const message = await verify();
          expect(message).toBeDefined();
          expect(message).toMatch(/tricky|floaty/);
        } finally {
          // Back to the same rows as the old server, so that the next case starts equal.
          await young.query('TRUNCATE tricky, floaty');
          await young.query(rows);
        }
      }, 60_000);
    }

    it('passes again once both sides are equal', async () => {
      expect(await verify()).toBeUndefined();
    });
  });
}
