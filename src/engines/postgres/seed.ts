/** Seeding a PostgreSQL standby: preflight, pg_basebackup with streamed WAL, standby start. */
import { asidePath, PROMOTED_HINT, targetStartCommand, targetStopCommand } from '../data-dir.js';
import * as path from 'node:path';
import type { Check, SeedResult, TuningPlan } from '../engine.js';
import { waitFor } from '../wait.js';
import { describeError, SafetyError, UserError } from '../../errors.js';
import { lastLines, type OsUser } from '../../hosts/host.js';
import { formatBytes, formatSeconds, Progress, transferProgress } from '../../log.js';
import { connectPg, one, quoteLiteral, quoteQualified, rows, type PgClient } from './connect.js';
import { STANDBY_MINIMUMS } from './tuning.js';
import { ensureHeartbeatTable } from './lag.js';
import { APPLICATION_NAME, passfilePath } from './conninfo.js';
import { findPgProgram, pgProgram } from './programs.js';
import type { PgSession } from './session.js';
import { findServerLogs, markLogs, newLogLines, relevantLines, type ServerLogs } from './server-log.js';
import { restoreTargetConfig, saveTargetConfig, type TargetConfig } from './target-config.js';

interface ServerFacts {
  versionNum: number;
  version: string;
  sysid: string;
  dataDirectory: string;
  configFile: string;
  inRecovery: boolean;
  startedAt: string;
}

