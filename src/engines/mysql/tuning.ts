/**
 * The MySQL/MariaDB catch-up profile. Relaxed durability while catching up
 * (innodb_flush_log_at_trx_commit=2, sync_binlog=0) is what makes a replica apply fast; cutover
 * restores both before the target takes writes. The binlog stays on: log_bin is not dynamic, and
 * rollback needs the target's binlog, so sync_binlog=0 is the relaxation rather than skip-log-bin.
 */
import type { Tuning, TuningItem, TuningPlan, TuningResources } from '../engine.js';
import { diskType, type DiskType } from '../../tuning/disk.js';
import { formatBytes } from '../../log.js';
import { InputError, UserError } from '../../errors.js';
import { variables } from './connect.js';
import type { Flavor, FlavorName } from './flavor.js';
import { CONFIG_CHECK, configFileCheck, defaultConfigFile } from './option-files.js';
import type { MySession } from './session.js';

const MB = 1024 * 1024;

export const MY_TUNABLE = [
  'innodb_flush_log_at_trx_commit',
  'sync_binlog',
  'innodb_buffer_pool_size',
  'innodb_log_buffer_size',
  'innodb_read_io_threads',
  'innodb_write_io_threads',
  'innodb_io_capacity',
  'innodb_io_capacity_max',
  'innodb_flush_neighbors',
] as const;

/** innodb_flush_log_at_trx_commit and sync_binlog: the value at which an acknowledged commit survives a crash. */
export const DURABLE = '1';
export const DURABILITY_SETTINGS = ['innodb_flush_log_at_trx_commit', 'sync_binlog'] as const;

const IO_CAPACITY: Record<DiskType, number> = { nvme: 10000, ssd: 2000, rotational: 200, unknown: 1000 };

/** Variables whose runtime change this flavor refuses: they go to the option file and apply at the next start. */
function restartOnly(flavor: FlavorName): string[] {
  return flavor === 'mariadb'
    ? ['innodb_log_buffer_size', 'innodb_read_io_threads', 'innodb_write_io_threads']
    : ['innodb_read_io_threads', 'innodb_write_io_threads'];
}

export interface MyResources {
  memoryBytes: number;
  cpus: number;
  disk: DiskType;
}

/** The catch-up profile for a target with these resources; `overrides` replace computed values. */
export function planMysqlTuning(current: Record<string, string>, flavor: FlavorName, r: MyResources, overrides: Record<string, string> = {}): TuningItem[] {
  const items: TuningItem[] = [];
  const add = (name: string, computed: string, reason: string, relaxesDurability: boolean) => {
    const o = overrides[name];
    const value = o ?? computed;
    const cur = current[name];
    if (cur === undefined) return;
    const why = o === undefined ? reason : `set by tuning-overrides (zdm would choose ${computed}: ${reason})`;
    const applies = restartOnly(flavor).includes(name) ? 'restart' : 'reload';
    const item: TuningItem = { name, original: cur, value, reason: why, applies, relaxesDurability, revertAtCutover: relaxesDurability };
    if (relaxesDurability && cur !== DURABLE) {
      // Already relaxed (an earlier tune-target whose output is lost, or the server's own
      // configuration, e.g. MariaDB's default sync_binlog = 0): whatever the past, the new primary
      // must end up durable, also after a restart, so the durable value goes into the option file.
      Object.assign(item, { original: DURABLE, current: cur, persistedOriginal: true });
      item.reason += `. It is ${cur} already: cutover and revert set ${DURABLE}, the durable value, and keep it in the option file`;
    } else if (cur === value) return;
    items.push(item);
  };
  const { memoryBytes, cpus, disk } = r;
  add(
    'innodb_flush_log_at_trx_commit',
    '2',
    'write the redo log at each commit but flush it once a second while catching up; restored to 1 before the target takes writes',
    true,
  );
  add(
    'sync_binlog',
    '0',
    'let the OS flush the binlog while catching up (the binlog stays on for rollback); restored to 1 before the target takes writes',
    true,
  );
  const pool = Math.max(128 * MB, Math.floor((memoryBytes * 0.6) / (128 * MB)) * 128 * MB);
  add('innodb_buffer_pool_size', String(pool), `about 60% of the target's ${formatBytes(memoryBytes)} RAM, in 128 MB chunks`, false);
  add('innodb_log_buffer_size', String(64 * MB), 'large transactions from the source apply without flushing the log buffer midway', false);
  const threads = String(Math.min(16, Math.max(4, cpus)));
  add('innodb_read_io_threads', threads, `one per CPU (${cpus}), 4-16: read-ahead and page reads of the replica's apply`, false);
  add('innodb_write_io_threads', threads, `one per CPU (${cpus}), 4-16: background page flushing keeps up with the apply`, false);
  const io = IO_CAPACITY[disk];
  const diskName = disk === 'unknown' ? 'an unknown disk (assumed SSD-like; set target-disk-type)' : `a ${disk} disk`;
  add('innodb_io_capacity', String(io), `${io} background flushing IOPS for ${diskName}`, false);
  add('innodb_io_capacity_max', String(io * 2), `twice innodb_io_capacity (${io} for ${diskName}), for flushing bursts`, false);
  add(
    'innodb_flush_neighbors',
    disk === 'rotational' ? '1' : '0',
    disk === 'rotational'
      ? 'flush neighbouring pages together: saves seeks on a spinning disk'
      : `no seeks to save on ${diskName}: flush only the pages needed`,
    false,
  );
  return items;
}

