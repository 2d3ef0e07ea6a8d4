import { describe, expect, it } from 'vitest';
import { INPUTS, OUTPUTS, parseBytes, readInputs, secretValues, STEPS } from '../../src/inputs.js';
import { InputError } from '../../src/errors.js';

const base: Record<string, string> = {
  'source-url': 'postgres://admin:s3cr%40t@db-old:5432/postgres',
  'target-url': 'postgres://postgres:pw2@127.0.0.1:5433/postgres',
  'replication-user': 'repl',
  'replication-password': 'replpw',
  'target-data-dir': '/var/lib/postgresql/15/main',
};

describe('inputs', () => {
  it('every input and output has a description and belongs to known steps', () => {
    for (const i of INPUTS) {
      expect(i.description.length, i.name).toBeGreaterThan(20);
      for (const s of i.steps) expect(STEPS).toContain(s);
    }
    for (const o of OUTPUTS) expect(o.description.length, o.name).toBeGreaterThan(10);
    expect(new Set(INPUTS.map((i) => i.name)).size).toBe(INPUTS.length);
  });

  it('reads, types and defaults the inputs of a step', () => {
    const i = readInputs('seed-replica', (n) => base[n]);
    expect(i.engine).toBe('postgres');
    expect(i.sourceUrl?.hostname).toBe('db-old');
    expect(i.heartbeatTable).toBe('public.zdm_heartbeat');
    const m = readInputs('cutover', (n) => ({ ...base, 'source-url': 'mariadb://root:pw@h:3306/', 'target-url': 'mysql://root:pw@t:3306/' })[n]);
    expect(m.engine).toBe('mariadb');
    expect(m.heartbeatTable).toBe('zdm.heartbeat');
    expect(m.fence).toBe('read-only');
    expect(readInputs('cutover', (n) => base[n]).fence).toBe('shutdown');
    expect(() =>
      readInputs('cutover', (n) => ({ ...base, 'source-url': 'mysql://root:pw@h/', 'target-url': 'mysql://root:pw@t/', fence: 'shutdown' })[n]),
    ).toThrow(/input fence shutdown is the PostgreSQL fence/);
    expect(i.replicationSlot).toBe('zdm_replica');
    const a = readInputs('await-lag-zero', (n) => ({ ...base, 'max-lag-bytes': '2MB' })[n]);
    expect(a.maxLagBytes).toBe(2 * 1024 * 1024);
    expect(a.settleSeconds).toBe(5);
  });

  it('keeps whether the fence was chosen: `auto` stays open for the engine to settle (PostgreSQL logical: read-only)', () => {
    const read = (over: Record<string, string>) => readInputs('cutover', (n) => ({ ...base, ...over })[n]);
    expect(read({})).toMatchObject({ fence: 'shutdown', fenceGiven: false });
    expect(read({ fence: 'auto' })).toMatchObject({ fence: 'shutdown', fenceGiven: false });
    expect(read({ fence: 'shutdown' })).toMatchObject({ fence: 'shutdown', fenceGiven: true });
    expect(read({ fence: 'read-only' })).toMatchObject({ fence: 'read-only', fenceGiven: true });
    expect(read({ 'source-url': 'mysql://root:pw@h/', 'target-url': 'mysql://root:pw@t/' })).toMatchObject({ fence: 'read-only', fenceGiven: false });
  });

  it('names the missing input and what it is for', () => {
    expect(() => readInputs('seed-replica', (n) => ({ ...base, 'replication-user': '' })[n])).toThrow(/input replication-user is required by seed-replica/);
  });

  it('takes preflight and seed-replica without target-data-dir: only a physical seed needs it, and the engine asks for it then', () => {
    for (const step of ['preflight', 'seed-replica'] as const) {
      expect(readInputs(step, (n) => ({ ...base, 'target-data-dir': '' })[n]).targetDataDir, step).toBeUndefined();
    }
  });

  it('rejects bad values with the input named and secrets not echoed', () => {
    const err = (() => {
      try {
        readInputs('cutover', (n) => ({ ...base, 'source-url': 'not a url with secret-xyz' })[n]);
      } catch (e) {
        return e as InputError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InputError);
    expect(err!.message).toMatch(/^input source-url must be a URL/);
    expect(err!.message).not.toContain('secret-xyz');
    expect(() => readInputs('cutover', (n) => ({ ...base, fence: 'nope' })[n])).toThrow(/input fence must be one of auto, shutdown, read-only/);
    expect(() => readInputs('await-lag-zero', (n) => ({ ...base, 'max-lag-bytes': '1 parsec' })[n])).toThrow(/input max-lag-bytes must be a size/);
    expect(() => readInputs('cutover', (n) => ({ ...base, 'source-url': 'redis://x:1' })[n])).toThrow(/engine/);
  });

  it('collects secret values, including decoded URL passwords', () => {
    const s = secretValues('seed-replica', (n) => base[n]);
    expect(s).toContain('replpw');
    expect(s).toContain('s3cr@t');
    expect(s).toContain('s3cr%40t');
    expect(s).toContain(base['source-url']);
    expect(s).not.toContain('repl');
  });

  it('parses sizes', () => {
    expect(parseBytes('1048576')).toBe(1048576);
    expect(parseBytes('512kB')).toBe(512 * 1024);
    expect(parseBytes('16 GiB')).toBe(16 * 1024 ** 3);
    expect(parseBytes('1.5GB')).toBe(1.5 * 1024 ** 3);
    expect(parseBytes('-1')).toBeUndefined();
    expect(parseBytes('12 furlongs')).toBeUndefined();
  });
});