async function facts(c: PgClient): Promise<ServerFacts> {
  const r = await one<Record<string, string | boolean>>(
    c,
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
            current_setting('data_directory') AS data_directory, current_setting('config_file') AS config_file,
            pg_is_in_recovery() AS in_recovery, pg_postmaster_start_time()::text AS started`,
  );
  return {
    versionNum: Number(r.num),
    version: String(r.version),
    sysid: String(r.sysid),
    dataDirectory: String(r.data_directory),
    configFile: String(r.config_file),
    inRecovery: Boolean(r.in_recovery),
    startedAt: String(r.started),
  };
}

/** host:port at which the target server reaches the source. */
export function replicationAddress(s: PgSession): { host: string; port: number } {
  const given = s.inputs.sourceReplicationAddress;
  if (!given) {
    const u = s.inputs.sourceUrl!;
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 5432) };
  }
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(given);
  if (!m) throw new UserError(`input source-replication-address must be host:port (got ${JSON.stringify(given)})`);
  return { host: m[1], port: Number(m[2]) };
}

const escPass = (v: string) => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

function startCommand(s: PgSession): string {
  return targetStartCommand(s.inputs);
}
function stopCommand(s: PgSession): string {
  return targetStopCommand(s.inputs);
}

/** Every check seed-replica makes before it changes anything. */
export async function preflightSeed(s: PgSession): Promise<Check[]> {
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const src = await s.source();
  const tgt = await s.target();
  const [sf, tf] = await Promise.all([facts(src), facts(tgt)]);
  const sMajor = Math.floor(sf.versionNum / 10000);
  const tMajor = Math.floor(tf.versionNum / 10000);
  check('source reachable', true, `PostgreSQL ${sf.version}${sf.inRecovery ? ' (a standby)' : ''}`);
  check('target reachable', true, `PostgreSQL ${tf.version}`);
  check(
    'same major version',
    sMajor === tMajor,
    sMajor === tMajor
      ? `${sMajor}`
      : `source is ${sMajor}, target is ${tMajor}: physical replication needs the same major version. Install PostgreSQL ${sMajor} on the target.`,
  );

  const sameServer = sf.sysid === tf.sysid && !tf.inRecovery && sf.startedAt === tf.startedAt && sf.dataDirectory === tf.dataDirectory;
  check(
    'target is not the source',
    !sameServer,
    sameServer
      ? 'target-url points at the source server itself (same system identifier, data directory and start time). Point target-url at the new server.'
      : 'distinct servers',
  );

  const dataDir = path.resolve(s.inputs.targetDataDir);
  const dirMatches = path.resolve(tf.dataDirectory) === dataDir;
  check(
    'target-data-dir matches target',
    dirMatches,
    dirMatches
      ? dataDir
      : `target-data-dir is ${dataDir}, but the server at target-url reports its data directory as ${tf.dataDirectory}. Set target-data-dir to the data directory of the target server.`,
  );

  const streaming = tf.inRecovery ? await rows<{ status: string }>(tgt, 'SELECT status FROM pg_stat_wal_receiver') : [];
  const alreadyReplica = tf.sysid === sf.sysid && streaming.some((r) => r.status === 'streaming');
  const reseed = s.inputs.reseed;
  check(
    'target not already a replica',
    !alreadyReplica || reseed,
    alreadyReplica
      ? reseed
        ? 'reseed: true: the working standby is replaced by a new copy'
        : 'the target is already streaming from this source: nothing to seed. Run await-lag-zero to continue from where it is, or set reseed: true if you mean to copy the source again.'
      : tf.inRecovery
        ? 'a standby that is not streaming: it will be replaced'
        : 'a primary',
  );

  if (!tf.inRecovery) {
    const dbs = await rows<{ datname: string }>(tgt, "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY 1");
    check(
      'target holds no databases',
      dbs.length === 0 || reseed,
      dbs.length === 0
        ? 'only the default databases'
        : reseed
          ? `reseed: true: database(s) ${dbs.map((d) => d.datname).join(', ')} are replaced by the copy`
          : `the target holds database(s) ${dbs.map((d) => d.datname).join(', ')}; seeding replaces its whole data directory. ${PROMOTED_HINT}`,
    );
  }

  // The copy brings the source's roles and passwords: target-url must log in with them afterwards.
  const tu = s.inputs.targetUrl;
  const asTargetUser = new URL(s.inputs.sourceUrl!.href);
  asTargetUser.username = tu.username;
  asTargetUser.password = tu.password;
  try {
    const c = await connectPg(asTargetUser, { input: 'target-url', database: 'postgres' });
    const { su } = await one<{ su: boolean }>(c, 'SELECT rolsuper AS su FROM pg_roles WHERE rolname = current_user').finally(() =>
      c.end().catch(() => undefined),
    );
    check(
      'target-url credentials after the copy',
      su,
      su
        ? `"${decodeURIComponent(tu.username)}" is a superuser on the source too`
        : `"${decodeURIComponent(tu.username)}" is not a superuser on the source; after the copy the target has the source's roles, so zdm needs a superuser there. Use a superuser in target-url that exists on the source with the same password.`,
    );
  } catch (e) {
    check(
      'target-url credentials after the copy',
      false,
      `the copy replaces the target's roles with the source's, so target-url's user and password must also be valid on the source; logging in to the source with them failed (${(e as Error).message}). Create that user on the source with the same password, or use the source's superuser credentials in target-url.`,
    );
  }

  const settings = Object.fromEntries(
    (
      await rows<{ name: string; setting: string }>(
        src,
        "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_wal_senders', 'max_replication_slots')",
      )
    ).map((r) => [r.name, r.setting]),
  );
  const walOk = settings.wal_level === 'replica' || settings.wal_level === 'logical';
  check(
    'source wal_level',
    walOk,
    walOk ? settings.wal_level : `wal_level is ${settings.wal_level} on the source: set wal_level = replica in its postgresql.conf and restart it.`,
  );

  const { senders } = await one<{ senders: number }>(src, "SELECT count(*)::int AS senders FROM pg_stat_activity WHERE backend_type = 'walsender'");
  const free = Number(settings.max_wal_senders) - senders;
  check(
    'source max_wal_senders',
    free >= 2,
    free >= 2
      ? `${free} of ${settings.max_wal_senders} free`
      : `only ${free} of max_wal_senders = ${settings.max_wal_senders} free; the copy needs 2. Raise max_wal_senders on the source (restart).`,
  );

  const slot = s.inputs.replicationSlot;
  const slots = await rows<{ slot_name: string; active: boolean }>(src, 'SELECT slot_name, active FROM pg_replication_slots');
  const ours = slots.find((r) => r.slot_name === slot);
  const slotsFree = Number(settings.max_replication_slots) - slots.length + (ours ? 1 : 0);
  // With reseed the slot's user is the standby being replaced: seeding stops it first, which frees the slot.
  const slotBusy = Boolean(ours?.active) && !(reseed && alreadyReplica);
  check(
    'replication slot',
    slotsFree >= 1 && !slotBusy,
    slotBusy
      ? `slot ${slot} is in use by another connection on the source; choose another replication-slot or stop the replica that uses it.`
      : slotsFree >= 1
        ? `${slot}${ours ? ' (left by an earlier attempt; it will be recreated)' : ''}`
        : `no free replication slot (max_replication_slots = ${settings.max_replication_slots}). Raise it on the source (restart).`,
  );

  const user = s.inputs.replicationUser;
  const role = await rows<{ rolreplication: boolean; rolsuper: boolean; rolcanlogin: boolean }>(
    src,
    'SELECT rolreplication, rolsuper, rolcanlogin FROM pg_roles WHERE rolname = $1',
    [user],
  );
  const roleOk = role.length === 1 && (role[0].rolreplication || role[0].rolsuper) && role[0].rolcanlogin;
  check(
    'replication role',
    roleOk,
    roleOk
      ? user
      : role.length === 0
        ? `role "${user}" does not exist on the source. Create it: CREATE ROLE ${user} WITH LOGIN REPLICATION PASSWORD '...'.`
        : `role "${user}" lacks ${role[0].rolcanlogin ? 'the REPLICATION attribute' : 'LOGIN'}: ALTER ROLE ${user} WITH LOGIN REPLICATION.`,
  );

  if (roleOk) {
    const addr = replicationAddress(s);
    const url = new URL(`postgres://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}/`);
    try {
      const rc = await connectPg(url, { input: 'replication-user/replication-password', user, password: s.inputs.replicationPassword, replication: true });
      const id = await rc.query('IDENTIFY_SYSTEM').finally(() => rc.end().catch(() => undefined));
      const sysid = String(id.rows[0]?.systemid ?? '');
      check(
        'replication connection',
        sysid === sf.sysid,
        sysid === sf.sysid
          ? `${user}@${addr.host}:${addr.port}`
          : `the replication address ${addr.host}:${addr.port} reaches a different server (system identifier ${sysid}, source is ${sf.sysid}). Check source-replication-address.`,
      );
    } catch (e) {
      check('replication connection', false, (e as Error).message);
    }
  }

  // The target keeps its own configuration across the copy (target-config.ts), wherever it lives.
  {
    const minimums = await Promise.all(
      [src, tgt].map((c) => rows<{ name: string; setting: string }>(c, 'SELECT name, setting FROM pg_settings WHERE name = ANY($1)', [STANDBY_MINIMUMS])),
    );
    const tv = Object.fromEntries(minimums[1].map((r) => [r.name, Number(r.setting)]));
    const low = minimums[0].filter((r) => (tv[r.name] ?? 0) < Number(r.setting)).map((r) => `${r.name} = ${tv[r.name]} (source: ${r.setting})`);
    check(
      'standby settings',
      low.length === 0,
      low.length === 0
        ? 'target >= source'
        : `a standby needs these at least as large as on the source: ${low.join(', ')}. Raise them in the target's ${tf.configFile}.`,
    );
  }

  const { bytes } = await one<{ bytes: string }>(
    src,
    'SELECT (SELECT sum(pg_database_size(oid)) FROM pg_database) + coalesce((SELECT sum(size) FROM pg_ls_waldir()), 0) AS bytes',
  );
  const need = Math.ceil(Number(bytes) * 1.1);
  const host = s.ctx.targetHost;
  const freeBytes = await host.freeBytes(path.dirname(dataDir));
  check(
    'disk space on target',
    freeBytes >= need,
    `${formatBytes(freeBytes)} free, the copy needs about ${formatBytes(need)}${freeBytes >= need ? '' : ': free space on the target filesystem or use a larger disk'}`,
  );

  const owner = await host.ownerOf(dataDir);
  const writable = await host.canWrite(path.dirname(dataDir), owner);
  check(
    'target-data-dir writable',
    writable,
    writable
      ? `by ${owner.name}`
      : `${owner.name} (the data directory's owner) cannot create entries in ${path.dirname(dataDir)}: seed-replica replaces ${dataDir} there. Fix the directory's owner or permissions.`,
  );

  const basebackup = await findPgProgram(host, sMajor, 'pg_basebackup');
  check('pg_basebackup', Boolean(basebackup), basebackup ?? `pg_basebackup ${sMajor} not found on the target host: install postgresql-client-${sMajor}.`);
  return checks;
}

