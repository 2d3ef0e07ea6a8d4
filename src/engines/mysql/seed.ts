/** Seeding a MySQL/MariaDB replica by a physical copy (its checks are in checks/, the logical copy in logical-seed.ts): streamed hot backup, replication from its exact position. */
import { failpoint } from '../../failpoint.js';
import { addressOf } from '../../hosts/endpoint.js';
import { asidePath, incomingPath, physicalDataDir, removeLeftIncoming, targetStartCommand, targetStopCommand } from '../data-dir.js';
import * as path from 'node:path';
import type { SeedResult, TuningPlan } from '../engine.js';
import { waitFor } from '../wait.js';
import { SafetyError, UserError } from '../../errors.js';
import { lastLines, type Host, type OsUser, type Spawned } from '../../hosts/host.js';
import { formatBytes, formatSeconds, Progress, transferProgress } from '../../log.js';
import { connectMy, dataDirOf, one, rows, tlsStateOf, variables, type MyConn } from './connect.js';
import { replicationTls, toolTlsArgs } from './tls.js';
import { detectFlavor, parseBinlogInfo, type Flavor } from './flavor.js';
import { ensureHeartbeatTable } from './lag.js';
import type { MySession } from './session.js';

/**
 * host:port at which the target server reaches the source for replication. Without source-replication-address: where the runner reaches the source (the SSH forward, over
 * SSH), as preflight's replication check runs from the runner; seed-replica over SSH always sets
 * source-replication-address to its supervised tunnel first, and the target runs on the runner's host.
 */
export function replicationAddress(s: MySession): { host: string; port: number } {
  const given = s.inputs.sourceReplicationAddress;
  if (!given) return addressOf(s.sourceEndpoint.connectUrl);
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(given);
  if (!m) throw new UserError(`input source-replication-address must be host:port (got ${JSON.stringify(given)})`);
  return { host: m[1], port: Number(m[2]) };
}

export interface Facts {
  version: string;
  flavor: Flavor;
  vars: Record<string, string>;
}

export async function facts(c: MyConn): Promise<Facts> {
  const { v } = await one<{ v: string }>(c, 'SELECT VERSION() AS v');
  const vars = await variables(c, [
    'server_id',
    'server_uuid',
    'hostname',
    'port',
    'datadir',
    'pid_file',
    'log_bin',
    'binlog_format',
    'gtid_mode',
    'read_only',
  ]);
  return { version: v, flavor: detectFlavor(v), vars };
}

function startCommand(s: MySession): string {
  return targetStartCommand(s.inputs);
}
function stopCommand(s: MySession): string {
  return targetStopCommand(s.inputs);
}

const refused = (e: unknown) => /connection refused|ECONNREFUSED/i.test(String((e as Error).message));
const authFailed = (e: unknown) => /access denied/i.test(String((e as Error).message));

async function stopTarget(s: MySession): Promise<void> {
  await s.forget('target');
  const r = await s.ctx.targetHost.shell(stopCommand(s), { timeoutMs: 300_000 });
  if (r.code !== 0)
    throw new UserError(`target-stop-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}. Check the command; nothing was changed.`);
  await targetDown(s, 'the target server stopping', 120_000);
}

/** Waits until the target refuses connections; `down` tells its refusal from other errors, which end the wait. */
export async function targetDown(s: MySession, what: string, timeoutMs: number, down: (e: unknown) => boolean = refused): Promise<void> {
  await waitFor(what, timeoutMs, async () => {
    try {
      const c = await connectMy(s.targetEndpoint.connectUrl, { input: s.targetEndpoint.input, side: 'target', timeoutMs: 2000 });
      await c.end();
      return undefined;
    } catch (e) {
      if (down(e)) return true;
      throw e;
    }
  });
}

/** Whether `program` (and bash, for pipefail) are on a host. */
async function hasPrograms(host: Host, ...programs: string[]): Promise<boolean> {
  const r = await host.run(['/bin/sh', '-c', programs.map((p) => `command -v ${p} >/dev/null`).join(' && ')]);
  return r.code === 0;
}

/**
 * Over SSH the backup crosses a link that may be thin: compressed with zstd on the source, unpacked
 * on the target, when both hosts have it (probed). A source on this machine is not compressed:
 * that would only burn the CPU. bash's pipefail keeps each side's own exit status.
 */
async function streamCompression(s: MySession): Promise<{ pack: (argv: string[]) => string[]; unpack: (argv: string[]) => string[]; why: string }> {
  const none = { pack: (a: string[]) => a, unpack: (a: string[]) => a };
  if (!s.ctx.ssh) return { ...none, why: 'none (the source is on this machine)' };
  if (s.inputs.seedCompression === 'off') return { ...none, why: 'none (seed-compression: off)' };
  if (!(await hasPrograms(s.ctx.sourceHost, 'bash', 'zstd')) || !(await hasPrograms(s.ctx.targetHost, 'bash', 'zstd')))
    return { ...none, why: 'none (zstd or bash is missing on the source or the target host)' };
  const sh = (argv: string[]) => argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return {
    pack: (a) => ['bash', '-c', `set -o pipefail; ${sh(a)} | zstd -1 -T2 -q -c`],
    unpack: (a) => ['bash', '-c', `set -o pipefail; zstd -d -q -c | ${sh(a)}`],
    why: 'zstd -1 on the source, unpacked on the target',
  };
}

