import { describe, expect, it } from 'vitest';
import { planKernel, dropinText, kernelPlanProblem, sysctlPath, type KernelPlan } from '../../src/tuning/sysctl.js';
import { checkOverrides, parseOverrides, pick } from '../../src/tuning/overrides.js';
import { isNotPermitted } from '../../src/tuning/kernel-tuner.js';
import { planPostgresTuning, SWITCH_RETRY_INTERVAL, TUNABLE } from '../../src/engines/postgres/tuning.js';
import { MY_TUNABLE, optionFile, planMysqlTuning, relaxedInOptionFile, revertedOptionFile } from '../../src/engines/mysql/tuning.js';

const GB = 1024 ** 3;
const by = <T extends { name: string }>(items: T[]) => Object.fromEntries(items.map((i) => [i.name, i]));
const kby = (items: ReturnType<typeof planKernel>) => Object.fromEntries(items.map((i) => [i.key, i]));

const DEBIAN = {
  'net.core.rmem_max': '212992\n',
  'net.core.wmem_max': '212992\n',
  'net.ipv4.tcp_rmem': '4096\t131072\t6291456\n',
  'net.ipv4.tcp_wmem': '4096\t16384\t4194304\n',
  'net.ipv4.tcp_syncookies': '1\n',
  'net.ipv4.tcp_tw_reuse': '2\n',
};

