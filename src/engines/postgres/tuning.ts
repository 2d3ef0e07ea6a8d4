/**
 * PostgreSQL catch-up settings for a standby target.
 *
 * A standby's WAL replay has no per-commit durability knob to relax (synchronous_commit only
 * matters once the server takes writes, and fsync=off would leave a target whose earlier writes
 * no later checkpoint makes durable). What speeds replay is fewer restartpoints (max_wal_size,
 * checkpoint_timeout) and a buffer cache sized to the machine. The catch-up settings are
 * reverted by cutover; the sizing settings are kept, as they suit the new primary too.
 */
import type { Tuning, TuningItem, TuningPlan, TuningResources } from '../engine.js';
import { diskType, type DiskType } from '../../tuning/disk.js';
import { formatBytes } from '../../log.js';
import { UserError } from '../../errors.js';
import { one, quoteIdent, quoteLiteral, rows } from './connect.js';
import type { PgSession } from './session.js';

const MB = 1024 * 1024;
const GB = 1024 * MB;

export const TUNABLE = [
  'max_wal_size',
  'checkpoint_timeout',
  'checkpoint_completion_target',
  'shared_buffers',
  'effective_cache_size',
  'effective_io_concurrency',
  'maintenance_io_concurrency',
  'random_page_cost',
  'max_worker_processes',
  'max_parallel_workers',
  'max_parallel_workers_per_gather',
  'max_parallel_maintenance_workers',
  'wal_retrieve_retry_interval',
] as const;

/** Settings that replay needs as large on the standby as on the primary, or it refuses to start. */
export const STANDBY_MINIMUMS = [
  'max_connections',
  'max_worker_processes',
  'max_wal_senders',
  'max_prepared_transactions',
  'max_locks_per_transaction',
] as const;

/** Concurrent prefetch requests a disk serves well: deep queues for NVMe, one or two for a spinning disk. */
const IO_CONCURRENCY: Record<Exclude<DiskType, 'unknown'>, number> = { nvme: 256, ssd: 200, rotational: 2 };

function pgSize(bytes: number): string {
  return bytes % GB === 0 ? `${bytes / GB}GB` : `${Math.floor(bytes / MB)}MB`;
}

/**
 * Kept low until cutover has promoted the target. Once the source stops, the standby's startup
 * process restarts its WAL receiver after each failed stream, at most once per
 * wal_retrieve_retry_interval (5 s by default). A promote request noticed while a restarted
 * receiver is still starting ends streaming, and the retry loop then sleeps out the rest of that
 * interval: no receiver process exits to wake it (PostgreSQL 15 xlogrecovery.c,
 * WaitForWALToBecomeAvailable). That was a 5 s promotion in about one cutover of ten.
 */
export const SWITCH_RETRY_INTERVAL = '100ms';
const SWITCH_RETRY_REASON =
  'a promotion waits out at most this retry sleep (5 s by default) once the source has stopped; a broken stream is also retried sooner while catching up';

export interface PgResources {
  memoryBytes: number;
  cpus: number;
  disk: DiskType;
  freeDiskBytes: number;
}

