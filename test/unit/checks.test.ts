/** Checks as data: every registry well formed (unique ids, at least one scope), selection by scope, the runner and the one result shape. */
import { describe, expect, it } from 'vitest';
import { fail, inScope, ok, runChecks, skip, warn, type CheckResult, type CheckUnit, type Scope } from '../../src/checks/check.js';
import { connectionChecks, ServerLimitsOnce } from '../../src/checks/connection.js';
import { Checklist } from '../../src/checklist/checklist.js';
import { UserError } from '../../src/errors.js';
import { MY_CHECKS } from '../../src/engines/mysql/checks/index.js';
import { PG_CHECKS } from '../../src/engines/postgres/checks/index.js';
import { TextLog } from '../../src/log.js';
import { backups } from '../../src/checks/backups.js';
import { NEW_PRIMARY_CHECKS } from '../../src/checks/new-primary.js';
import { LATENCY_CHECKS, SERVER_CHECKS, SURROUNDING_CHECKS } from '../../src/checks/preflight.js';

const SCOPES: readonly Scope[] = ['preflight', 'seed', 'cutover', 'post-cutover'];
const noLimits = new ServerLimitsOnce({ serverLimits: () => Promise.reject(new Error('not connected')) });

const registries: [string, readonly CheckUnit<never>[]][] = [
  ['postgres', PG_CHECKS],
  ['mysql/mariadb', MY_CHECKS],
  ['connections', connectionChecks(noLimits)],
  ['preflight', [...LATENCY_CHECKS, ...SERVER_CHECKS, ...SURROUNDING_CHECKS]],
  ['post-cutover', [...NEW_PRIMARY_CHECKS, backups]],
];