/** Streams the backup from the source host into the target's data directory, counting bytes. */
async function streamBackup(s: MySession, flavor: Flavor, dataDir: string, sourceDataDir: string, estimate: number): Promise<number> {
  const { log } = s.ctx;
  const srcHost = s.ctx.sourceHost;
  const tgtHost = s.ctx.targetHost;
  // The backup runs where the source's files are, and connects to the server as that host sees it.
  const { host, port } = addressOf(s.sourceEndpoint.given);
  const creds = await credentialsFile(srcHost, s.sourceEndpoint.given);
  const tool = flavor.backupTool;
  const tmpDir = `/tmp/.zdm-backup-tmp-${process.pid}`;
  let backup: Spawned | undefined;
  let extract: Spawned | undefined;
  const z = await streamCompression(s);
  const tls = await toolTlsArgs(srcHost, s.sourceEndpoint.given, s.sourceEndpoint.input, tool === 'xtrabackup' ? 'mysql' : 'mariadb');
  log.info(`compression of the backup stream: ${z.why}`);
  try {
    backup = await srcHost.spawn(
      z.pack([
        tool,
        `--defaults-extra-file=${creds}`,
        ...tls.args,
        '--backup',
        '--stream=xbstream',
        `--host=${host}`,
        `--port=${port}`,
        `--datadir=${sourceDataDir}`,
        `--target-dir=${tmpDir}`,
        '--parallel=2',
        ...(s.inputs.backupOptions ?? '').split(/\s+/).filter(Boolean),
      ]),
    );
    extract = await tgtHost.spawn(z.unpack([flavor.streamExtractor, '-x', '-C', dataDir]));
    const progress = new Progress(log);
    const started = Date.now();
    let bytes = 0;
    backup.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      progress.report(`streamed ${transferProgress(bytes, estimate, started, true)}`);
    });
    backup.stdout.pipe(extract.stdin);
    const [b, x] = await Promise.all([backup.done, extract.done]);
    // The extractor exits 0 on empty input even when the backup failed: the backup's own word counts.
    if (b.code !== 0 || !/completed OK!/.test(b.stderr)) throw new UserError(`${tool} on the source failed (exit ${b.code}): ${lastLines(b.stderr, 4)}`);
    if (x.code !== 0) throw new UserError(`${flavor.streamExtractor} on the target failed (exit ${x.code}): ${lastLines(x.stderr, 4)}`);
    progress.report(
      `backup streamed: ${formatBytes(bytes)} in ${formatSeconds((Date.now() - started) / 1000)}${s.ctx.ssh && z.why.startsWith('zstd') ? ' over the link, compressed' : ''}`,
      true,
    );
    return bytes;
  } finally {
    backup?.kill();
    extract?.kill();
    await srcHost.remove(creds);
    await srcHost.remove(tmpDir);
    for (const f of tls.files) await srcHost.remove(f).catch(() => undefined);
  }
}

/** Points the fresh copy at the source from the copy's coordinates and waits for both threads to run. */
export async function startReplication(s: MySession, flavor: Flavor, tgt: MyConn, coords: ReturnType<typeof parseBinlogInfo>): Promise<void> {
  const addr = replicationAddress(s);
  await tgt.query(flavor.stopReplica).catch(() => undefined);
  await tgt.query(flavor.resetReplicaAll).catch(() => undefined);
  const tls = await replicationTls(
    s.ctx.targetHost,
    () => dataDirOf(tgt),
    s.sourceEndpoint.given,
    s.sourceEndpoint.input,
    Boolean(tlsStateOf(await s.source())?.encrypted),
  );
  for (const stmt of flavor.changeSource({
    ...addr,
    tls,
    user: s.inputs.replicationUser,
    password: s.inputs.replicationPassword,
    ...(coords.gtid ? { gtid: coords.gtid } : { file: coords.file, position: coords.position }),
  })) {
    await tgt.query(stmt);
  }
  await tgt.query(flavor.startReplica);
  // Stray writes on the replica would diverge it; replication itself is not bound by read_only.
  for (const stmt of flavor.readOnly(true)) await tgt.query(stmt);
  const c = flavor.columns;
  await waitFor(
    'both replication threads running',
    60_000,
    async () => {
      const st = (await rows(tgt, flavor.showReplicaStatus))[0];
      if (!st) return undefined;
      if (Number(st[c.lastIoErrno]) || Number(st[c.lastSqlErrno])) {
        throw new SafetyError(`replication did not start: ${st[c.lastIoError] || st[c.lastSqlError]}`);
      }
      return st[c.ioRunning] === 'Yes' && st[c.sqlRunning] === 'Yes' ? true : undefined;
    },
    (e) => e instanceof SafetyError,
  );
}