export const OPTION_FILE_HEADER = '# Written by zdm tune-target: the catch-up profile of a migration target.';

/** The option file with the plan, so that it holds across restarts (seed-replica restarts the target). */
export function optionFile(items: TuningItem[]): string {
  const lines = [OPTION_FILE_HEADER, '# cutover sets the relaxed-durability lines back to their durable value; delete this file to drop the rest.', '[mysqld]'];
  for (const i of items) lines.push(`# ${i.reason}`, `${i.name} = ${i.value}`);
  return lines.join('\n') + '\n';
}

const settingOf = (line: string) => (/^\s*[\w-]+\s*=/.test(line) ? line.split('=')[0].trim().replace(/-/g, '_') : undefined);

const KEEP_DURABLE = '# restored by zdm (cutover or revert): the durable value, kept across restarts';

/**
 * zdm's option file after reverting `items`: their lines go, except where the original must be
 * persisted (a durability setting the server's own configuration leaves relaxed), which gets the
 * original. Undefined when no setting is left, so the file goes.
 */
export function revertedOptionFile(text: string, items: TuningItem[]): string | undefined {
  const byName = new Map(items.map((i) => [i.name, i]));
  const kept = text.split('\n').filter((l) => {
    const n = settingOf(l);
    return n === undefined || !byName.has(n);
  });
  const persist = items.filter((i) => i.persistedOriginal);
  const out = kept.filter((l) => l !== KEEP_DURABLE);
  if (persist.length) {
    if (!out.some((l) => l.trim() === '[mysqld]')) out.push('[mysqld]');
    while (out.length && out[out.length - 1] === '') out.pop();
    out.push(KEEP_DURABLE, ...persist.map((i) => `${i.name} = ${i.original}`), '');
  }
  return out.some((l) => settingOf(l) !== undefined) ? out.join('\n') : undefined;
}

/** The durability settings zdm's option file relaxes (a line with a value other than the durable one). */
export function relaxedInOptionFile(text: string): Set<string> {
  const names = new Set<string>();
  for (const l of text.split('\n')) {
    const n = settingOf(l);
    if (n && (DURABILITY_SETTINGS as readonly string[]).includes(n) && l.split('=')[1].trim() !== DURABLE) names.add(n);
  }
  return names;
}

/** The option file tune-target writes: target-config-file, or the flavor's default. */
export function configFile(s: MySession, flavor: Flavor): string {
  return s.inputs.targetConfigFile || defaultConfigFile(flavor.name);
}

/** tune-target's statements: SET GLOBAL for what reloads, zdm's own option file for what must survive a restart. */
export function myTuning(s: MySession): Tuning {
  return {
    tunable: MY_TUNABLE,
    plan: (r) => planTuning(s, r),
    apply: (plan) => applyTuning(s, plan),
    revert: (items) => revertTuning(s, items),
    relaxedDurability: () => relaxedDurability(s),
  };
}

async function planTuning(s: MySession, r: TuningResources): Promise<TuningPlan> {
  const t = await s.target();
  const flavor = await s.flavor();
  const current = await variables(t, [...MY_TUNABLE, 'datadir', 'pid_file']);
  for (const [name, value] of Object.entries(r.overrides ?? {})) {
    if ((MY_TUNABLE as readonly string[]).includes(name) && !/^\d+$/.test(value))
      throw new InputError(
        'tuning-overrides',
        `gives ${name} the value ${JSON.stringify(value)}: MySQL/MariaDB settings take a whole number (bytes for sizes)`,
      );
  }
  await refuseForeignOptionFile(s);
  await refuseUnreadOptionFile(s, current.pid_file, current.datadir);
  const disk = r.disk ?? (await diskType(s.ctx.targetHost, current.datadir));
  const items = planMysqlTuning(current, flavor.name, { memoryBytes: r.memoryBytes, cpus: r.cpus, disk }, r.overrides);
  return { engine: s.inputs.engine, memoryBytes: r.memoryBytes, cpus: r.cpus, disk, items };
}

