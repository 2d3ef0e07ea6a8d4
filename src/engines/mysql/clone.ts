/**
 * The physical seed of MySQL without XtraBackup: the CLONE plugin (MySQL 8.0.17+). The target runs
 * `CLONE INSTANCE FROM` the source, which sends its InnoDB files over the MySQL protocol; the target
 * replaces its data with them and restarts. Without a monitor (mysqld_safe, systemd's restart) the
 * restart fails with error 3707 and the server stops: zdm then starts it with target-start-command.
 * Replication starts from the GTID set (or binlog position) performance_schema.clone_status records.
 */
import { SafetyError, UserError } from '../../errors.js';
import { lastLines } from '../../hosts/host.js';
import { formatBytes, formatSeconds, Progress } from '../../log.js';
import { targetStartCommand, targetStopCommand } from '../data-dir.js';
import type { SeedResult } from '../engine.js';
import { waitFor } from '../wait.js';
import { connectMy, one, rows, type MyConn } from './connect.js';
import { compareVersions, quoteString, type Flavor } from './flavor.js';
import { ensureHeartbeatTable } from './lag.js';
import { nonInnodbTables } from './logical-seed.js';
import { ownPrivileges } from './privileges.js';
import { facts, replicationAddress, startReplication, targetDown } from './seed.js';
import type { MySession } from './session.js';

/** CLONE's first release; between different point releases of one series from 8.0.37. */
export const CLONE_MIN_VERSION = '8.0.17';
const CLONE_ACROSS_PATCHES = '8.0.37';
/** The smallest max_allowed_packet CLONE works with, on both servers. */
export const CLONE_MIN_PACKET = 2 * 1024 * 1024;

const series = (v: string) => /^(\d+\.\d+)/.exec(v)?.[1] ?? v;
const numeric = (v: string) => /^(\d+\.\d+\.\d+)/.exec(v)?.[1] ?? v;

async function pluginActive(c: MyConn): Promise<boolean> {
  const r = await rows<{ s: string }>(c, "SELECT PLUGIN_STATUS AS s FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'clone'").catch(() => []);
  return r[0]?.s === 'ACTIVE';
}

async function maxPacket(c: MyConn): Promise<number> {
  return Number((await one<{ v: string }>(c, 'SELECT @@max_allowed_packet AS v')).v);
}

/**
 * Everything that keeps CLONE from seeding this target, each a sentence naming what to do; empty
 * when it can. `names` says which sides the sentences are about.
 */
export async function cloneObstacles(s: MySession, opts: { tables?: boolean } = {}): Promise<string[]> {
  const [src, tgt] = [await s.source(), await s.target()];
  const [sf, tf] = await Promise.all([facts(src), facts(tgt)]);
  const { source, target } = s.names;
  if (sf.flavor.name === 'mariadb' || tf.flavor.name === 'mariadb') return ['MariaDB has no CLONE plugin'];
  const out: string[] = [];
  for (const [side, v] of [
    [source, sf.version],
    [target, tf.version],
  ] as const)
    if (compareVersions(v, CLONE_MIN_VERSION) < 0) out.push(`${side} runs MySQL ${v}: CLONE needs ${CLONE_MIN_VERSION} or later`);
  if (out.length) return out;
  const acrossPatches = compareVersions(sf.version, CLONE_ACROSS_PATCHES) >= 0 && compareVersions(tf.version, CLONE_ACROSS_PATCHES) >= 0;
  if (acrossPatches ? series(sf.version) !== series(tf.version) : numeric(sf.version) !== numeric(tf.version))
    out.push(
      `${source} runs ${sf.version} and ${target} ${tf.version}: CLONE needs the same ${acrossPatches ? 'release series' : 'version'} on both (a logical copy crosses versions)`,
    );
  const [srcPlugin, tgtPlugin] = await Promise.all([pluginActive(src), pluginActive(tgt)]);
  for (const [side, active] of [
    [source, srcPlugin],
    [target, tgtPlugin],
  ] as const)
    if (!active)
      out.push(
        `the clone plugin is not active on ${side}: INSTALL PLUGIN clone SONAME 'mysql_clone.so' (or plugin-load-add = mysql_clone.so in its configuration)`,
      );
  const [srcPrivs, tgtPrivs] = await Promise.all([ownPrivileges(src), ownPrivileges(tgt)]);
  if (!srcPrivs.has('BACKUP_ADMIN'))
    out.push(`the account in source-url lacks BACKUP_ADMIN, which the CLONE donor needs: GRANT BACKUP_ADMIN ON *.* TO that account`);
  if (!tgtPrivs.has('CLONE_ADMIN'))
    out.push(`the account in target-url lacks CLONE_ADMIN, which CLONE INSTANCE needs: GRANT CLONE_ADMIN ON *.* TO that account`);
  const [srcPacket, tgtPacket] = await Promise.all([maxPacket(src), maxPacket(tgt)]);
  for (const [side, bytes] of [
    [source, srcPacket],
    [target, tgtPacket],
  ] as const)
    if (bytes < CLONE_MIN_PACKET)
      out.push(
        `max_allowed_packet is ${formatBytes(bytes)} on ${side}: CLONE needs at least 2 MB (SET GLOBAL max_allowed_packet = ${CLONE_MIN_PACKET} and in its configuration)`,
      );
  const tables = opts.tables === false ? undefined : await cloneTableObstacle(src);
  if (tables) out.push(tables);
  return out;
}