/** Credentials for a client program, in an option file only the runner's user can read (never on a command line). */
export async function credentialsFile(host: Host, url: URL): Promise<string> {
  const file = `/tmp/.zdm-${process.pid}-${Math.random().toString(36).slice(2)}.cnf`;
  const esc = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  await host.writeFile(file, `[client]\nuser=${esc(decodeURIComponent(url.username || 'root'))}\npassword=${esc(decodeURIComponent(url.password))}\n`, {
    mode: 0o600,
  });
  return file;
}

export async function seedMysql(s: MySession, _plan: TuningPlan | undefined): Promise<SeedResult> {
  const { log, targetHost: host } = s.ctx;
  const started = Date.now();
  const src = await s.source();
  const sf = await facts(src);
  const flavor = sf.flavor;
  const dataDir = physicalDataDir(s.inputs, flavor.backupTool, '/var/lib/mysql');
  const owner: OsUser = await host.ownerOf(dataDir);
  const sourceDataDir = s.inputs.sourceDataDir || sf.vars.datadir;
  const { bytes: estimate } = await one<{ bytes: string }>(src, 'SELECT COALESCE(SUM(data_length + index_length), 0) AS bytes FROM information_schema.TABLES');
  await ensureHeartbeatTable(s, src, s.inputs.heartbeatTable);

  // The copy goes into a directory of its own beside the data directory, while the target server
  // shuts down (seconds, with a large buffer pool): the two overlap, and a failed copy leaves the
  // target's data directory untouched.
  await removeLeftIncoming(host, dataDir, log);
  const incoming = incomingPath(dataDir);
  await host.run(['mkdir', '-m', '0750', incoming]);
  log.info(`stopping the target server: ${stopCommand(s)}`);
  const stopping = stopTarget(s).then(
    () => undefined,
    (e: unknown) => e,
  );
  let bytes: number;
  let coords: ReturnType<typeof parseBinlogInfo>;
  try {
    log.info(`streaming a hot physical backup of the source (${flavor.backupTool}, no lock beyond its brief commit lock) into ${incoming}`);
    bytes = await streamBackup(s, flavor, incoming, sourceDataDir, Number(estimate));
    const prep = await host.run([flavor.backupTool, '--prepare', `--target-dir=${incoming}`]);
    if (prep.code !== 0 || !/completed OK!/.test(prep.stderr))
      throw new UserError(`${flavor.backupTool} --prepare failed (exit ${prep.code}): ${lastLines(prep.stderr, 4)}`);
    const info = (await host.exists(path.join(incoming, 'mariadb_backup_binlog_info'))) ? 'mariadb_backup_binlog_info' : 'xtrabackup_binlog_info';
    coords = parseBinlogInfo(await host.readFile(path.join(incoming, info)));
    await host.run(['chown', '-R', `${owner.uid}:${owner.gid}`, incoming]);
    const stopFailed = await stopping;
    if (stopFailed) throw stopFailed;
    failpoint('seed:copied');
  } catch (e) {
    await stopping;
    await host.remove(incoming);
    log.warn('the copy failed: the target data directory was not touched; starting the target again');
    const r = await host.shell(startCommand(s), { timeoutMs: 300_000 }).catch((err: Error) => ({ code: 1, stderr: err.message, stdout: '' }));
    if (r.code !== 0) log.warn(`could not start the target again: ${lastLines(r.stderr)}`);
    throw e;
  }
  // Renames only, on one filesystem: the previous data directory stays aside until replication runs.
  const aside = asidePath(dataDir);
  const hadDir = await host.exists(dataDir);
  if (hadDir) await host.rename(dataDir, aside);
  await host.rename(incoming, dataDir);

  log.info(`starting the target: ${startCommand(s)}`);
  const r = await host.shell(startCommand(s), { timeoutMs: 300_000 });
  if (r.code !== 0) throw new UserError(`target-start-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}`);
  const tgt = await waitFor(
    'the target accepting connections',
    120_000,
    async () => {
      await s.forget('target');
      return s.target();
    },
    authFailed,
  );

  await startReplication(s, flavor, tgt, coords);
  if (hadDir) await host.remove(aside);
  const position = coords.gtid ? `gtid:${coords.gtid}` : `${coords.file}:${coords.position}`;
  log.info(`the target replicates from ${position} (backup ended at ${coords.file}:${coords.position})`);
  return { position, seconds: (Date.now() - started) / 1000, bytes, sourceVersion: sf.version };
}