describe.each(registries)('the %s registry', (_name, units) => {
  it('has unique ids, each in kebab-case with a title', () => {
    const ids = units.map((u) => u.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const u of units) {
      expect(u.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(u.title.trim()).not.toBe('');
    }
  });

  it('gives every check at least one known scope', () => {
    for (const u of units) {
      expect(u.scopes.length, u.id).toBeGreaterThan(0);
      for (const s of u.scopes) expect(SCOPES).toContain(s);
    }
  });
});

it('no id is used twice among the checks one step runs (preflight: its own and the seed scope)', () => {
  const own = [...connectionChecks(noLimits), ...LATENCY_CHECKS, ...SERVER_CHECKS, ...SURROUNDING_CHECKS].map((u) => u.id);
  for (const registry of [PG_CHECKS, MY_CHECKS]) {
    const ids = [...own, ...registry.map((u) => u.id)];
    expect(new Set(ids).size).toBe(ids.length);
  }
});

it('each step finds its checks by scope: the engines hold seed checks, post-cutover its own', () => {
  // Engine checks are seed checks, or preflight-only rows (MySQL's fence: accounts, about cutover), or the
  // cutover gate's own units (PostgreSQL's DDL guard of a logical migration, run before the fence), or both
  // (PostgreSQL's read-only fence privileges: preflight warns, cutover refuses before the fence; seed-replica has no use for it).
  for (const registry of [PG_CHECKS, MY_CHECKS] as (readonly CheckUnit<never>[])[]) expect(inScope(registry, 'seed', 'preflight', 'cutover')).toEqual(registry);
  expect(inScope(PG_CHECKS as readonly CheckUnit<never>[], 'cutover').map((u) => u.id)).toEqual(['logical-schema-unchanged', 'read-only-fence-privileges']);
  expect(inScope(PG_CHECKS as readonly CheckUnit<never>[], 'seed').map((u) => u.id)).not.toContain('read-only-fence-privileges');
  expect(inScope(PG_CHECKS as readonly CheckUnit<never>[], 'preflight').map((u) => u.id)).toContain('read-only-fence-privileges');
  expect(inScope(MY_CHECKS as readonly CheckUnit<never>[], 'cutover')).toEqual([]);
  expect(inScope(MY_CHECKS as readonly CheckUnit<never>[], 'preflight').map((u) => u.id)).toEqual(['account-fence', 'tls-links']);
  expect(inScope<never>([...NEW_PRIMARY_CHECKS, backups], 'post-cutover').map((u) => u.id)).toEqual([
    'new-primary-connection',
    'new-primary-latency',
    'new-primary-app-connections',
    'accepts-writes',
    'durability',
    'replicas',
    'backups',
  ]);
  expect(inScope([...LATENCY_CHECKS, ...SERVER_CHECKS, ...SURROUNDING_CHECKS], 'seed', 'post-cutover')).toEqual([]);
});

const unit = (id: string, scopes: Scope[], run: CheckUnit['run']): CheckUnit => ({ id, title: id.replace(/-/g, ' '), scopes, run });

describe('selection and running', () => {
  const units = [
    unit('a', ['seed'], async () => ok('fine')),
    unit('b', ['preflight'], async () => warn('hmm')),
    unit('c', ['post-cutover'], async () => fail('bad')),
    unit('d', ['preflight', 'seed'], async () => [
      { check: 'd one', ...ok('1') },
      { check: 'd two', ...skip('not here') },
    ]),
  ];

  it('selects by scope, in registry order', () => {
    expect(inScope(units, 'seed').map((u) => u.id)).toEqual(['a', 'd']);
    expect(inScope(units, 'preflight', 'seed').map((u) => u.id)).toEqual(['a', 'b', 'd']);
    expect(inScope(units, 'cutover')).toEqual([]);
  });

  it('reports each verdict in the one result shape, rows of their own under their own title', async () => {
    const seen: CheckResult[] = [];
    const r = await runChecks(units, { onError: 'fail', onResult: (x) => seen.push(x) });
    expect(r).toEqual([
      { id: 'a', check: 'a', status: 'ok', detail: 'fine' },
      { id: 'b', check: 'b', status: 'warn', detail: 'hmm' },
      { id: 'c', check: 'c', status: 'fail', detail: 'bad' },
      { id: 'd', check: 'd one', status: 'ok', detail: '1' },
      { id: 'd', check: 'd two', status: 'skip', detail: 'not here' },
    ]);
    expect(seen).toEqual(r);
  });

  it('a check that throws: a failed row of its own (preflight), or the error itself (seed-replica)', async () => {
    const broken = [unit('lost-server', ['seed'], () => Promise.reject(new UserError('source-url: cannot reach 127.0.0.1:1'))), units[0]];
    expect(await runChecks(broken, { onError: 'fail' })).toEqual([
      { id: 'lost-server', check: 'lost server', status: 'fail', detail: 'source-url: cannot reach 127.0.0.1:1' },
      { id: 'a', check: 'a', status: 'ok', detail: 'fine' },
    ]);
    await expect(runChecks(broken, { onError: 'throw' })).rejects.toThrow('source-url: cannot reach 127.0.0.1:1');
  });
});

describe('the checklist of results', () => {
  it('logs every result, and leaves skipped ones out of the summary and the documented `checks` output', () => {
    const lines: string[] = [];
    const list = new Checklist(new TextLog((l) => lines.push(l)));
    list.addResult({ id: 'x', check: 'x', status: 'ok', detail: 'fine' });
    list.addResult({ id: 'y', check: 'y', status: 'skip', detail: 'not applicable' });
    list.add('clock skew', 'warn', '3 s');
    expect(lines).toEqual(['ok   x: fine', 'skip y: not applicable', 'WARN clock skew: 3 s']);
    expect(JSON.parse(list.json())).toEqual([
      { check: 'x', status: 'ok', detail: 'fine' },
      { check: 'clock skew', status: 'warn', detail: '3 s' },
    ]);
    expect(list.results.map((r) => r.id)).toEqual(['x', 'y', 'clock-skew']);
    expect(list.markdown('t')).not.toContain('not applicable');
    expect(list.count('warn')).toBe(1);
  });
});