/** The catch-up plan for a target with these resources; `overrides` replace computed values. */
export function planPostgresTuning(current: Record<string, string>, r: PgResources, overrides: Record<string, string> = {}): TuningItem[] {
  const items: TuningItem[] = [];
  const add = (name: string, computed: string | undefined, reason: string, applies: TuningItem['applies'], revertAtCutover: boolean) => {
    const o = overrides[name];
    const value = o ?? computed;
    if (value === undefined || current[name] === undefined || current[name] === value) return;
    const why =
      o === undefined ? reason : `set by tuning-overrides (${computed === undefined ? 'zdm would leave it' : `zdm would choose ${computed}`}: ${reason})`;
    items.push({ name, original: current[name], value, reason: why, applies, relaxesDurability: false, revertAtCutover });
  };
  const { memoryBytes, cpus, disk, freeDiskBytes } = r;
  // WAL between restartpoints: a tenth of the free disk, between 2 GB and 16 GB.
  const walBytes = Math.min(16 * GB, Math.max(2 * GB, Math.floor(freeDiskBytes / 10 / GB) * GB));
  add(
    'max_wal_size',
    pgSize(walBytes),
    `fewer restartpoints while replaying a backlog (a tenth of the ${formatBytes(freeDiskBytes)} free on the target's disk, 2-16 GB)`,
    'reload',
    true,
  );
  add(
    'checkpoint_timeout',
    '30min',
    'restartpoints at most every 30 minutes while catching up; crash recovery of the standby may take longer meanwhile',
    'reload',
    true,
  );
  add('checkpoint_completion_target', '0.9', 'spreads restartpoint writes over the interval', 'reload', true);
  add('wal_retrieve_retry_interval', SWITCH_RETRY_INTERVAL, SWITCH_RETRY_REASON, 'reload', true);
  const shared = Math.max(128 * MB, Math.min(32 * GB, Math.floor((memoryBytes * 0.25) / MB) * MB));
  add(
    'shared_buffers',
    pgSize(shared),
    `25% of the target's ${formatBytes(memoryBytes)} RAM (takes effect when seed-replica starts the target)`,
    'restart',
    false,
  );
  const cache = Math.max(256 * MB, Math.floor((memoryBytes * 0.75) / MB) * MB);
  add('effective_cache_size', pgSize(cache), `75% of the target's ${formatBytes(memoryBytes)} RAM, for the planner once the target serves`, 'reload', false);
  planDisk(add, disk);
  planCpus(add, current, cpus);
  return items;
}

type Add = (name: string, computed: string | undefined, reason: string, applies: TuningItem['applies'], revertAtCutover: boolean) => void;

function planDisk(add: Add, disk: DiskType): void {
  const known = disk === 'unknown' ? undefined : disk;
  const unknown = 'the disk type is unknown: left as it is (set target-disk-type)';
  const io = known && String(IO_CONCURRENCY[known]);
  add('effective_io_concurrency', io, known ? `${io} concurrent prefetch reads suit a ${known} disk` : unknown, 'reload', false);
  add(
    'maintenance_io_concurrency',
    io,
    known ? `${io} concurrent reads for WAL replay prefetch (recovery_prefetch) and maintenance on a ${known} disk` : unknown,
    'reload',
    false,
  );
  const cost = known && (known === 'rotational' ? '4' : '1.1');
  add(
    'random_page_cost',
    cost,
    known
      ? known === 'rotational'
        ? 'a random read costs about 4 sequential ones on a spinning disk'
        : `a random read costs about as much as a sequential one on ${known === 'nvme' ? 'NVMe' : 'an SSD'}`
      : unknown,
    'reload',
    false,
  );
}

function planCpus(add: Add, current: Record<string, string>, cpus: number): void {
  // A standby refuses to start with fewer worker processes than its primary: never lower it.
  const workers = Math.max(Number(current.max_worker_processes) || 8, cpus);
  add(
    'max_worker_processes',
    String(workers),
    `at least one background worker per CPU (${cpus}); never lowered, as a standby needs as many as its primary`,
    'restart',
    false,
  );
  add('max_parallel_workers', String(Math.min(workers, cpus)), `parallel query workers: one per CPU (${cpus})`, 'reload', false);
  const half = String(Math.max(1, Math.min(4, Math.floor(cpus / 2))));
  add('max_parallel_workers_per_gather', half, `half the ${cpus} CPUs for one query (1-4), leaving the rest to other sessions`, 'reload', false);
  add('max_parallel_maintenance_workers', half, `half the ${cpus} CPUs for an index build (1-4)`, 'reload', false);
}

/** tune-target's statements: the plan read from pg_settings, ALTER SYSTEM to apply it and to take it back. */
export function pgTuning(s: PgSession): Tuning {
  return {
    tunable: TUNABLE,
    plan: (r) => planTuning(s, r),
    apply: (plan) => applyTuning(s, plan),
    revert: (items) => revertTuning(s, items),
  };
}