/** CLONE copies InnoDB only: the source's other tables, by name, or undefined. */
export async function cloneTableObstacle(src: MyConn): Promise<string | undefined> {
  const other = await nonInnodbTables(src);
  if (other.length) {
    const names = other.slice(0, 10).map((t) => `${t.table} (${t.engine})`);
    const more = other.length > names.length ? ` and ${other.length - names.length} more` : '';
    return `CLONE copies InnoDB only, and ${names.join(', ')}${more} would arrive empty: convert them (ALTER TABLE … ENGINE=InnoDB) or use method: logical`;
  }
  return undefined;
}

/** A line of clone progress from performance_schema.clone_progress: the stage running, bytes copied of the estimate. */
async function progressLine(c: MyConn): Promise<string | undefined> {
  const r = await rows<{ STAGE: string; STATE: string; DATA: string; ESTIMATE: string }>(
    c,
    'SELECT STAGE, STATE, DATA, ESTIMATE FROM performance_schema.clone_progress ORDER BY ID',
  ).catch(() => []);
  const running = r.find((x) => x.STATE === 'In Progress');
  if (!running) return undefined;
  const copy = r.find((x) => x.STAGE === 'FILE COPY');
  const data = Number(copy?.DATA ?? 0);
  const est = Number(copy?.ESTIMATE ?? 0);
  return `CLONE ${running.STAGE.toLowerCase()}: ${formatBytes(data)} of ${formatBytes(est)} copied${est ? ` (${Math.floor((100 * data) / est)}%)` : ''}`;
}

/** clone_status after the restart: where the copy stands in the source's history. */
async function cloneStatus(c: MyConn): Promise<{ file: string; position: number; gtid?: string; bytes: number }> {
  const st = await one<{ STATE: string; ERROR_NO: string; ERROR_MESSAGE: string; BINLOG_FILE: string; BINLOG_POSITION: string; GTID_EXECUTED: string }>(
    c,
    'SELECT STATE, ERROR_NO, ERROR_MESSAGE, BINLOG_FILE, BINLOG_POSITION, GTID_EXECUTED FROM performance_schema.clone_status ORDER BY ID DESC LIMIT 1',
  );
  if (st.STATE !== 'Completed') throw new SafetyError(`CLONE did not complete on the target (state ${st.STATE}, error ${st.ERROR_NO}: ${st.ERROR_MESSAGE})`);
  const [{ b }] = await rows<{ b: string }>(
    c,
    "SELECT COALESCE(SUM(DATA), 0) AS b FROM performance_schema.clone_progress WHERE STAGE IN ('FILE COPY', 'PAGE COPY', 'REDO COPY')",
  );
  const gtid = String(st.GTID_EXECUTED ?? '').replace(/\s+/g, '');
  return { file: st.BINLOG_FILE, position: Number(st.BINLOG_POSITION), gtid: gtid || undefined, bytes: Number(b) };
}

const refused = (e: unknown) => /ECONNREFUSED|connection refused|ECONNRESET|closed|PROTOCOL_CONNECTION_LOST/i.test(String((e as Error)?.message ?? e));