/** Errors that waiting will not cure: authentication and authorization failures, safety refusals. */
function hopeless(e: unknown): boolean {
  const code = ((e as Error).cause as { code?: string } | undefined)?.code;
  return e instanceof SafetyError || code === '28P01' || code === '28000' || code === '3D000';
}

const waitPg = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>) => waitFor(what, timeoutMs, probe, hopeless);

async function stopTarget(s: PgSession, dataDir: string): Promise<void> {
  await s.forget('target');
  const host = s.ctx.targetHost;
  const r = await host.shell(stopCommand(s), { timeoutMs: 120_000 });
  if (r.code !== 0)
    throw new UserError(`target-stop-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}. Check the command; nothing was changed.`);
  await waitPg('the target server stopping (postmaster.pid gone)', 60_000, async () =>
    (await host.exists(path.join(dataDir, 'postmaster.pid'))) ? undefined : true,
  );
}

async function startTargetAsStandby(s: PgSession): Promise<void> {
  const r = await s.ctx.targetHost.shell(startCommand(s), { timeoutMs: 300_000 });
  if (r.code !== 0) {
    // Without pg_ctl -l the server's own words go to the command's stdout, pg_ctl's verdict to stderr.
    const printed = r.stderr.trim() ? relevantLines(r.stdout, 6) : [];
    throw new UserError(
      `target-start-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout).replace(/\.$/, '')}${printed.length ? `. It printed: ${printed.join(' | ')}` : ''}`,
    );
  }
  await waitPg('the target accepting connections as a standby', 120_000, async () => {
    await s.forget('target');
    const t = await s.target();
    const { rec } = await one<{ rec: boolean }>(t, 'SELECT pg_is_in_recovery() AS rec');
    if (!rec) throw new SafetyError('the target started as a primary, not as a standby: standby.signal was not honoured');
    return true;
  });
}