describe('kernel plan', () => {
  it('raises buffers to 16 MiB, keeps larger numbers, and records the exact original text', () => {
    const k = kby(planKernel(DEBIAN));
    expect(k['net.core.rmem_max']).toMatchObject({ original: '212992\n', value: '16777216', change: true });
    // The default 131072 is above 87380: kept, never lowered.
    expect(k['net.ipv4.tcp_rmem']).toMatchObject({ original: '4096\t131072\t6291456\n', value: '4096 131072 16777216', change: true });
    expect(k['net.ipv4.tcp_wmem'].value).toBe('4096 65536 16777216');
    expect(k['net.ipv4.tcp_syncookies']).toMatchObject({ change: false, value: '1' });
    expect(k['net.ipv4.tcp_syncookies'].reason).toMatch(/already 1: kept/);
    expect(k['net.ipv4.tcp_tw_reuse']).toMatchObject({ change: true, value: '1' });
    for (const i of Object.values(k)) expect(i.reason.length).toBeGreaterThan(40);
  });
  it('never lowers a buffer already above 16 MiB', () => {
    const k = kby(planKernel({ ...DEBIAN, 'net.core.rmem_max': '67108864\n', 'net.ipv4.tcp_syncookies': '2\n' }));
    expect(k['net.core.rmem_max']).toMatchObject({ change: false, value: '67108864' });
    expect(k['net.ipv4.tcp_syncookies']).toMatchObject({ change: false, value: '2' });
  });
  it('skips settings the kernel lacks and values of an unexpected form', () => {
    const k = kby(planKernel({ ...DEBIAN, 'net.ipv4.tcp_tw_reuse': null, 'net.ipv4.tcp_rmem': 'banana\n' }));
    expect(k['net.ipv4.tcp_tw_reuse']).toMatchObject({ original: null, change: false });
    expect(k['net.ipv4.tcp_tw_reuse'].reason).toMatch(/no such setting/);
    expect(k['net.ipv4.tcp_rmem'].change).toBe(false);
  });
  it('takes overrides, even below the computed value, and says so', () => {
    const k = kby(planKernel(DEBIAN, { 'net.core.rmem_max': '8388608', 'net.ipv4.tcp_rmem': '4096 87380 33554432' }));
    expect(k['net.core.rmem_max']).toMatchObject({ value: '8388608', change: true });
    expect(k['net.core.rmem_max'].reason).toMatch(/^set by tuning-overrides \(zdm would choose 16777216/);
    expect(k['net.ipv4.tcp_rmem'].value).toBe('4096 87380 33554432');
  });
  it('writes a drop-in with the changed values only, each under its reason', () => {
    const text = dropinText(planKernel(DEBIAN));
    expect(text).toContain('\nnet.core.rmem_max = 16777216\n');
    expect(text).toContain('\nnet.ipv4.tcp_rmem = 4096 131072 16777216\n');
    expect(text).not.toContain('tcp_syncookies =');
    expect(text.split('\n').filter((l) => l.startsWith('# ')).length).toBe(6);
  });
  it('maps names to paths and validates a plan that comes back as input', () => {
    expect(sysctlPath('/proc/sys/', 'net.ipv4.tcp_rmem')).toBe('/proc/sys/net/ipv4/tcp_rmem');
    const plan: KernelPlan = { root: '/proc/sys', dropin: '/etc/sysctl.d/x.conf', dropinOriginal: null, dropinWritten: true, items: planKernel(DEBIAN) };
    expect(kernelPlanProblem(plan)).toBeUndefined();
    expect(kernelPlanProblem({ ...plan, root: 'relative' })).toMatch(/absolute/);
    expect(kernelPlanProblem({ ...plan, items: [{ ...plan.items[0], key: 'kernel.core_pattern' }] })).toMatch(/unknown setting/);
    expect(kernelPlanProblem({ ...plan, items: [{ ...plan.items[0], applied: true, original: '|/bin/evil' }] })).toMatch(/bad original/);
  });
  it('tells refusals from other failures', () => {
    expect(isNotPermitted('sh: 1: cannot create /proc/sys/net/core/rmem_max: Read-only file system')).toBe(true);
    expect(isNotPermitted('sudo: a password is required')).toBe(true);
    expect(isNotPermitted('/proc/sys/net/core/rmem_max reads "1" after writing "2"')).toBe(false);
  });
});

describe('tuning-overrides', () => {
  it('parses name=value lines with comments, and JSON', () => {
    expect(parseOverrides('# mine\ninnodb_io_capacity = 4000\n\nnet.core.rmem_max=33554432\n')).toEqual({
      innodb_io_capacity: '4000',
      'net.core.rmem_max': '33554432',
    });
    expect(parseOverrides('{"random_page_cost": 1.5}')).toEqual({ random_page_cost: '1.5' });
    expect(parseOverrides('')).toEqual({});
  });
  it('refuses malformed text, unmanaged names and kernel values of the wrong form', () => {
    expect(() => parseOverrides('innodb_io_capacity 4000')).toThrow(/input tuning-overrides line 1 .* is not name=value/);
    expect(() => parseOverrides('{bad json')).toThrow(/not valid JSON/);
    expect(() => checkOverrides({ work_mem: '1GB' }, TUNABLE, 'postgres')).toThrow(
      /names work_mem, which zdm does not manage for postgres. It manages: max_wal_size/,
    );
    expect(() => checkOverrides({ innodb_io_capacity: '1' }, TUNABLE, 'postgres')).toThrow(/innodb_io_capacity/);
    expect(() => checkOverrides({ 'net.ipv4.tcp_rmem': '16777216' }, MY_TUNABLE, 'mariadb')).toThrow(/net.ipv4.tcp_rmem needs 3 whole number/);
    expect(() => checkOverrides({ innodb_io_capacity: '4000', 'net.core.rmem_max': '1' }, MY_TUNABLE, 'mariadb')).not.toThrow();
    expect(pick({ innodb_io_capacity: '4000', 'net.core.rmem_max': '1' }, MY_TUNABLE)).toEqual({ innodb_io_capacity: '4000' });
  });
});

describe('engine sizing from CPUs and disk', () => {
  const pg = {
    max_wal_size: '1GB',
    checkpoint_timeout: '5min',
    checkpoint_completion_target: '0.9',
    shared_buffers: '128MB',
    effective_cache_size: '4GB',
    effective_io_concurrency: '1',
    maintenance_io_concurrency: '10',
    random_page_cost: '4',
    max_worker_processes: '8',
    max_parallel_workers: '8',
    max_parallel_workers_per_gather: '2',
    max_parallel_maintenance_workers: '2',
  };
  it('PostgreSQL: disk type drives I/O concurrency and page cost, CPUs the workers', () => {
    const nvme = by(planPostgresTuning(pg, { memoryBytes: 64 * GB, cpus: 32, disk: 'nvme', freeDiskBytes: 1000 * GB }));
    expect(nvme.effective_io_concurrency.value).toBe('256');
    expect(nvme.maintenance_io_concurrency.reason).toMatch(/WAL replay prefetch/);
    expect(nvme.random_page_cost.value).toBe('1.1');
    expect(nvme.max_worker_processes).toMatchObject({ value: '32', applies: 'restart' });
    expect(nvme.max_parallel_workers.value).toBe('32');
    expect(nvme.max_parallel_workers_per_gather.value).toBe('4');
    const hdd = by(planPostgresTuning(pg, { memoryBytes: 4 * GB, cpus: 2, disk: 'rotational', freeDiskBytes: 100 * GB }));
    expect(hdd.effective_io_concurrency.value).toBe('2');
    expect(hdd.random_page_cost).toBeUndefined(); // already 4
    // Never fewer worker processes than now: a standby needs at least its primary's.
    expect(hdd.max_worker_processes).toBeUndefined();
    expect(hdd.max_parallel_workers.value).toBe('2');
    expect(hdd.max_parallel_workers_per_gather.value).toBe('1');
    const unknown = by(planPostgresTuning(pg, { memoryBytes: 4 * GB, cpus: 2, disk: 'unknown', freeDiskBytes: 100 * GB }));
    expect(unknown.effective_io_concurrency).toBeUndefined();
  });
  it('PostgreSQL: wal_retrieve_retry_interval is lowered until cutover has promoted, and restored there', () => {
    // A standby whose source stopped sleeps this long between WAL source retries, and a promote
    // request can wait the whole sleep out: 5 s by default (the cutover stall this pins).
    const items = by(planPostgresTuning({ ...pg, wal_retrieve_retry_interval: '5s' }, { memoryBytes: 4 * GB, cpus: 2, disk: 'ssd', freeDiskBytes: 100 * GB }));
    expect(items.wal_retrieve_retry_interval).toMatchObject({
      original: '5s',
      value: SWITCH_RETRY_INTERVAL,
      applies: 'reload',
      revertAtCutover: true,
      relaxesDurability: false,
    });
    expect(items.wal_retrieve_retry_interval.reason).toMatch(/promotion/);
    expect(TUNABLE).toContain('wal_retrieve_retry_interval');
    // An operator can keep the default: then nothing is changed.
    const kept = by(
      planPostgresTuning(
        { ...pg, wal_retrieve_retry_interval: '5s' },
        { memoryBytes: 4 * GB, cpus: 2, disk: 'ssd', freeDiskBytes: 100 * GB },
        { wal_retrieve_retry_interval: '5s' },
      ),
    );
    expect(kept.wal_retrieve_retry_interval).toBeUndefined();
  });
  it('PostgreSQL: an override replaces a computed value and one zdm would not set', () => {
    const items = by(
      planPostgresTuning(pg, { memoryBytes: 4 * GB, cpus: 2, disk: 'unknown', freeDiskBytes: 100 * GB }, { shared_buffers: '512MB', random_page_cost: '1.5' }),
    );
    expect(items.shared_buffers.value).toBe('512MB');
    expect(items.shared_buffers.reason).toMatch(/^set by tuning-overrides \(zdm would choose 1GB: 25%/);
    expect(items.random_page_cost.value).toBe('1.5');
  });
  const my = {
    innodb_flush_log_at_trx_commit: '1',
    sync_binlog: '1',
    innodb_buffer_pool_size: String(128 * 1024 * 1024),
    innodb_log_buffer_size: String(16 * 1024 * 1024),
    innodb_read_io_threads: '4',
    innodb_write_io_threads: '4',
    innodb_io_capacity: '200',
    innodb_io_capacity_max: '2000',
    innodb_flush_neighbors: '1',
  };
  it('MySQL/MariaDB: CPUs size the I/O threads, the disk the I/O capacity and neighbour flushing', () => {
    const a = by(planMysqlTuning(my, 'mariadb', { memoryBytes: 16 * GB, cpus: 12, disk: 'nvme' }));
    expect(a.innodb_read_io_threads).toMatchObject({ value: '12', applies: 'restart' });
    expect(a.innodb_write_io_threads.value).toBe('12');
    expect(a.innodb_io_capacity.value).toBe('10000');
    expect(a.innodb_io_capacity_max.value).toBe('20000');
    expect(a.innodb_flush_neighbors.value).toBe('0');
    const b = by(planMysqlTuning(my, 'mysql84', { memoryBytes: 2 * GB, cpus: 2, disk: 'rotational' }, { innodb_io_capacity: '300' }));
    expect(b.innodb_read_io_threads).toBeUndefined(); // 4 is the floor and already set
    expect(b.innodb_flush_neighbors).toBeUndefined();
    expect(b.innodb_io_capacity).toMatchObject({ value: '300' });
    expect(b.innodb_io_capacity.reason).toMatch(/tuning-overrides/);
  });
  it('MySQL/MariaDB: durability already relaxed (an earlier run) is still restored to 1, never recorded as the original', () => {
    const items = by(
      planMysqlTuning({ ...my, innodb_flush_log_at_trx_commit: '2', sync_binlog: '0' }, 'mariadb', { memoryBytes: 2 * GB, cpus: 2, disk: 'ssd' }),
    );
    expect(items.innodb_flush_log_at_trx_commit).toMatchObject({ original: '1', value: '2', relaxesDurability: true, revertAtCutover: true });
    expect(items.innodb_flush_log_at_trx_commit.reason).toMatch(
      /It is 2 already: cutover and revert set 1, the durable value, and keep it in the option file$/,
    );
    // The plan shows the value it found; the durable value is what is restored, and persisted.
    expect(items.sync_binlog).toMatchObject({ original: '1', value: '0', current: '0', persistedOriginal: true });
    // Overridden to the durable value: nothing to relax, nothing to restore.
    expect(by(planMysqlTuning(my, 'mariadb', { memoryBytes: 2 * GB, cpus: 2, disk: 'ssd' }, { sync_binlog: '1' })).sync_binlog).toBeUndefined();
  });
});

describe("MySQL/MariaDB: zdm's option file after a revert", () => {
  const plan = planMysqlTuning({ innodb_flush_log_at_trx_commit: '1', sync_binlog: '0', innodb_io_capacity: '200' }, 'mariadb', {
    memoryBytes: 2 * GB,
    cpus: 2,
    disk: 'ssd',
  });
  const text = optionFile(plan);
  const durability = plan.filter((i) => i.relaxesDurability);

  it('keeps the durable value of a setting the server leaves relaxed, drops the lines of the others', () => {
    const after = revertedOptionFile(text, durability)!;
    expect(after).toMatch(/^sync_binlog = 1$/m);
    expect(after).not.toMatch(/^innodb_flush_log_at_trx_commit =/m);
    expect(after).toMatch(/^innodb_io_capacity = 2000$/m);
    expect(relaxedInOptionFile(text)).toEqual(new Set(['innodb_flush_log_at_trx_commit', 'sync_binlog']));
    expect(relaxedInOptionFile(after)).toEqual(new Set());
    // Reverting again changes nothing; reverting everything leaves only the durable value.
    expect(revertedOptionFile(after, durability)).toBe(after);
    const all = revertedOptionFile(text, plan)!;
    expect(all.split('\n').filter((l) => /^\w+ =/.test(l))).toEqual(['sync_binlog = 1']);
  });

  it('goes when nothing is left', () => {
    const durable = planMysqlTuning({ innodb_flush_log_at_trx_commit: '1', sync_binlog: '1' }, 'mariadb', { memoryBytes: 2 * GB, cpus: 2, disk: 'ssd' });
    expect(revertedOptionFile(optionFile(durable), durable)).toBeUndefined();
  });
});