/** After CLONE's failed self-restart (3707): the server shuts down; stop it for good, then start it with target-start-command. */
async function restartTarget(s: MySession): Promise<MyConn> {
  const { log, targetHost } = s.ctx;
  await s.forget('target');
  await targetDown(s, 'the target shutting down after CLONE', 300_000, refused);
  // The process may still be flushing: the stop command waits for it (and is a no-op on a stopped server).
  const stop = await targetHost.shell(targetStopCommand(s.inputs), { timeoutMs: 300_000 });
  if (stop.code !== 0) log.warn(`target-stop-command after CLONE exited ${stop.code}: ${lastLines(stop.stderr || stop.stdout)}`);
  log.info(`starting the target on its cloned data: ${targetStartCommand(s.inputs)}`);
  const r = await targetHost.shell(targetStartCommand(s.inputs), { timeoutMs: 300_000 });
  if (r.code !== 0) throw new UserError(`target-start-command failed after CLONE (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}`);
  return waitFor(
    'the target accepting connections',
    120_000,
    async () => {
      await s.forget('target');
      return s.target();
    },
    (e) => /access denied/i.test(String((e as Error).message)),
  );
}

/** seed-replica by CLONE: the copy, the restart, replication from the clone's point. */
export async function seedByClone(s: MySession, flavor: Flavor): Promise<SeedResult> {
  const { log } = s.ctx;
  const started = Date.now();
  const src = await s.source();
  const sf = await facts(src);
  await ensureHeartbeatTable(s, src, s.inputs.heartbeatTable);
  const addr = replicationAddress(s);
  const donor = `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
  const tgt = await s.target();
  const [{ v: donors }] = await rows<{ v: string | null }>(tgt, 'SELECT @@clone_valid_donor_list AS v');
  await tgt.query(`SET GLOBAL clone_valid_donor_list = ${quoteString(donor)}`);
  const user = decodeURIComponent(s.sourceEndpoint.given.username || 'root');
  const password = decodeURIComponent(s.sourceEndpoint.given.password);
  log.info(`cloning the source into the target: CLONE INSTANCE FROM ${quoteString(user)}@${donor} (the target's data is replaced, then it restarts)`);
  // Its own connection: the server ends it at the restart; progress is read on the other one.
  const cloner = await connectMy(s.targetEndpoint.connectUrl, { input: s.targetEndpoint.input, side: 'target' });
  cloner.on('error', () => undefined);
  const progress = new Progress(log);
  const timer = setInterval(() => {
    void progressLine(tgt).then((l) => l && progress.report(l));
  }, 2000);
  let restartNeeded = false;
  try {
    await cloner.query(`CLONE INSTANCE FROM ${quoteString(user)}@${quoteString(addr.host)}:${addr.port} IDENTIFIED BY ${quoteString(password)}`);
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    // 3707: the copy is in place, but no monitor restarts the server; a lost connection: it restarted itself.
    if (errno === 3707 || refused(e)) restartNeeded = errno === 3707;
    else {
      await tgt.query(`SET GLOBAL clone_valid_donor_list = ${donors === null ? 'DEFAULT' : quoteString(donors)}`).catch(() => undefined);
      throw new UserError(`CLONE INSTANCE on the target failed: ${(e as Error).message}. The target's data was not replaced.`);
    }
  } finally {
    clearInterval(timer);
    await cloner.end().catch(() => undefined);
  }
  // The restart resets clone_valid_donor_list to the target's configured value.
  const after = restartNeeded
    ? await restartTarget(s)
    : await waitFor('the target accepting connections after CLONE', 300_000, async () => {
        await s.forget('target');
        return s.target();
      });
  const coords = await cloneStatus(after);
  progress.report(`CLONE done: ${formatBytes(coords.bytes)} in ${formatSeconds((Date.now() - started) / 1000)}`, true);
  await startReplication(s, flavor, after, coords);
  const position = coords.gtid ? `gtid:${coords.gtid}` : `${coords.file}:${coords.position}`;
  log.info(`the target replicates from ${position} (CLONE's point: ${coords.file}:${coords.position})`);
  return { position, seconds: (Date.now() - started) / 1000, bytes: coords.bytes, sourceVersion: sf.version };
}
