/** The seed method and what it needs of the source: the method chosen, full row images, binlogs kept for the copy, non-InnoDB tables. */
import { ok, skip, verdict, warn, type CheckUnit } from '../../../checks/check.js';
import { formatBytes, formatSeconds } from '../../../log.js';
import { rows } from '../connect.js';
import { COPY_RATE, nonInnodbCost, nonInnodbTables } from '../logical-seed.js';
import { seedMethod } from '../method.js';
import { cloneObstacles, cloneTableObstacle } from '../clone.js';
import type { MyCheckContext } from './context.js';

/** The method seed-replica uses and why (method: auto decides here, before anything changes). */
export const seedMethodCheck: CheckUnit<MyCheckContext> = {
  id: 'seed-method',
  title: 'seed method',
  scopes: ['seed'],
  async run(c) {
    const m = await seedMethod(c.s);
    return ok(`${m.method}: ${m.reason}`);
  },
};

/**
 * Logical: the copy is rebuilt through SQL and may differ from the source in ways a row event with
 * only the key and the changed columns (MINIMAL) would paper over; with FULL images a differing row
 * stops replication with an error instead. A physical copy is byte-identical: MINIMAL only warns.
 */
export const binlogRowImage: CheckUnit<MyCheckContext> = {
  id: 'source-binlog-row-image',
  title: 'source binlog_row_image',
  scopes: ['seed'],
  async run(c) {
    const [{ v }] = await rows<{ v: string }>(await c.s.source(), 'SELECT @@binlog_row_image AS v');
    if (v === 'FULL') return ok('FULL');
    const { method } = await seedMethod(c.s);
    const fix = `set binlog_row_image = FULL on the source (SET GLOBAL binlog_row_image = 'FULL' and in its configuration; new sessions take it)`;
    if (method === 'physical') return warn(`${v}: a physical copy replicates correctly with it, but ${fix} to catch a diverging row early`);
    return verdict(
      false,
      `binlog_row_image is ${v}: the logical copy needs full row images, so that a row that differs on the copy stops replication instead of diverging silently. ${fix}.`,
    );
  },
};

/** The retention configured on the source in seconds (0: binlogs are never purged by age). */
async function retentionSeconds(c: MyCheckContext): Promise<{ seconds: number; names: string }> {
  const src = await c.s.source();
  const read = async (v: string) => (await rows<{ v: string }>(src, `SELECT @@${v} AS v`).catch(() => []))[0]?.v;
  const secs = await read('binlog_expire_logs_seconds');
  const days = await read('expire_logs_days');
  // MySQL 8.0 and MariaDB 10.6+: binlog_expire_logs_seconds wins when set; older MariaDB and 5.7 have only days.
  if (secs !== undefined && Number(secs) > 0) return { seconds: Number(secs), names: `binlog_expire_logs_seconds = ${secs}` };
  if (days !== undefined && Number(days) > 0) return { seconds: Number(days) * 86400, names: `expire_logs_days = ${days}` };
  return {
    seconds: 0,
    names: [secs !== undefined && 'binlog_expire_logs_seconds = 0', days !== undefined && 'expire_logs_days = 0'].filter(Boolean).join(', '),
  };
}

/**
 * The source must keep its binary logs from the copy's point until the replica has read them:
 * twice the copy's estimate at a conservative rate, plus an hour for starting and catching up.
 */
export const binlogRetention: CheckUnit<MyCheckContext> = {
  id: 'source-binlog-retention',
  title: 'source binlog retention',
  scopes: ['seed'],
  async run(c) {
    const { method } = await seedMethod(c.s);
    const bytes = await c.sourceBytes();
    const copy = bytes / COPY_RATE[method];
    const need = Math.ceil(2 * copy + 3600);
    const { seconds, names } = await retentionSeconds(c);
    const estimate = `the ${method} copy of ${formatBytes(bytes)} takes about ${formatSeconds(copy)} at a conservative ${formatBytes(COPY_RATE[method])}/s`;
    if (seconds === 0) return ok(`${names || 'no expiry'}: binlogs are not purged by age; ${estimate}`);
    return verdict(
      seconds >= need,
      seconds >= need
        ? `${names} (${formatSeconds(seconds)}); ${estimate}`
        : `${names} keeps binlogs ${formatSeconds(seconds)}, but ${estimate}: the replica would find its starting binlog purged. Keep them at least ${formatSeconds(need)}: SET GLOBAL binlog_expire_logs_seconds = ${need} (and in the source's configuration; on a managed service, its binlog retention setting) until cutover.`,
    );
  },
};

/** Named before the copy: outside InnoDB's snapshot, these are copied under a read lock. */
export const nonInnodb: CheckUnit<MyCheckContext> = {
  id: 'non-innodb-tables',
  title: 'non-InnoDB tables',
  scopes: ['seed'],
  async run(c) {
    const tables = await nonInnodbTables(await c.s.source());
    if (tables.length === 0) return ok('every table is InnoDB');
    const { method, tool } = await seedMethod(c.s);
    if (tool === 'clone') return verdict(false, (await cloneTableObstacle(await c.s.source()))!);
    if (method === 'physical')
      return ok(`${tables.length} non-InnoDB table(s): the physical backup copies their files under its backup lock (writes to them wait meanwhile)`);
    return warn(nonInnodbCost(tables));
  },
};

/** What CLONE needs of both servers (its table rule is the non-InnoDB row's). */
export const cloneCheck: CheckUnit<MyCheckContext> = {
  id: 'clone',
  title: 'CLONE',
  scopes: ['seed'],
  async run(c) {
    const m = await seedMethod(c.s);
    if (m.tool !== 'clone') return skip(m.method === 'logical' ? 'method: logical' : 'the physical copy is a streamed backup');
    const problems = await cloneObstacles(c.s, { tables: false });
    if (problems.length) return verdict(false, `${problems.join('; ')}.`);
    const [{ v }] = await rows<{ v: string }>(await c.s.source(), 'SELECT VERSION() AS v');
    return ok(
      `MySQL ${v} on both sides, the clone plugin active, BACKUP_ADMIN on the source, CLONE_ADMIN on the target, max_allowed_packet >= 2 MB; the target restarts after the copy (target-start-command)`,
    );
  },
};

/** The logical copy's dump sits in /tmp on the runner until it is loaded: about the size of the data. */
export const dumpSpace: CheckUnit<MyCheckContext> = {
  id: 'dump-space',
  title: 'room for the dump on the runner',
  scopes: ['seed'],
  async run(c) {
    if ((await seedMethod(c.s)).method !== 'logical') return skip('method: physical');
    const need = Math.ceil((await c.sourceBytes()) * 1.1) + 64 * 1024 * 1024;
    const free = await c.s.ctx.runnerHost.freeBytes('/tmp');
    return verdict(
      free >= need,
      `${formatBytes(free)} free in /tmp, the dump needs about ${formatBytes(need)}${free >= need ? '' : ': free space there (or give the runner a larger disk)'}`,
    );
  },
};