interface BackupRun {
  endLsn: string;
  bytes: number;
}

async function runBasebackup(s: PgSession, bin: string, dataDir: string, owner: OsUser, passfile: string): Promise<BackupRun> {
  const addr = replicationAddress(s);
  const progress = new Progress(s.ctx.log);
  const started = Date.now();
  let bytes = 0;
  let stderr = '';
  const onStderr = (chunk: string) => {
    stderr += chunk;
    const all = [...chunk.matchAll(/(\d+)\/(\d+) kB \((\d+)%\)/g)];
    const m = all[all.length - 1];
    if (!m) return;
    const done = Number(m[1]) * 1024;
    const total = Number(m[2]) * 1024;
    bytes = done;
    progress.report(`copied ${transferProgress(done, total, started)} (${m[3]}%)`);
  };
  const args = [
    bin,
    '-h',
    addr.host,
    '-p',
    String(addr.port),
    '-U',
    s.inputs.replicationUser,
    '-D',
    dataDir,
    '--wal-method=stream',
    '--checkpoint=fast',
    '--progress',
    '--verbose',
    '--no-password',
    '--create-slot',
    '--slot',
    s.inputs.replicationSlot,
    '--label',
    'zdm seed-replica',
  ];
  const r = await s.ctx.targetHost.run(args, { user: owner.name, env: { PGPASSFILE: passfile, PGAPPNAME: 'zdm_seed', PGCONNECT_TIMEOUT: '15' }, onStderr });
  if (r.code !== 0) throw new UserError(`pg_basebackup failed (exit ${r.code}): ${lastLines(stderr || r.stderr, 4)}`);
  const end = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/i.exec(stderr);
  if (!end) throw new Error(`pg_basebackup succeeded but printed no end point: ${lastLines(stderr, 3)}`);
  progress.report(`copy complete: ${formatBytes(bytes)} in ${formatSeconds((Date.now() - started) / 1000)}`, true);
  return { endLsn: end[1], bytes };
}

/** Lines appended to postgresql.auto.conf of the fresh copy: standby connection and the tuning. */
export function standbyConfig(s: PgSession, passfile: string, plan: TuningPlan | undefined): string {
  const addr = replicationAddress(s);
  const cq = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const conninfo = [
    `host=${cq(addr.host)}`,
    `port=${addr.port}`,
    `user=${cq(s.inputs.replicationUser)}`,
    `passfile=${cq(passfile)}`,
    `application_name=${APPLICATION_NAME}`,
    'connect_timeout=10',
  ].join(' ');
  const lines = [
    '# Added by zdm seed-replica: streaming replication from the source (password in the passfile only).',
    `primary_conninfo = ${quoteLiteral(conninfo)}`,
    `primary_slot_name = ${quoteLiteral(s.inputs.replicationSlot)}`,
  ];
  for (const item of plan?.items ?? []) lines.push(`${item.name} = ${quoteLiteral(item.value)}`);
  return lines.join('\n') + '\n';
}

