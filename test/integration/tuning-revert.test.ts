/**
 * tune-target and revert on real servers: the dry run changes nothing, the plan applies (kernel in
 * a temporary sysctl root, engine on a real MariaDB and PostgreSQL) and revert restores every
 * value exactly (SHOW GLOBAL VARIABLES / pg_settings and the files, before vs after), twice.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { sysctlPath } from '../../src/tuning/sysctl.js';
import { useMariadb, usePostgres } from '../harness/index.js';
import { UnprivilegedHost } from '../harness/unprivileged-host.js';
import { snapshot } from '../harness/snapshot.js';
import { readInputs } from '../../src/inputs.js';
import { tuneTarget } from '../../src/steps/tune-target.js';
import { openEngine } from '../../src/engines/index.js';
import { withDirectEndpoints } from '../../src/hosts/endpoint.js';
import { LocalHost } from '../../src/hosts/local.js';

const hosts = () => {
  const h = new LocalHost();
  return { targetHost: h, sourceHost: h, runnerHost: h };
};

const my = useMariadb({ name: 'tune' });
const pg = usePostgres({ name: 'tune' });
let base = '';
let root = '';
let dropin = '';

beforeAll(() => {
  base = mkdtempSync(path.join(os.tmpdir(), 'zdm-tune-'));
  root = path.join(base, 'proc-sys');
  const values: Record<string, string> = {
    'net.core.rmem_max': '212992\n',
    'net.core.wmem_max': '212992\n',
    'net.ipv4.tcp_rmem': '4096\t131072\t6291456\n',
    'net.ipv4.tcp_wmem': '4096\t16384\t4194304\n',
    'net.ipv4.tcp_syncookies': '1\n',
    'net.ipv4.tcp_tw_reuse': '2\n',
  };
  for (const [k, v] of Object.entries(values)) {
    mkdirSync(path.dirname(sysctlPath(root, k)), { recursive: true });
    writeFileSync(sysctlPath(root, k), v);
  }
  mkdirSync(path.join(base, 'sysctl.d'));
  dropin = path.join(base, 'sysctl.d', '99-zdm-migration.conf');
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const files = () => snapshot(base);

async function run(step: StepName, raw: Record<string, string>) {
  const lines: string[] = [];
  const result = await runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
  return { ...result, log: lines.join('\n') };
}

async function failure(step: StepName, raw: Record<string, string>): Promise<string> {
  try {
    await run(step, raw);
  } catch (e) {
    return describeError(e);
  }
  throw new Error(`${step} succeeded but should have failed`);
}

describe('MariaDB', () => {
  const inputs = (over: Record<string, string> = {}) => ({
    engine: 'mariadb',
    'target-url': my().url(),
    'target-config-file': my().optionFile,
    'target-memory': '1GB',
    'target-cpus': '6',
    'target-disk-type': 'ssd',
    'sysctl-root': root,
    'sysctl-dropin': dropin,
    ...over,
  });
  const variables = async () =>
    Object.fromEntries((await my().query<{ Variable_name: string; Value: string }>('SHOW GLOBAL VARIABLES')).map((r) => [r.Variable_name, r.Value]));

  it('dry run prints the whole plan and changes nothing', async () => {
    const [vars, fs] = [await variables(), files()];
    const r = await run('tune-target', inputs({ 'dry-run': 'true' }));
    expect(r.log).toContain('Dry run: the plan for a target with 1.0 GB RAM, 6 CPUs, ssd disk');
    expect(r.log).toMatch(/net\.core\.rmem_max: 212992 -> 16777216: the largest receive buffer/);
    expect(r.log).toMatch(/innodb_flush_log_at_trx_commit: 1 -> 2 \(now\)/);
    expect(r.log).toMatch(/innodb_write_io_threads: \d+ -> 6 \(at next start\): one per CPU \(6\)/);
    expect(r.log).toContain('zdm is root on the target: it can write the kernel settings');
    expect(r.log).toContain('dry run: nothing was changed on the target');
    expect(r.summary).toContain('Dry run: **nothing was changed**');
    expect(JSON.parse(r.outputs.tuning).dryRun).toBe(true);
    expect(await variables()).toEqual(vars);
    expect(files()).toEqual(fs);
    expect(existsSync(my().optionFile)).toBe(false);
    // A dry run's plan is not something to restore.
    expect(await failure('revert', { ...inputs(), tuning: r.outputs.tuning })).toMatch(/^input tuning is the output of a dry run/);
  });

  it('flags a sysctl-root that holds none of the settings, and refuses a relative one', async () => {
    const r = await run('tune-target', inputs({ 'dry-run': 'true', 'sysctl-root': path.join(base, 'nowhere') }));
    expect(r.log).toContain(`warning: none of the kernel settings exists under sysctl-root ${path.join(base, 'nowhere')}: check the path (normally /proc/sys)`);
    expect(r.log).toContain('net.core.rmem_max: not on this kernel, skipped');
    expect(await failure('tune-target', inputs({ 'sysctl-root': 'proc/sys' }))).toBe('input sysctl-root must be an absolute path (got "proc/sys")');
  });

  it('refuses an override zdm does not manage, changing nothing', async () => {
    const vars = await variables();
    const m = await failure('tune-target', inputs({ 'tuning-overrides': 'innodb_io_capacity=3000\nmax_connections=5000' }));
    expect(m).toMatch(/^input tuning-overrides names max_connections, which zdm does not manage for mariadb\. It manages: innodb_flush_log_at_trx_commit/);
    expect(await failure('tune-target', inputs({ 'tuning-overrides': 'innodb_io_capacity=3k' }))).toMatch(/gives innodb_io_capacity the value "3k"/);
    expect(await variables()).toEqual(vars);
    expect(existsSync(dropin)).toBe(false);
  });

  it("refuses to replace an option file that is not zdm's, before changing anything", async () => {
    const [vars, fs] = [await variables(), files()];
    const mine = path.join(base, 'my-own.cnf');
    writeFileSync(mine, '[mysqld]\nmax_connections = 500\n');
    try {
      const m = await failure('tune-target', inputs({ 'target-config-file': mine, 'dry-run': 'true' }));
      expect(m).toBe(
        `input target-config-file names ${mine}, which exists and was not written by zdm: tune-target would replace it. Name a file of zdm's own in a directory the server includes (!includedir), e.g. 99-zdm-migration.cnf. Nothing was changed.`,
      );
      await failure('tune-target', inputs({ 'target-config-file': mine }));
      expect(readFileSync(mine, 'utf8')).toBe('[mysqld]\nmax_connections = 500\n');
    } finally {
      rmSync(mine);
    }
    expect(await variables()).toEqual(vars);
    expect(files()).toEqual(fs);
  });

  it('applies kernel and engine plan with overrides; revert restores every value and file exactly, twice', async () => {
    const [vars, fs] = [await variables(), files()];
    const r = await run(
      'tune-target',
      inputs({ 'tuning-overrides': 'innodb_io_capacity=3000\ninnodb_buffer_pool_size=134217728\nnet.core.rmem_max=33554432' }),
    );
    const plan = JSON.parse(r.outputs.tuning);
    const item = (n: string) => plan.items.find((i: { name: string }) => i.name === n);
    expect(item('innodb_io_capacity')).toMatchObject({ value: '3000', original: vars.innodb_io_capacity });
    expect(item('innodb_read_io_threads')).toMatchObject({ value: '6', applies: 'restart' });
    const now = await variables();
    expect(now.innodb_flush_log_at_trx_commit).toBe('2');
    expect(now.sync_binlog).toBe('0');
    expect(now.innodb_io_capacity).toBe('3000');
    expect(now.innodb_buffer_pool_size).toBe('134217728');
    expect(readFileSync(my().optionFile, 'utf8')).toContain('innodb_read_io_threads = 6');
    expect(readFileSync(sysctlPath(root, 'net.core.rmem_max'), 'utf8')).toBe('33554432\n');
    expect(readFileSync(dropin, 'utf8')).toContain('net.core.rmem_max = 33554432');
    expect(r.summary).toMatch(/\| net\.core\.rmem_max \| 212992 \| 33554432 \| set by tuning-overrides/);
    expect(r.summary).toMatch(/\| innodb_io_capacity \| \d+ \| 3000 \|/);

    const back = await run('revert', { ...inputs(), tuning: r.outputs.tuning });
    expect(back.outputs.reverted.split(',')).toEqual(expect.arrayContaining(['innodb_flush_log_at_trx_commit', 'innodb_io_capacity', 'net.core.rmem_max']));
    expect(back.summary).toContain(`Drop-in \`${dropin}\` removed`);
    expect(await variables()).toEqual(vars);
    expect(files()).toEqual(fs);
    expect(existsSync(my().optionFile)).toBe(false);
    await run('revert', { ...inputs(), tuning: r.outputs.tuning });
    expect(await variables()).toEqual(vars);
    expect(files()).toEqual(fs);
  });

  it('where the kernel may not be tuned: best-effort warns and applies the engine plan; required changes nothing', async () => {
    const [vars, fs] = [await variables(), files()];
    const host = new UnprivilegedHost();
    const lines: string[] = [];
    const ctx = (over: Record<string, string>) => {
      const raw: Record<string, string> = inputs(over);
      return withDirectEndpoints({
        inputs: readInputs('tune-target', (n) => raw[n]),
        log: new TextLog((l) => lines.push(l)),
        targetHost: host,
        sourceHost: host,
        runnerHost: host,
      });
    };
    const e = await tuneTarget(ctx({ 'kernel-tuning': 'required' })).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(describeError(e)).toMatch(/^kernel tuning is not permitted on the target \(kernel-tuning: required\): .*no engine setting was changed/);
    expect(await variables()).toEqual(vars);
    expect(files()).toEqual(fs);

    const r = await tuneTarget(ctx({}));
    expect(lines.join('\n')).toMatch(/warning: kernel tuning is not permitted on the target: .*Continuing with the engine settings/);
    expect(r.summary).toContain('**Not applied:** kernel tuning is not permitted');
    expect((await variables()).innodb_flush_log_at_trx_commit).toBe('2');
    expect(files()).toEqual(fs);
    // Nothing of the kernel was applied, so revert has only the engine to restore.
    await run('revert', { ...inputs(), tuning: r.outputs.tuning });
    expect(await variables()).toEqual(vars);
  });

  it('tune-target run again before revert: flags the earlier drop-in, and durability is still restored to 1', async () => {
    const [vars, fs] = [await variables(), files()];
    const first = await run('tune-target', inputs());
    const second = await run('tune-target', inputs());
    expect(second.log).toMatch(/warning: .*99-zdm-migration\.conf is from an earlier tune-target that was not reverted/);
    const again = JSON.parse(second.outputs.tuning);
    expect(again.items.find((i: { name: string }) => i.name === 'innodb_flush_log_at_trx_commit')).toMatchObject({ original: '1', value: '2' });
    // The second output alone restores durability; the first one restores the rest.
    await run('revert', { ...inputs(), tuning: second.outputs.tuning });
    expect((await variables()).innodb_flush_log_at_trx_commit).toBe('1');
    await run('revert', { ...inputs(), tuning: first.outputs.tuning });
    expect(await variables()).toEqual(vars);
    expect(files()).toEqual(fs);
  });

  it("without a tuning input, zdm's option file still tells cutover which durability settings to restore", async () => {
    const vars = await variables();
    const tune = await run('tune-target', inputs({ 'kernel-tuning': 'off' }));
    const raw: Record<string, string> = inputs();
    const engine = openEngine(
      withDirectEndpoints({ inputs: readInputs('revert', (n) => (n === 'tuning' ? '{}' : raw[n])), log: new TextLog(() => undefined), ...hosts() }),
    );
    try {
      const items = await engine.tuning.relaxedDurability!();
      expect(items.map((i) => [i.name, i.original, i.value])).toEqual([
        ['innodb_flush_log_at_trx_commit', '1', '2'],
        ['sync_binlog', '1', '0'],
      ]);
      await engine.tuning.revert(items);
      // What the server's own configuration says is unknown here: the durable values stay in zdm's file.
      expect(readFileSync(my().optionFile, 'utf8')).toMatch(/^innodb_flush_log_at_trx_commit = 1\nsync_binlog = 1$/m);
      expect(await engine.tuning.relaxedDurability!()).toEqual([]);
    } finally {
      await engine.close();
    }
    const now = await variables();
    expect([now.innodb_flush_log_at_trx_commit, now.sync_binlog]).toEqual(['1', '1']);
    await run('revert', { ...inputs(), tuning: tune.outputs.tuning });
    expect(await variables()).toEqual(vars);
    rmSync(my().optionFile, { force: true });
  });

  it('revert refuses without a tuning input or with one made for another engine', async () => {
    // Without the input, revert reads the plan from the migration record; a state directory with none refuses.
    const empty = mkdtempSync(path.join(os.tmpdir(), 'zdm-state-empty-'));
    expect(await failure('revert', { ...inputs(), 'state-dir': empty })).toMatch(
      /^input tuning is required by revert when the migration record \(.*zdm-state-empty-.*\.json\) holds no tune-target plan/,
    );
    const other = JSON.stringify({ engine: 'postgres', memoryBytes: 1, cpus: 1, items: [] });
    expect(await failure('revert', { ...inputs(), tuning: other })).toBe('input tuning was made for engine postgres, but this step runs mariadb');
  });
});

describe('MariaDB whose own configuration leaves sync_binlog at 0 (its default)', () => {
  const relaxed = useMariadb({ name: 'nosync', settings: { 'sync-binlog': 0 } });
  const inputs = (over: Record<string, string> = {}) => ({
    engine: 'mariadb',
    'target-url': relaxed().url(),
    'target-config-file': relaxed().optionFile,
    'target-memory': '1GB',
    'target-cpus': '2',
    'target-disk-type': 'ssd',
    'kernel-tuning': 'off',
    ...over,
  });
  const durability = async () =>
    (await relaxed().query<{ f: string; s: string }>('SELECT @@GLOBAL.innodb_flush_log_at_trx_commit AS f, @@GLOBAL.sync_binlog AS s'))[0];

  it('the plan shows the real current value; the durable values cutover restores survive a restart, and post-cutover passes', async () => {
    expect((await durability()).s).toBe(0);
    const r = await run('tune-target', inputs());
    expect(r.log).toMatch(/^ {2}sync_binlog: 0 -> 0 \(now\): .*It is 0 already: cutover and revert set 1/m);
    expect(r.log).toMatch(/^ {2}innodb_flush_log_at_trx_commit: 1 -> 2 \(now\)/m);
    expect(r.summary).toMatch(/\| sync_binlog \| 1 \(now 0\) \| 0 \|/);
    const plan = JSON.parse(r.outputs.tuning);
    // What cutover does before promotion: the durability settings of the plan, reverted by the engine.
    const raw: Record<string, string> = inputs();
    const engine = openEngine(
      withDirectEndpoints({
        inputs: readInputs('revert', (n) => (n === 'tuning' ? r.outputs.tuning : raw[n])),
        log: new TextLog(() => undefined),
        ...hosts(),
      }),
    );
    try {
      await engine.tuning.revert(plan.items.filter((i: { relaxesDurability: boolean }) => i.relaxesDurability));
    } finally {
      await engine.close();
    }
    expect(await durability()).toEqual({ f: 1, s: 1 });
    await relaxed().stop();
    await relaxed().start();
    expect(await durability()).toEqual({ f: 1, s: 1 });
    const post = await run('post-cutover', { engine: 'mariadb', 'target-url': relaxed().url() });
    const rows = JSON.parse(post.outputs.checks) as { check: string; status: string; detail: string }[];
    expect(rows.find((c) => c.check === 'durability')).toMatchObject({ status: 'ok', detail: 'innodb_flush_log_at_trx_commit=1, sync_binlog=1' });

    // revert puts back the rest; the durable value stays, as the server's own configuration would not give it.
    await run('revert', { ...inputs(), tuning: r.outputs.tuning });
    expect(readFileSync(relaxed().optionFile, 'utf8')).toMatch(/^sync_binlog = 1$/m);
    expect(readFileSync(relaxed().optionFile, 'utf8')).not.toMatch(/^innodb_flush_log_at_trx_commit =/m);
  }, 120_000);
});

describe('PostgreSQL', () => {
  const inputs = (over: Record<string, string> = {}) => ({
    'target-url': pg().url(),
    'target-memory': '1GB',
    'target-cpus': '4',
    'target-disk-type': 'nvme',
    'sysctl-root': root,
    'sysctl-dropin': dropin,
    ...over,
  });
  const settings = async () =>
    Object.fromEntries(
      (
        await pg().query<{ name: string; s: string }>(
          "SELECT name, concat_ws('|', setting, source, sourcefile, sourceline, pending_restart) AS s FROM pg_settings",
        )
      ).map((r) => [r.name, r.s]),
    );
  const autoConf = () => readFileSync(path.join(pg().dataDir, 'postgresql.auto.conf'), 'utf8');

  it('applies the plan sized to CPUs and disk; revert restores every setting exactly, twice', async () => {
    // An original that was itself set by ALTER SYSTEM stays set by it after revert.
    await pg().query("ALTER SYSTEM SET random_page_cost = '2'");
    await pg().query('SELECT pg_reload_conf()');
    await new Promise((r) => setTimeout(r, 300));
    const [before, conf, fs] = [await settings(), autoConf(), files()];

    const dry = await run('tune-target', inputs({ 'dry-run': 'true' }));
    expect(dry.log).toMatch(/effective_io_concurrency: 1 -> 256 \(now\): 256 concurrent prefetch reads suit a nvme disk/);
    expect(await settings()).toEqual(before);
    expect(autoConf()).toBe(conf);
    expect(files()).toEqual(fs);

    const r = await run('tune-target', inputs({ 'tuning-overrides': '{"checkpoint_timeout": "20min"}' }));
    const plan = JSON.parse(r.outputs.tuning);
    const item = (n: string) => plan.items.find((i: { name: string }) => i.name === n);
    expect(item('random_page_cost')).toMatchObject({ original: '2', value: '1.1', persistedOriginal: true });
    expect(item('max_parallel_workers')).toMatchObject({ value: '4', original: '8' });
    expect(item('checkpoint_timeout').value).toBe('20min');
    const [{ eio, cto }] = await pg().query<{ eio: string; cto: string }>(
      "SELECT current_setting('effective_io_concurrency') AS eio, current_setting('checkpoint_timeout') AS cto",
    );
    expect([eio, cto]).toEqual(['256', '20min']);
    expect(plan.kernel.items.filter((i: { applied: boolean }) => i.applied).length).toBe(5);

    await run('revert', { ...inputs(), tuning: r.outputs.tuning });
    expect(await settings()).toEqual(before);
    expect(autoConf()).toBe(conf);
    expect(files()).toEqual(fs);
    await run('revert', { ...inputs(), tuning: r.outputs.tuning });
    expect(await settings()).toEqual(before);
    expect(autoConf()).toBe(conf);
  });

  it('a setting the server rejects: tune-target puts back the engine and kernel settings it had changed', async () => {
    const [before, conf, fs] = [await settings(), autoConf(), files()];
    const m = await failure('tune-target', inputs({ 'tuning-overrides': 'checkpoint_timeout=banana' }));
    expect(m).toMatch(
      /^the target refused checkpoint_timeout = banana: invalid value for parameter "checkpoint_timeout": "banana". Correct it in tuning-overrides$/,
    );
    expect(await settings()).toEqual(before);
    expect(autoConf()).toBe(conf);
    expect(files()).toEqual(fs);
  });

  it("revert sets the original explicitly where the configuration files now say otherwise (a seeded copy carries the source's)", async () => {
    const r = await run('tune-target', inputs({ 'kernel-tuning': 'off' }));
    expect(JSON.parse(r.outputs.tuning).items.map((i: { name: string }) => i.name)).toContain('checkpoint_timeout');
    const conf = path.join(pg().dataDir, 'postgresql.conf');
    const original = readFileSync(conf, 'utf8');
    try {
      writeFileSync(conf, original + "\ncheckpoint_timeout = '7min'\n");
      await run('revert', { ...inputs(), tuning: r.outputs.tuning });
      const [{ v }] = await pg().query<{ v: string }>("SELECT current_setting('checkpoint_timeout') AS v");
      expect(v).toBe('5min');
      expect(autoConf()).toMatch(/^checkpoint_timeout = '5min'$/m);
    } finally {
      writeFileSync(conf, original);
      await pg().query('ALTER SYSTEM RESET checkpoint_timeout');
      await pg().query('SELECT pg_reload_conf()');
    }
  });
});
