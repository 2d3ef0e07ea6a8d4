import { mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalHost } from '../../src/hosts/local.js';
import { readInputs, type StepName } from '../../src/inputs.js';
import type { Log } from '../../src/log.js';
import { Journal, recordDisagrees, type ServersSeen } from '../../src/state/journal.js';
import { defaultMigrationId, newRecord, urlWithoutSecrets, type Phase } from '../../src/state/record.js';

const quiet: Log = { info: () => {}, warn: () => {}, secret: () => {}, group: (_t, fn) => fn() };
const SRC = 'postgres://admin:s3cret-pw@db-old.example:5432/app';
const TGT = 'postgres://postgres:t4rget-pw@127.0.0.1:6543/app';

async function open(step: StepName, dir: string, extra: Record<string, string> = {}): Promise<Journal> {
  const raw: Record<string, string> = {
    'source-url': SRC,
    'target-url': TGT,
    'state-dir': dir,
    'replication-user': 'r',
    'replication-password': 'x',
    ...extra,
  };
  const inputs = readInputs(step, (n) => raw[n]);
  return Journal.open(step, inputs, new LocalHost(), quiet, (s) => s.split('s3cret-pw').join('***'));
}

describe('migration record', () => {
  it('names a side without credentials, and a migration by its target', () => {
    expect(urlWithoutSecrets(new URL(SRC))).toBe('postgres://db-old.example:5432/app');
    expect(defaultMigrationId(new URL(TGT))).toBe('127.0.0.1-6543');
    expect(defaultMigrationId(new URL('mysql://u:p@[::1]/x'))).toBe('host_1-3306');
  });

  it('is written by each step with its phase and outputs, in a directory of mode 700, and holds no secret', async () => {
    const dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'zdm-rec-')), 'state');
    const tune = await open('tune-target', dir);
    await tune.started();
    const plan = {
      engine: 'postgres',
      memoryBytes: 1,
      cpus: 1,
      items: [{ name: 'fsync', original: 'on', value: 'off', reason: 'r', applies: 'reload', relaxesDurability: true, revertAtCutover: true }],
    };
    await tune.succeeded({ tuning: JSON.stringify(plan), engine: 'postgres' });
    const seed = await open('seed-replica', dir);
    expect(seed.tuning()?.items[0].name).toBe('fsync');
    await seed.started();
    expect(seed.record.phase).toBe('tuned');
    await seed.phase('seeding');
    await seed.failed(new Error('could not connect with s3cret-pw'));
    const text = await readFile(path.join(dir, '127.0.0.1-6543.json'), 'utf8');
    expect(text).not.toContain('s3cret-pw');
    expect(text).not.toContain('t4rget-pw');
    const rec = JSON.parse(text);
    expect(rec.phase).toBe('seeding');
    expect(rec.events.map((e: { step: string; result: string }) => `${e.step}:${e.result}`)).toEqual([
      'tune-target:started',
      'tune-target:ok',
      'seed-replica:started',
      'seed-replica:note',
      'seed-replica:failed',
    ]);
    expect(rec.events[4].detail).toContain('***');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('refuses the record of another unfinished migration of the same target, and archives a finished one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'zdm-rec-'));
    const j = await open('tune-target', dir);
    await j.started();
    // A record whose steps changed nothing yet holds no migration: another source may use the target.
    await expect(open('preflight', dir, { 'source-url': 'postgres://a:b@elsewhere:5432/app' })).resolves.toBeDefined();
    await j.succeeded({ tuning: JSON.stringify({ engine: 'postgres', memoryBytes: 1, cpus: 1, items: [] }), engine: 'postgres' });
    await expect(open('seed-replica', dir, { 'source-url': 'postgres://a:b@elsewhere:5432/app' })).rejects.toThrow(
      /belongs to another migration of this target \(source postgres:\/\/db-old.example:5432\/app, not postgres:\/\/elsewhere:5432\/app/,
    );
    // Its own migration id: no conflict.
    await expect(open('seed-replica', dir, { 'source-url': 'postgres://a:b@elsewhere:5432/app', 'migration-id': 'other' })).resolves.toBeDefined();
    const a = await open('abort', dir);
    await a.succeeded({ removed: '', record: '' });
    const again = await open('tune-target', dir, { 'source-url': 'postgres://a:b@elsewhere:5432/app' });
    await again.started();
    expect((await readdir(dir)).filter((f) => /^127\.0\.0\.1-6543\.\d/.test(f)).length).toBe(1);
  });

  it('status never writes it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'zdm-rec-'));
    const s = await open('status', dir);
    await s.started();
    await s.succeeded({});
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('the record against the servers', () => {
  const rec = (phase?: Phase) => ({ ...newRecord('db-5432', 'postgres', 'postgres://a:5432/x', 'postgres://b:5432/x'), phase });
  const seen = (target: ServersSeen['target'], seededByZdm: boolean) => ({ target, seededByZdm, detail: 'what the servers said' });
  it('says where they disagree, and that zdm goes by the servers', () => {
    expect(recordDisagrees(rec('caught-up'), seen('primary', false))).toBe(
      'the migration record db-5432 says caught-up, but the target is a primary that zdm did not seed (what the servers said): zdm goes by the servers',
    );
    expect(recordDisagrees(rec('promoted'), seen('streaming-replica', true))).toMatch(/says promoted, but the target is still a replica/);
    expect(recordDisagrees(rec(undefined), seen('streaming-replica', true))).toMatch(/says nothing was done yet, but the target already replicates/);
  });
  it('is silent where they agree', () => {
    expect(recordDisagrees(rec('caught-up'), seen('streaming-replica', true))).toBeUndefined();
    expect(recordDisagrees(rec('promoted'), seen('primary', true))).toBeUndefined();
    expect(recordDisagrees(rec('tuned'), seen('primary', false))).toBeUndefined();
    expect(recordDisagrees(rec('seeded'), seen('unreachable', false))).toBeUndefined();
  });
});
