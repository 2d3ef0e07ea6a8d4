/**
 * Which seed method a MySQL/MariaDB migration uses (input `method`), and why. `auto` takes the
 * physical copy only where it can work: the backup tool on the source host can read the source's
 * data directory, the target host has the tools to prepare it, and both servers run the same
 * release series (a physical copy carries the source's on-disk format). Anything else is copied
 * logically, through SQL.
 */
import * as path from 'node:path';
import type { Host } from '../../hosts/host.js';
import { toolOn } from './checks/context.js';
import type { SeedResult, TuningPlan } from '../engine.js';
import { facts, seedMysql } from './seed.js';
import { seedLogically } from './logical-seed.js';
import { cloneObstacles, seedByClone } from './clone.js';
import type { Flavor } from './flavor.js';
import type { MySession } from './session.js';

export type SeedMethod = 'physical' | 'logical';

export interface ResolvedMethod {
  method: SeedMethod;
  /** How: MySQL's CLONE plugin, the streamed backup (mariadb-backup, XtraBackup), or a dump. */
  tool: 'clone' | 'backup' | 'dump';
  /** One sentence: why this method, printed and kept in the summary. */
  reason: string;
}

/** The release series ("10.11", "8.0") of a VERSION() string. */
export const series = (version: string): string => /^(\d+\.\d+)/.exec(version)?.[1] ?? version;

/** The backup and stream tools a physical copy needs, by flavor: [backup names], [extractor names], Debian package. */
export function backupToolNames(f: Flavor): { backup: string[]; extract: string[]; pkg: string } {
  return f.name === 'mariadb'
    ? { backup: ['mariadb-backup', 'mariabackup'], extract: ['mbstream'], pkg: 'mariadb-backup' }
    : { backup: ['xtrabackup'], extract: ['xbstream'], pkg: 'percona-xtrabackup-80 (or -84)' };
}

/** Whether the source host's user can read the InnoDB system tablespace in `dir` (what the backup opens first). */
async function dataDirReadable(host: Host, dir: string): Promise<boolean> {
  const r = await host.run(['test', '-r', path.join(dir, 'ibdata1')]).catch(() => undefined);
  return r?.code === 0;
}

/** Why a physical copy cannot work here, or undefined when it can. */
async function physicalObstacle(s: MySession): Promise<string | undefined> {
  const [sf, tf] = await Promise.all([facts(await s.source()), facts(await s.target())]);
  if (series(sf.version) !== series(tf.version) || sf.flavor.name !== tf.flavor.name)
    return `the source runs ${sf.version} and the target ${tf.version}: a physical copy needs the same release series on both, a logical copy crosses versions`;
  const tools = backupToolNames(sf.flavor);
  const where = s.ctx.ssh ? `the source host (${s.inputs.sourceSshHost})` : 'the source host (this machine)';
  if (!(await toolOn(s.ctx.sourceHost, tools.backup))) return `${tools.backup[0]} is not installed on ${where}`;
  const dir = s.inputs.sourceDataDir || sf.vars.datadir;
  if (!(await dataDirReadable(s.ctx.sourceHost, dir)))
    return `the source's data directory ${dir} cannot be read on ${where} (no readable ibdata1 there: a managed service, another machine, or no permission)`;
  if (!(await toolOn(s.ctx.targetHost, tools.backup)) || !(await toolOn(s.ctx.targetHost, tools.extract)))
    return `${tools.backup[0]} and ${tools.extract[0]} are not both installed on the target host`;
  return undefined;
}

const BY_CLONE = 'by the CLONE plugin (the target pulls the InnoDB files over the MySQL protocol)';

/**
 * MySQL: CLONE where it applies, else XtraBackup where it can work, else logical. MariaDB has no
 * CLONE: mariadb-backup, else logical. method: physical on MySQL takes CLONE unless only XtraBackup
 * works (the checks then name what CLONE lacks).
 */
async function resolve(s: MySession): Promise<ResolvedMethod> {
  const given = s.inputs.method;
  if (given === 'logical') return { method: 'logical', tool: 'dump', reason: 'method: logical was given' };
  const mysql = (await s.flavor()).name !== 'mariadb';
  const cloneObstacle = mysql ? (await cloneObstacles(s))[0] : 'MariaDB has no CLONE plugin';
  if (given === 'physical') {
    if (!mysql) return { method: 'physical', tool: 'backup', reason: 'method: physical was given' };
    if (!cloneObstacle) return { method: 'physical', tool: 'clone', reason: `method: physical was given: ${BY_CLONE}` };
    const backup = await physicalObstacle(s);
    return backup
      ? { method: 'physical', tool: 'clone', reason: `method: physical was given: ${BY_CLONE}` }
      : { method: 'physical', tool: 'backup', reason: `method: physical was given: by xtrabackup (CLONE cannot: ${cloneObstacle})` };
  }
  if (!cloneObstacle)
    return { method: 'physical', tool: 'clone', reason: `method: auto chose physical ${BY_CLONE}: both servers run the same series with the plugin active` };
  const obstacle = await physicalObstacle(s);
  const noClone = mysql ? `; CLONE cannot: ${cloneObstacle}` : '';
  return obstacle
    ? { method: 'logical', tool: 'dump', reason: `method: auto chose logical: ${obstacle}${noClone}` }
    : {
        method: 'physical',
        tool: 'backup',
        reason: `method: auto chose physical: the backup tool reads the source's data directory and both servers run the same series${noClone}`,
      };
}

const resolved = new WeakMap<MySession, Promise<ResolvedMethod>>();

/** The method for this session, worked out once (the checks and the seed share the answer). */
export function seedMethod(s: MySession): Promise<ResolvedMethod> {
  let r = resolved.get(s);
  if (!r) {
    r = resolve(s);
    resolved.set(s, r);
  }
  return r;
}

/** seed-replica's copy by the resolved method: the streamed physical backup, or the logical copy. */
export async function seedWithMethod(s: MySession, plan: TuningPlan | undefined): Promise<SeedResult> {
  const m = await seedMethod(s);
  s.ctx.log.info(m.reason);
  const r = m.tool === 'dump' ? await seedLogically(s) : m.tool === 'clone' ? await seedByClone(s, await s.flavor()) : await seedMysql(s, plan);
  return { ...r, method: m.method, tool: r.tool ?? m.tool };
}
