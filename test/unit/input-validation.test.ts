/** Inputs that cannot work are refused at validation, before any server is touched, with the allowed form. */
import { describe, expect, it } from 'vitest';
import { firstSentence, INPUT_DEFS, readInputs, STEPS, type StepName } from '../../src/inputs.js';
import { InputError } from '../../src/errors.js';

const pg: Record<string, string> = {
  'source-url': 'postgres://admin:pw@db-old:5432/postgres',
  'target-url': 'postgres://postgres:pw2@127.0.0.1:5433/postgres',
  'replication-user': 'repl',
  'replication-password': 'replpw',
  'target-data-dir': '/var/lib/postgresql/15/main',
};
const my: Record<string, string> = { ...pg, 'source-url': 'mariadb://root:pw@db-old:3306/', 'target-url': 'mariadb://root:pw@127.0.0.1:3307/' };

function refusal(step: StepName, raw: Record<string, string>): string {
  try {
    readInputs(step, (n) => raw[n]);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as Error).message;
  }
  throw new Error(`${step} accepted ${JSON.stringify(raw)}`);
}

describe('required-input messages (issue 13 item 11)', () => {
  it('quote the whole first sentence, not up to an "e.g."', () => {
    expect(refusal('preflight', { ...pg, 'source-url': '' })).toBe(
      'input source-url is required by preflight: Admin connection to the live source, e.g. `postgres://admin:PASSWORD@db-old:5432/postgres`.',
    );
  });

  it('every required input of every step gives a whole sentence', () => {
    for (const def of INPUT_DEFS) {
      for (const step of def.requiredFor ?? []) {
        const raw = { ...pg, tuning: '{}', [def.name]: '' };
        const message = refusal(step, raw);
        expect(message.startsWith(`input ${def.name} is required by ${step}: `), message).toBe(true);
        const sentence = firstSentence(def.description);
        expect(message.endsWith(sentence), message).toBe(true);
        expect(sentence, def.name).toMatch(/[.)]$/);
        expect(sentence, def.name).not.toMatch(/\b(e\.g|i\.e|etc)\.$/);
        expect((sentence.match(/`/g) ?? []).length % 2, `${def.name}: unbalanced backticks`).toBe(0);
        expect((sentence.match(/\(/g) ?? []).length, `${def.name}: unbalanced parentheses`).toBe((sentence.match(/\)/g) ?? []).length);
      }
    }
    expect(STEPS.length).toBeGreaterThan(5);
  });

  it('cuts at the first real sentence end', () => {
    expect(firstSentence('One, e.g. `a. b` and i.e. that. Two.')).toBe('One, e.g. `a. b` and i.e. that.');
    expect(firstSentence('No full stop')).toBe('No full stop');
  });
});

describe('engine mismatches are refused up front (issue 13 item 8)', () => {
  it('a postgres:// source with a mysql:// target', () => {
    const m = refusal('seed-replica', { ...pg, 'target-url': 'mysql://root:pw@127.0.0.1:3306/' });
    expect(m).toMatch(
      /^input target-url is a mysql:\/\/ \(MySQL\/MariaDB\) URL, but the engine is postgres \(PostgreSQL\)\. zdm moves a database between servers of one engine/,
    );
    expect(m).not.toContain('pw@');
  });

  it('a mariadb:// source with a postgres:// target', () => {
    expect(refusal('await-lag-zero', { ...my, 'target-url': pg['target-url'] })).toMatch(
      /^input target-url is a postgres:\/\/ \(PostgreSQL\) URL, but the engine is mariadb/,
    );
  });

  it('engine mariadb with postgres URLs, and engine postgres with mysql URLs', () => {
    expect(refusal('cutover', { ...pg, engine: 'mariadb' })).toMatch(/^input source-url is a postgres:\/\/ \(PostgreSQL\) URL, but the engine is mariadb/);
    expect(refusal('post-cutover', { ...my, engine: 'postgres' })).toMatch(
      /^input target-url is a mariadb:\/\/ \(MySQL\/MariaDB\) URL, but the engine is postgres/,
    );
  });

  it('MySQL and MariaDB schemes mix, as they replicate with each other', () => {
    expect(readInputs('cutover', (n) => ({ ...my, 'target-url': 'mysql://root:pw@t:3306/' })[n]).engine).toBe('mariadb');
    expect(readInputs('cutover', (n) => ({ ...my, engine: 'mysql' })[n]).engine).toBe('mysql');
  });
});

describe('identifiers are validated before any server is touched (issue 13 item 10)', () => {
  it('replication slots', () => {
    expect(refusal('preflight', { ...pg, 'replication-slot': 'x; DROP TABLE y' })).toBe(
      'input replication-slot must be a replication slot name: 1 to 63 lower-case letters, digits or underscores, e.g. zdm_replica (got "x; DROP TABLE y")',
    );
    expect(refusal('seed-replica', { ...pg, 'replication-slot': 'Zdm' })).toMatch(/^input replication-slot must be a replication slot name/);
    expect(refusal('seed-replica', { ...pg, 'replication-slot': 'a'.repeat(64) })).toMatch(/^input replication-slot must be/);
    expect(refusal('cutover', { ...pg, 'reverse-replication-slot': "r'; --" })).toMatch(/^input reverse-replication-slot must be a replication slot name/);
    expect(readInputs('seed-replica', (n) => ({ ...pg, 'replication-slot': 'zdm_2' })[n]).replicationSlot).toBe('zdm_2');
  });

  it('heartbeat tables, by engine', () => {
    expect(refusal('await-lag-zero', { ...pg, 'heartbeat-table': 'a.b.c' })).toMatch(
      /^input heartbeat-table must be table or schema\.table, e\.g\. public\.zdm_heartbeat \(the schema must exist\); .*\(got "a\.b\.c"\)$/,
    );
    expect(refusal('await-lag-zero', { ...pg, 'heartbeat-table': 'public.hb; DROP TABLE t' })).toMatch(/^input heartbeat-table must be/);
    expect(refusal('await-lag-zero', { ...my, 'heartbeat-table': 'zdm.x.heartbeat' })).toMatch(
      /^input heartbeat-table must be database\.table, e\.g\. zdm\.heartbeat .*\(got "zdm\.x\.heartbeat"\)$/,
    );
    expect(refusal('cutover', { ...my, 'heartbeat-table': 'heartbeat' })).toMatch(/^input heartbeat-table must be database\.table/);
    expect(refusal('verify', { ...my, 'heartbeat-table': 'zdm.`hb`' })).toMatch(/^input heartbeat-table must be database\.table/);
    expect(readInputs('await-lag-zero', (n) => ({ ...pg, 'heartbeat-table': 'zdm_hb' })[n]).heartbeatTable).toBe('zdm_hb');
    expect(readInputs('await-lag-zero', (n) => ({ ...my, 'heartbeat-table': 'ops.hb_1' })[n]).heartbeatTable).toBe('ops.hb_1');
  });

  it('the replication user', () => {
    expect(refusal('seed-replica', { ...pg, 'replication-user': "repl' OR '1" })).toMatch(
      /^input replication-user must be a user name .*\(got "repl' OR '1"\)$/,
    );
    expect(refusal('preflight', { ...my, 'replication-user': 'a b' })).toMatch(/^input replication-user must be a user name/);
    expect(readInputs('seed-replica', (n) => ({ ...pg, 'replication-user': 'repl-user.1@corp' })[n]).replicationUser).toBe('repl-user.1@corp');
  });
});