/** What a seed has changed so far: what putting the target back has to undo. */
interface SeedProgress {
  dataDir: string;
  passfile: string;
  aside: string;
  stopped: boolean;
  /** The data directory was set aside (or was absent) and the copy went in its place. */
  replaced: boolean;
  hadDir: boolean;
  saved: TargetConfig;
  logs: ServerLogs;
}

/** Replaces the target's data directory with a hot copy of the source and starts it as a standby. */
export async function seedPostgres(s: PgSession, plan: TuningPlan | undefined): Promise<SeedResult> {
  const { log, targetHost: host } = s.ctx;
  const started = Date.now();
  const src = await s.source();
  const sf = await facts(src);
  const major = Math.floor(sf.versionNum / 10000);
  const bin = await pgProgram(s, major, 'pg_basebackup');
  const dataDir = path.resolve(s.inputs.targetDataDir);
  const owner = await host.ownerOf(dataDir);
  const passfile = passfilePath(dataDir);
  const addr = replicationAddress(s);

  await ensureHeartbeatTable(src, quoteQualified(s.inputs.heartbeatTable));
  await src.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [s.inputs.replicationSlot]);
  // Read while the target still runs: its own configuration, and where it logs.
  const tgt = await s.target();
  const p: SeedProgress = {
    dataDir,
    passfile,
    aside: asidePath(dataDir),
    stopped: false,
    replaced: false,
    hadDir: false,
    saved: await saveTargetConfig(host, tgt, dataDir),
    logs: await findServerLogs(host, tgt, dataDir, startCommand(s)),
  };
  await host.writeFile(passfile, `${escPass(addr.host)}:${addr.port}:*:${escPass(s.inputs.replicationUser)}:${escPass(s.inputs.replicationPassword)}\n`, {
    mode: 0o600,
    owner,
  });
  let backup: BackupRun;
  try {
    backup = await copyAndStart(s, p, bin, owner, plan);
  } catch (e) {
    throw await putBack(s, p, e);
  }
  if (p.hadDir) await host.remove(p.aside);
  log.info(`the target is a streaming standby from ${backup.endLsn}`);
  return { position: backup.endLsn, seconds: (Date.now() - started) / 1000, bytes: backup.bytes, sourceVersion: sf.version };
}

/** Stops the target, copies the source in place of its data directory (set aside), keeps its configuration, starts it as a standby. */
async function copyAndStart(s: PgSession, p: SeedProgress, bin: string, owner: OsUser, plan: TuningPlan | undefined): Promise<BackupRun> {
  const { log, targetHost: host } = s.ctx;
  const { dataDir, passfile } = p;
  const slot = s.inputs.replicationSlot;
  log.info(`stopping the target server: ${stopCommand(s)}`);
  await stopTarget(s, dataDir);
  p.stopped = true;
  if (s.inputs.reseed) {
    // The standby being replaced held the slot until it stopped; the new copy starts from a new one.
    const src = await s.source();
    await waitPg('the replaced standby releasing its replication slot', 30_000, async () => {
      const r = await rows<{ active: boolean }>(src, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      return r[0]?.active ? undefined : true;
    });
    await src.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]);
  }
  p.hadDir = await host.exists(dataDir);
  if (p.hadDir) await host.rename(dataDir, p.aside);
  p.replaced = true;

  const addr = replicationAddress(s);
  log.info(`copying the source with pg_basebackup from ${addr.host}:${addr.port} into ${dataDir} (no lock on the source)`);
  const backup = await runBasebackup(s, bin, dataDir, owner, passfile);
  const kept = await restoreTargetConfig(host, dataDir, p.saved, owner);
  if (kept.length)
    log.info(
      `kept the target's own ${kept.join(', ')} (the copy brought the source's); postgresql.auto.conf is the source's, with the target's own host settings`,
    );
  await host.writeFile(path.join(dataDir, 'standby.signal'), '', { mode: 0o600, owner });
  const auto = path.join(dataDir, 'postgresql.auto.conf');
  const existing = (await host.exists(auto)) ? await host.readFile(auto) : '';
  await host.writeFile(auto, existing + (existing.endsWith('\n') || !existing ? '' : '\n') + standbyConfig(s, passfile, plan), { mode: 0o600, owner });

  log.info(`starting the target as a standby: ${startCommand(s)}`);
  await markLogs(host, p.logs).catch(() => undefined);
  await startTargetAsStandby(s);
  await waitPg('the standby streaming from the source', 60_000, async () => {
    const r = await rows<{ status: string }>(await s.target(), 'SELECT status FROM pg_stat_wal_receiver');
    return r[0]?.status === 'streaming' ? true : undefined;
  });
  return backup;
}