async function planTuning(s: PgSession, r: TuningResources): Promise<TuningPlan> {
  const t = await s.target();
  const current: Record<string, string> = {};
  const persisted = new Set<string>();
  const settings = await rows<{ name: string; v: string; sourcefile: string | null }>(
    t,
    'SELECT name, current_setting(name) AS v, sourcefile FROM pg_settings WHERE name = ANY($1)',
    [TUNABLE],
  );
  for (const row of settings) {
    current[row.name] = row.v;
    if (row.sourcefile?.endsWith('/postgresql.auto.conf')) persisted.add(row.name);
  }
  const { data_directory } = await one<{ data_directory: string }>(t, 'SELECT current_setting($1) AS data_directory', ['data_directory']);
  const host = s.ctx.targetHost;
  const free = await host.freeBytes(data_directory).catch(() => 20 * 1024 ** 3);
  const disk = r.disk ?? (await diskType(host, data_directory));
  const items = planPostgresTuning(current, { memoryBytes: r.memoryBytes, cpus: r.cpus, disk, freeDiskBytes: free }, r.overrides);
  for (const i of items) if (persisted.has(i.name)) i.persistedOriginal = true;
  return { engine: 'postgres', memoryBytes: r.memoryBytes, cpus: r.cpus, disk, items };
}

async function applyTuning(s: PgSession, plan: TuningPlan): Promise<void> {
  if (plan.items.length === 0) return;
  const t = await s.target();
  for (const i of plan.items) {
    await t.query(`ALTER SYSTEM SET ${managed(i.name)} = ${quoteLiteral(i.value)}`).catch((e: Error) => {
      throw new UserError(
        `the target refused ${i.name} = ${i.value}: ${e.message}${i.reason.startsWith('set by tuning-overrides') ? '. Correct it in tuning-overrides' : ''}`,
        { cause: e },
      );
    });
  }
  await t.query('SELECT pg_reload_conf()');
}

/**
 * Removes zdm's ALTER SYSTEM lines (or sets back an original that was itself set by ALTER
 * SYSTEM), reloads, and checks that each live setting reads its original again. Where the
 * configuration files now say otherwise (a seeded copy carries the source's), the original is
 * set explicitly. Settings that need a restart return to their original at the next start.
 */
async function revertTuning(s: PgSession, items: TuningItem[]): Promise<void> {
  if (items.length === 0) return;
  const t = await s.target();
  for (const i of items) {
    const name = managed(i.name);
    await t.query(i.persistedOriginal ? `ALTER SYSTEM SET ${name} = ${quoteLiteral(i.original)}` : `ALTER SYSTEM RESET ${name}`);
  }
  await t.query('SELECT pg_reload_conf()');
  const live = items.filter((i) => i.applies === 'reload');
  const differ = await waitSettings(s, live);
  if (differ.length === 0) return;
  for (const i of differ) await t.query(`ALTER SYSTEM SET ${managed(i.name)} = ${quoteLiteral(i.original)}`);
  await t.query('SELECT pg_reload_conf()');
  const still = await waitSettings(s, differ);
  if (still.length > 0)
    throw new UserError(
      `could not restore ${still.map((i) => `${i.name}=${i.original}`).join(', ')} on the target: check its configuration files and server log`,
    );
}

/** The items whose live value still differs from the original after a reload (polled for up to 3 s). */
async function waitSettings(s: PgSession, items: TuningItem[]): Promise<TuningItem[]> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const t = await s.target();
    const now = await rows<{ name: string; v: string }>(t, 'SELECT name, current_setting(name) AS v FROM pg_settings WHERE name = ANY($1)', [
      items.map((i) => i.name),
    ]);
    const v = new Map(now.map((r) => [r.name, r.v]));
    const differ = items.filter((i) => v.get(i.name) !== i.original);
    if (differ.length === 0 || Date.now() > deadline) return differ;
    await new Promise((res) => setTimeout(res, 100));
  }
}

function managed(name: string): string {
  if (!(TUNABLE as readonly string[]).includes(name)) throw new UserError(`input tuning names a setting zdm does not manage: ${name}`);
  return quoteIdent(name);
}
