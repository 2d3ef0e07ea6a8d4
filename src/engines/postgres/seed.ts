/** Seeding a PostgreSQL standby (its checks are in checks/): pg_basebackup with streamed WAL, standby start. */
import { addressOf } from '../../hosts/endpoint.js';
import { asidePath, physicalDataDir, targetStartCommand, targetStopCommand } from '../data-dir.js';
import * as path from 'node:path';
import type { SeedResult, TuningPlan } from '../engine.js';
import { waitFor } from '../wait.js';
import { describeError, SafetyError, UserError } from '../../errors.js';
import { lastLines, type OsUser } from '../../hosts/host.js';
import { formatBytes, formatSeconds, Progress, transferProgress } from '../../log.js';
import { one, quoteLiteral, quoteQualified, rows, type PgClient } from './connect.js';
import { ensureHeartbeatTable } from './lag.js';
import { APPLICATION_NAME, installTls, libpqTls, passfilePath, tlsEnv, tlsFilePaths, tlsKeywords, type LibpqTls } from './conninfo.js';
import { pgProgram } from './programs.js';
import type { PgSession } from './session.js';
import { findServerLogs, markLogs, newLogLines, relevantLines, type ServerLogs } from './server-log.js';
import { restoreTargetConfig, saveTargetConfig, type TargetConfig } from './target-config.js';

export interface ServerFacts {
  versionNum: number;
  version: string;
  /** Empty where the role may not read it (see facts). */
  sysid: string;
  /** Empty where the role may not read it. */
  dataDirectory: string;
  /** Empty where the role may not read it. */
  configFile: string;
  inRecovery: boolean;
  startedAt: string;
}

/**
 * A source role without superuser (a managed service's, for the logical method) may read neither
 * the file locations (pg_read_all_settings) nor pg_control_system(): those facts are then empty,
 * and the checks that compare them use what is left.
 */
export async function facts(c: PgClient): Promise<ServerFacts> {
  const r = await one<Record<string, string | boolean | null>>(
    c,
    `WITH may AS (SELECT pg_has_role(current_user, 'pg_read_all_settings', 'USAGE') AS settings,
                         has_function_privilege('pg_control_system()', 'EXECUTE') AS control)
     SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            CASE WHEN may.control THEN (SELECT system_identifier::text FROM pg_control_system()) END AS sysid,
            CASE WHEN may.settings THEN current_setting('data_directory') END AS data_directory,
            CASE WHEN may.settings THEN current_setting('config_file') END AS config_file,
            pg_is_in_recovery() AS in_recovery, pg_postmaster_start_time()::text AS started
     FROM may`,
  );
  return {
    versionNum: Number(r.num),
    version: String(r.version),
    sysid: r.sysid === null ? '' : String(r.sysid),
    dataDirectory: r.data_directory === null ? '' : String(r.data_directory),
    configFile: r.config_file === null ? '' : String(r.config_file),
    inRecovery: Boolean(r.in_recovery),
    startedAt: String(r.started),
  };
}

/**
 * host:port at which the target server reaches the source for replication. Without source-replication-address: where the runner reaches the source (the SSH forward, over
 * SSH), as preflight's replication check runs from the runner; seed-replica over SSH always sets
 * source-replication-address to its supervised tunnel first, and the target runs on the runner's host.
 */