/** A server that may have started (or half started) on the copy, stopped before its directory is removed. */
async function stopOnCopy(s: PgSession, dataDir: string): Promise<void> {
  await s.forget('target');
  const host = s.ctx.targetHost;
  if (!(await host.exists(path.join(dataDir, 'postmaster.pid')))) return;
  await host.shell(stopCommand(s), { timeoutMs: 120_000 }).catch(() => undefined);
  await waitPg('the target server on the copy stopping (postmaster.pid gone)', 60_000, async () =>
    (await host.exists(path.join(dataDir, 'postmaster.pid'))) ? undefined : true,
  );
}

/** Drops the slot the copy created on the source, which would otherwise keep WAL there for good. */
async function dropSeedSlot(s: PgSession): Promise<{ dropped: boolean; text: string }> {
  const slot = s.inputs.replicationSlot;
  try {
    const src = await s.source();
    // A standby that streamed on the copy for a moment releases the slot as its walsender ends.
    await waitPg('the replication slot released', 10_000, async () => {
      const r = await rows<{ active: boolean }>(src, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      return r[0]?.active ? undefined : true;
    }).catch(() => undefined);
    const r = await rows(src, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]);
    if (r.length) return { dropped: true, text: `replication slot ${slot} dropped on the source` };
    if ((await rows(src, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).length)
      return { dropped: false, text: `replication slot ${slot} is still in use on the source: drop it once it is free, or it keeps WAL there` };
    return { dropped: true, text: '' };
  } catch (u) {
    return { dropped: false, text: `dropping replication slot ${slot} on the source failed (${describeError(u)}): drop it, or it keeps WAL there` };
  }
}

/**
 * After a failed seed: the server's own log lines into the message, and the target put back as
 * it was (its data directory, running), the slot dropped so that it keeps no WAL, the passfile gone.
 */
async function putBack(s: PgSession, p: SeedProgress, e: unknown): Promise<Error> {
  const { log, targetHost: host } = s.ctx;
  const logLines = p.replaced ? await newLogLines(host, p.logs).catch(() => []) : [];
  const done: string[] = [];
  const left: string[] = [];
  let dirBack = true;
  if (p.replaced) {
    log.warn(`the seed failed after the target's data directory was replaced: putting it back (${describeError(e)})`);
    try {
      await stopOnCopy(s, p.dataDir);
      await host.remove(p.dataDir);
      if (p.hadDir) await host.rename(p.aside, p.dataDir);
      done.push(p.hadDir ? 'its data directory is back in place' : 'the copy is removed');
    } catch (u) {
      dirBack = false;
      left.push(`putting its data directory back failed (${describeError(u)})${p.hadDir ? `: the previous one is at ${p.aside}` : ''}`);
    }
  }
  const slot = await dropSeedSlot(s);
  if (slot.text) (slot.dropped ? done : left).push(slot.text);
  if (p.stopped && dirBack) {
    const r = await host.shell(startCommand(s), { timeoutMs: 300_000 }).catch((err: Error) => ({ code: 1, stderr: err.message, stdout: '' }));
    if (r.code === 0) done.push('it runs again');
    else left.push(`starting it again failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}`);
  }
  await host.remove(p.passfile).catch(() => undefined);
  const msg =
    describeError(e).replace(/\.?$/, '.') +
    (logLines.length ? ` The server's log: ${logLines.join('; ')}.` : '') +
    (done.length ? ` The target was put back as it was: ${done.join(', ')}.` : '') +
    (left.length ? ` NOT put back: ${left.join('; ')}.` : ' Fix the cause, then run seed-replica again.');
  const E = e instanceof SafetyError ? SafetyError : UserError;
  return new E(msg, { cause: e });
}