async function applyTuning(s: MySession, plan: TuningPlan): Promise<void> {
  await writeOptionFile(s, plan.items);
  for (const i of plan.items.filter((x) => x.applies === 'reload')) {
    await setGlobals(s, [[i.name, i.value]]).catch((e: Error) => {
      throw new UserError(
        `the target refused ${i.name} = ${i.value}: ${e.message}${i.reason.startsWith('set by tuning-overrides') ? '. Correct it in tuning-overrides' : ''}`,
        { cause: e },
      );
    });
  }
}

async function revertTuning(s: MySession, items: TuningItem[]): Promise<void> {
  await setGlobals(
    s,
    items.filter((i) => i.applies === 'reload').map((i) => [i.name, i.original]),
  );
  // The option file keeps what is not reverted; without anything left it goes.
  const host = s.ctx.targetHost;
  const file = configFile(s, await s.flavor());
  // A durable value that must survive a restart goes into zdm's file, even one deleted since.
  const before = (await host.exists(file)) ? await host.readFile(file) : `${OPTION_FILE_HEADER}\n[mysqld]\n`;
  if (!before.startsWith(OPTION_FILE_HEADER)) {
    s.ctx.log.warn(`${file} is not the option file zdm wrote (it was replaced since tune-target): left as it is`);
    return;
  }
  const text = revertedOptionFile(before, items);
  try {
    if (text !== undefined) await host.writeFile(file, text, { mode: 0o644 });
    else if (await host.exists(file)) await host.remove(file);
  } catch (e) {
    const durable = items.filter((i) => i.persistedOriginal).map((i) => `${i.name} = ${i.original}`);
    s.ctx.log.warn(
      `could not update zdm's option file ${file} (${(e as Error).message}): the restored values hold until the server restarts${durable.length ? `. Put ${durable.join(', ')} into the server's configuration` : ''}`,
    );
  }
}

async function relaxedDurability(s: MySession): Promise<TuningItem[]> {
  const host = s.ctx.targetHost;
  const file = configFile(s, await s.flavor());
  if (!(await host.exists(file))) return [];
  const text = await host.readFile(file);
  if (!text.startsWith(OPTION_FILE_HEADER)) return [];
  const persisted = relaxedInOptionFile(text);
  const current = await variables(await s.target(), [...DURABILITY_SETTINGS]);
  return DURABILITY_SETTINGS.filter((n) => persisted.has(n) || current[n] !== DURABLE).map((name) => ({
    name,
    original: DURABLE,
    value: current[name],
    reason: `relaxed by zdm's option file ${file}; without a tuning input cutover sets the durable value`,
    applies: 'reload',
    relaxesDurability: true,
    revertAtCutover: true,
    // What the server's own configuration says is unknown here: the durable value stays in zdm's file.
    persistedOriginal: true,
  }));
}

/** tune-target owns its option file: it never overwrites (and revert never edits) a file of the user's. */
async function refuseForeignOptionFile(s: MySession): Promise<void> {
  const host = s.ctx.targetHost;
  const file = configFile(s, await s.flavor());
  if ((await host.exists(file)) && !(await host.readFile(file)).startsWith(OPTION_FILE_HEADER)) {
    throw new InputError(
      'target-config-file',
      `names ${file}, which exists and was not written by zdm: tune-target would replace it. Name a file of zdm's own in a directory the server includes (!includedir), e.g. 99-zdm-migration.cnf. Nothing was changed.`,
    );
  }
}

/** A file the server never reads would lose the profile (and the durable values cutover keeps) at the next restart. */
async function refuseUnreadOptionFile(s: MySession, pidFile: string, dataDir: string): Promise<void> {
  const file = configFile(s, await s.flavor());
  const c = await configFileCheck(s.ctx.targetHost, file, pidFile, dataDir, false);
  if (c.status === 'fail') throw new InputError('target-config-file', `names a file the server does not read: ${c.detail} Nothing was changed.`);
  if (c.status === 'warn') s.ctx.log.warn(`${CONFIG_CHECK}: ${c.detail}`);
}

async function writeOptionFile(s: MySession, items: TuningItem[]): Promise<void> {
  if (items.length === 0) return;
  const file = configFile(s, await s.flavor());
  try {
    await s.ctx.targetHost.writeFile(file, optionFile(items), { mode: 0o644 });
  } catch (e) {
    throw new UserError(
      `cannot write the option file ${file} on the target (${(e as Error).message}): set target-config-file to a file the server reads (an !includedir directory of its configuration)`,
      { cause: e },
    );
  }
}

async function setGlobals(s: MySession, pairs: [string, string][]): Promise<void> {
  const t = await s.target();
  for (const [name, value] of pairs) {
    if (!(MY_TUNABLE as readonly string[]).includes(name)) throw new UserError(`input tuning names a setting zdm does not manage: ${name}`);
    if (!/^\d+$/.test(value)) throw new UserError(`input tuning has a value zdm did not write for ${name}: ${JSON.stringify(value)}`);
    await t.query(`SET GLOBAL ${name} = ${value}`);
  }
}