export function replicationAddress(s: PgSession): { host: string; port: number } {
  const given = s.inputs.sourceReplicationAddress;
  if (!given) return addressOf(s.sourceEndpoint.connectUrl);
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

/**
 * How the copy is compressed on its way: on the source's side (PostgreSQL 15+), so that the link
 * carries compressed data and pg_basebackup unpacks it into the plain data directory. The methods
 * the server was built with are the ones wal_compression offers (zstd, lz4): probed, not assumed.
 * Before 15 there is no server-side compression, and client-side gzip would only compress after the
 * link: the copy goes uncompressed.
 */
export async function seedCompression(s: PgSession, major: number, clientMajor = major): Promise<{ arg?: string; why: string }> {
  if (s.inputs.seedCompression === 'off') return { why: 'seed-compression: off' };
  if (major < 15 || clientMajor < 15) return { why: `PostgreSQL ${major} cannot compress a base backup on the server (15+ can): the copy goes uncompressed` };
  const r = await rows<{ m: string[] }>(await s.source(), "SELECT enumvals::text[] AS m FROM pg_settings WHERE name = 'wal_compression'");
  const methods = r[0]?.m ?? [];
  // Level 1: on a link slower than the CPU more would pay, on a fast one it would be the limit.
  if (methods.includes('zstd')) return { arg: '--compress=server-zstd:level=1', why: 'zstd on the source (level 1), unpacked here' };
  if (methods.includes('lz4')) return { arg: '--compress=server-lz4', why: 'lz4 on the source (it has no zstd), unpacked here' };
  return { arg: '--compress=server-gzip:level=1', why: 'gzip on the source (it has neither zstd nor lz4), unpacked here' };
}

async function runBasebackup(s: PgSession, bin: string, dataDir: string, owner: OsUser, passfile: string, major: number, tls: LibpqTls): Promise<BackupRun> {
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
  const compression = await seedCompression(s, major);
  if (compression.arg) args.push(compression.arg);
  s.ctx.log.info(`compression of the copy: ${compression.why}`);
  const r = await s.ctx.targetHost.run(args, {
    user: owner.name,
    env: { PGPASSFILE: passfile, PGAPPNAME: 'zdm_seed', PGCONNECT_TIMEOUT: '15', ...tlsEnv(tls) },
    onStderr,
  });
  if (r.code !== 0) throw new UserError(`pg_basebackup failed (exit ${r.code}): ${lastLines(stderr || r.stderr, 4)}`);
  const end = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/i.exec(stderr);
  if (!end) throw new Error(`pg_basebackup succeeded but printed no end point: ${lastLines(stderr, 3)}`);
  progress.report(`copy complete: ${formatBytes(bytes)} in ${formatSeconds((Date.now() - started) / 1000)}`, true);
  return { endLsn: end[1], bytes };
}

/** Lines appended to postgresql.auto.conf of the fresh copy: standby connection and the tuning. */
export function standbyConfig(s: PgSession, passfile: string, plan: TuningPlan | undefined, tls?: LibpqTls): string {
  const addr = replicationAddress(s);
  const cq = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const conninfo = [
    `host=${cq(addr.host)}`,
    `port=${addr.port}`,
    `user=${cq(s.inputs.replicationUser)}`,
    `passfile=${cq(passfile)}`,
    `application_name=${APPLICATION_NAME}`,
    'connect_timeout=10',
    ...(tls ? tlsKeywords(tls, cq) : []),
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
  /** The source's TLS as the target's server reads it: sslmode and certificate files beside the data directory. */
  tls: LibpqTls;
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
  // First: the copy replaces this directory, so nothing is done without it.
  const dataDir = physicalDataDir(s.inputs, 'pg_basebackup', '/var/lib/postgresql/17/main');
  const src = await s.source();
  const sf = await facts(src);
  const major = Math.floor(sf.versionNum / 10000);
  const bin = await pgProgram(s, major, 'pg_basebackup');
  const owner = await host.ownerOf(dataDir);
  const passfile = passfilePath(dataDir);
  const addr = replicationAddress(s);

  await ensureHeartbeatTable(s, src, quoteQualified(s.inputs.heartbeatTable));
  await src.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [s.inputs.replicationSlot]);
  // Read while the target still runs: its own configuration, and where it logs.
  const tgt = await s.target();
  const p: SeedProgress = {
    dataDir,
    passfile,
    tls: libpqTls(s.sourceEndpoint.given, s.sourceEndpoint.input),
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
    p.tls = await installTls(host, p.tls, dataDir, owner, 'primary');
    backup = await copyAndStart(s, p, bin, owner, plan, major);
  } catch (e) {
    throw await putBack(s, p, e);
  }
  if (p.hadDir) await host.remove(p.aside);
  log.info(`the target is a streaming standby from ${backup.endLsn}`);
  return { position: backup.endLsn, seconds: (Date.now() - started) / 1000, bytes: backup.bytes, sourceVersion: sf.version };
}

/** Stops the target, copies the source in place of its data directory (set aside), keeps its configuration, starts it as a standby. */
async function copyAndStart(s: PgSession, p: SeedProgress, bin: string, owner: OsUser, plan: TuningPlan | undefined, major: number): Promise<BackupRun> {
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
  const backup = await runBasebackup(s, bin, dataDir, owner, passfile, major, p.tls);
  const kept = await restoreTargetConfig(host, dataDir, p.saved, owner);
  if (kept.length)
    log.info(
      `kept the target's own ${kept.join(', ')} (the copy brought the source's); postgresql.auto.conf is the source's, with the target's own host settings`,
    );
  await host.writeFile(path.join(dataDir, 'standby.signal'), '', { mode: 0o600, owner });
  const auto = path.join(dataDir, 'postgresql.auto.conf');
  const existing = (await host.exists(auto)) ? await host.readFile(auto) : '';
  await host.writeFile(auto, existing + (existing.endsWith('\n') || !existing ? '' : '\n') + standbyConfig(s, passfile, plan, p.tls), { mode: 0o600, owner });

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
  for (const f of tlsFilePaths(p.dataDir, 'primary')) await host.remove(f).catch(() => undefined);
  const msg =
    describeError(e).replace(/\.?$/, '.') +
    (logLines.length ? ` The server's log: ${logLines.join('; ')}.` : '') +
    (done.length ? ` The target was put back as it was: ${done.join(', ')}.` : '') +
    (left.length ? ` NOT put back: ${left.join('; ')}.` : ' Fix the cause, then run seed-replica again.');
  const E = e instanceof SafetyError ? SafetyError : UserError;
  return new E(msg, { cause: e });
}
