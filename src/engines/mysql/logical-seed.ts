/**
 * Seeding a MySQL/MariaDB replica through SQL, for sources whose files cannot be read (managed
 * services, another machine, another version): mydumper in parallel from one consistent snapshot,
 * myloader into the running target, the accounts copied, replication started from the snapshot's
 * exact position. Without a mydumper that knows the server, the server's own single-threaded dump
 * (mariadb-dump, mysqldump) copies instead.
 */
import { SafetyError, UserError } from '../../errors.js';
import { lastLines, type Host } from '../../hosts/host.js';
import { formatBytes, formatSeconds, Progress } from '../../log.js';
import type { SeedResult } from '../engine.js';
import { toolOn } from './checks/context.js';
import { copyAccounts } from './accounts.js';
import { hostPort, one, rows, tlsStateOf, type MyConn } from './connect.js';
import { toolTlsArgs } from './tls.js';
import { compareVersions, type Flavor } from './flavor.js';
import { ensureHeartbeatTable } from './lag.js';
import { dumpWithServerDump } from './mariadb-dump.js';
import { ownPrivileges } from './privileges.js';
import { credentialsFile, facts, startReplication } from './seed.js';
import type { MySession } from './session.js';

const MB = 1024 * 1024;
/**
 * Conservative copy rates for time estimates (binlog retention, logical-max-size): about a third
 * of what bench/logical-seed.ts measured for 1 GB on a shared 2-core machine (docs/performance.md).
 */
export const COPY_RATE = { logical: 4 * MB, physical: 15 * MB } as const;

/** Schemas the server owns: never dumped; accounts are copied by copyAccounts instead of mysql.*. */
export const SYSTEM_SCHEMAS = ['mysql', 'sys', 'performance_schema', 'information_schema'];
/** mydumper's --regex for everything but the system schemas (PCRE). */
export const DUMP_REGEX = `^(?!(${SYSTEM_SCHEMAS.join('|')})\\.)`;

/** Rows per dump file: about 25 MB of typical rows, small enough to spread one table over every thread. */
const CHUNK_ROWS = 100_000;

export type Coordinates = { file: string; position: number; gtid?: string };

export interface NonInnodbTable {
  table: string;
  engine: string;
  bytes: number;
}

/** Base tables outside the system schemas that InnoDB's snapshot does not cover: copied under a read lock. */
export async function nonInnodbTables(c: MyConn): Promise<NonInnodbTable[]> {
  const r = await rows<{ s: string; t: string; e: string; b: string }>(
    c,
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, ENGINE AS e, COALESCE(DATA_LENGTH + INDEX_LENGTH, 0) AS b FROM information_schema.TABLES
     WHERE TABLE_TYPE = 'BASE TABLE' AND ENGINE <> 'InnoDB' AND TABLE_SCHEMA NOT IN (${SYSTEM_SCHEMAS.map((x) => `'${x}'`).join(', ')})
     ORDER BY TABLE_SCHEMA, TABLE_NAME`,
  );
  return r.map((x) => ({ table: `${x.s}.${x.t}`, engine: x.e, bytes: Number(x.b) }));
}

/** What copying the non-InnoDB tables costs: writes to them wait while they are read. */
export function nonInnodbCost(tables: NonInnodbTable[]): string {
  const bytes = tables.reduce((n, t) => n + t.bytes, 0);
  const names = tables.slice(0, 10).map((t) => `${t.table} (${t.engine})`);
  const more = tables.length > names.length ? ` and ${tables.length - names.length} more` : '';
  return `${names.join(', ')}${more}: outside InnoDB's snapshot, they are copied under LOCK TABLES … READ (mydumper --less-locking), so writes to them wait until they are read, about ${formatSeconds(Math.max(1, bytes / COPY_RATE.logical))} for ${formatBytes(bytes)}; InnoDB tables are not locked. Convert them (ALTER TABLE … ENGINE=InnoDB) to avoid the wait`;
}

export type LogicalToolName = 'mydumper' | 'mariadb-dump' | 'mysqldump';

/** The tool the logical copy uses, and why: undefined `tool` when none can copy this server. */
export interface LogicalTool {
  tool?: LogicalToolName;
  /** Why not mydumper, when another tool (or none) was chosen. */
  why?: string;
}

/** mydumper reads SHOW BINARY LOG STATUS on MySQL 8.4+ from this release (mydumper pull request #1512); older ones run SHOW MASTER STATUS, removed in 8.4. */
export const MYDUMPER_FOR_84 = '0.16.3';

/** The version `mydumper --version` prints ("mydumper 0.10.0, built against ..."; newer: "mydumper v0.16.9-1, ..."). */
export function parseMydumperVersion(text: string): string | undefined {
  return /mydumper\s+v?(\d+\.\d+\.\d+)/.exec(text)?.[1];
}

const older = (a: string, b: string) => compareVersions(a, b) < 0;

/**
 * The tool the logical copy uses on the runner: mydumper with myloader where it knows the server,
 * else the server's own single-threaded dump (mariadb-dump, mysqldump) with its client.
 */
export async function logicalTool(runner: Host, flavor: Flavor): Promise<LogicalTool> {
  let why: string | undefined;
  if ((await toolOn(runner, ['mydumper'])) && (await toolOn(runner, ['myloader']))) {
    const r = await runner.run(['mydumper', '--version']).catch(() => undefined);
    const v = parseMydumperVersion(`${r?.stdout ?? ''}${r?.stderr ?? ''}`);
    if (flavor.name !== 'mysql84' || (v && !older(v, MYDUMPER_FOR_84))) return { tool: 'mydumper' };
    why = `mydumper ${v ?? '(version unknown)'} does not know MySQL 8.4 and later (it runs SHOW MASTER STATUS, removed in 8.4): it needs mydumper ${MYDUMPER_FOR_84} or later`;
  } else why = 'mydumper is not installed on the runner (Debian/Ubuntu package mydumper)';
  const [dump, client] = flavor.name === 'mariadb' ? (['mariadb-dump', 'mariadb'] as const) : (['mysqldump', 'mysql'] as const);
  if (!(await toolOn(runner, [dump])) || !(await toolOn(runner, [client]))) return { why: `${why}, and ${dump} with ${client} is not on the runner either` };
  if (flavor.name !== 'mariadb') {
    // Debian's MariaDB client installs mysqldump as a link to mariadb-dump, which knows neither --source-data nor MySQL's GTIDs.
    const r = await runner.run([dump, '--version']).catch(() => undefined);
    const v = `${r?.stdout ?? ''}${r?.stderr ?? ''}`.trim();
    if (/mariadb/i.test(v))
      return {
        why: `${why}, and the mysqldump on the runner is MariaDB's (${v}), which cannot dump MySQL with its GTID set: put MySQL's client tools first on PATH`,
      };
  }
  return { tool: dump, why };
}

/** The binlog position and GTID mydumper read under its lock (`SHOW MASTER STATUS:` in its metadata file). */
export function parseMydumperMetadata(text: string): Coordinates {
  const block = /SHOW MASTER STATUS:\n([\s\S]*?)(?:\n\s*\n|$)/.exec(text)?.[1] ?? '';
  const file = /^\s*Log:\s*(\S+)/m.exec(block)?.[1];
  const pos = /^\s*Pos:\s*(\d+)/m.exec(block)?.[1];
  if (!file || !pos) throw new SafetyError(`mydumper's metadata holds no binlog position: ${JSON.stringify(text.slice(0, 300))}`);
  // A MySQL GTID set can run over several lines; MariaDB's is one line.
  const gtid = /GTID:([\s\S]*)$/.exec(block)?.[1].replace(/\s+/g, '');
  return { file, position: Number(pos), gtid: gtid || undefined };
}

/**
 * How mydumper takes its consistent point. FLUSH TABLES WITH READ LOCK (RELOAD) or, without
 * RELOAD, LOCK TABLES on every table, only while its threads open their snapshots; with non-InnoDB
 * tables those stay locked (only those) until they are read.
 */
export function lockArgs(privs: Set<string>, nonInnodb: number): string[] {
  const lock = privs.has('RELOAD') ? [] : ['--lock-all-tables'];
  if (!privs.has('RELOAD') && !privs.has('LOCK TABLES'))
    throw new UserError(
      'the account in source-url has neither RELOAD nor LOCK TABLES: the logical copy cannot take a consistent point. GRANT RELOAD ON *.* to it.',
    );
  return [...lock, nonInnodb > 0 ? '--less-locking' : '--trx-consistency-only'];
}

/** Bytes in a directory on the runner (du), 0 when it cannot be told. */
async function dirBytes(runner: Host, dir: string): Promise<number> {
  const r = await runner.run(['du', '-sb', dir]).catch(() => undefined);
  return Number(/^(\d+)/.exec(r?.stdout ?? '')?.[1] ?? 0);
}

/** Runs a command, logging a progress line (what `status()` says) at least every 10 s. */
async function withProgress(s: MySession, argv: string[], status: () => Promise<string>, onStderr?: (c: string) => void) {
  const progress = new Progress(s.ctx.log);
  const timer = setInterval(() => {
    void status().then(
      (line) => progress.report(line),
      () => undefined,
    );
  }, 5000);
  try {
    return await s.ctx.runnerHost.run(argv, { onStderr, onStdout: onStderr });
  } finally {
    clearInterval(timer);
  }
}

/** mydumper into `dir` on the runner; returns the snapshot's coordinates. */
async function dump(s: MySession, dir: string, creds: string, tls: string[], lock: string[], estimate: number, threads: number): Promise<Coordinates> {
  const src = hostPort(s.sourceEndpoint.connectUrl);
  const started = Date.now();
  const argv = ['mydumper', `--defaults-file=${creds}`, ...tls, `--host=${src.host}`, `--port=${src.port}`, `--outputdir=${dir}`, `--threads=${threads}`];
  // Chunks of rows (by primary key) let several threads dump, and later load, one large table.
  const chunks = [`--rows=${CHUNK_ROWS}`];
  const r = await withProgress(s, [...argv, ...lock, ...chunks, `--regex=${DUMP_REGEX}`, '--triggers', '--events', '--routines', '--verbose=2'], async () => {
    const secs = (Date.now() - started) / 1000;
    return `mydumper: ${formatBytes(await dirBytes(s.ctx.runnerHost, dir))} dumped of about ${formatBytes(estimate)} (data and indexes), ${formatSeconds(secs)} so far`;
  });
  // A table that failed to dump is a CRITICAL line; the copy would silently lack it.
  if (r.code !== 0 || /\bCRITICAL\b/.test(r.stderr)) {
    const guard = /long query|Long running/i.test(r.stderr)
      ? ' A query ran longer than 60 s on the source when the copy began (mydumper waits for none): retry when it has ended.'
      : '';
    throw new UserError(`mydumper failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout, 4)}.${guard}`);
  }
  const meta = await s.ctx.runnerHost.readFile(`${dir}/metadata`);
  s.ctx.log.info(`dumped ${formatBytes(await dirBytes(s.ctx.runnerHost, dir))} in ${formatSeconds((Date.now() - started) / 1000)}`);
  return parseMydumperMetadata(meta);
}

/** Table data files in a mydumper directory (what myloader restores, one "restoring" line each). */
async function dataFiles(runner: Host, dir: string): Promise<number> {
  const r = await runner.run(['/bin/sh', '-c', 'ls -1 "$0"', dir]);
  return r.stdout.split('\n').filter((f) => f.endsWith('.sql') && !/-schema(-create|-view|-triggers|-post)?\.sql$/.test(f)).length;
}

/** myloader from `dir` into the running target, without binary logging (the copy is not replicated further). */
async function load(s: MySession, dir: string, creds: string, tls: string[], threads: number): Promise<void> {
  const tgt = hostPort(s.targetEndpoint.connectUrl);
  const total = await dataFiles(s.ctx.runnerHost, dir);
  const started = Date.now();
  let restored = 0;
  const argv = [
    'myloader',
    `--defaults-file=${creds}`,
    ...tls,
    `--host=${tgt.host}`,
    `--port=${tgt.port}`,
    `--directory=${dir}`,
    `--threads=${threads}`,
    '--verbose=3',
  ];
  // reseed: the tables of the previous copy are replaced (the target-empty check allowed them).
  if (s.inputs.reseed) argv.push('--overwrite-tables');
  const r = await withProgress(
    s,
    argv,
    async () => `myloader: ${restored} of ${total} data files started (${threads} at a time), ${formatSeconds((Date.now() - started) / 1000)} so far`,
    (c) => (restored += (c.match(/restoring `/g) ?? []).length),
  );
  if (r.code !== 0 || /\bCRITICAL\b/.test(r.stderr))
    throw new UserError(
      `myloader failed (exit ${r.code}): ${lastLines(
        r.stderr
          .split('\n')
          .filter((l) => !/Message:/.test(l))
          .join('\n') || r.stdout,
        4,
      )}`,
    );
  s.ctx.log.info(`loaded ${total} data files in ${formatSeconds((Date.now() - started) / 1000)}`);
}

/** The whole mydumper/myloader copy, its temporary directory and option files removed afterwards. */
async function copyWithMydumper(s: MySession, src: MyConn, estimate: number, nonInnodb: NonInnodbTable[]): Promise<{ bytes: number; coords: Coordinates }> {
  const runner = s.ctx.runnerHost;
  const threads = Math.max(2, Math.min(8, await runner.cpuCount()));
  const lock = lockArgs(await ownPrivileges(src), nonInnodb.length);
  const mk = await runner.run(['mktemp', '-d', '/tmp/zdm-mydumper-XXXXXX']);
  if (mk.code !== 0) throw new UserError(`cannot create a directory for the dump on the runner: ${lastLines(mk.stderr)}`);
  const dir = mk.stdout.trim();
  const [srcCreds, tgtCreds] = await Promise.all([credentialsFile(runner, s.sourceEndpoint.given), credentialsFile(runner, s.targetEndpoint.given)]);
  const encrypted = async (c: MyConn) => Boolean(tlsStateOf(c)?.encrypted);
  const srcTls = await toolTlsArgs(runner, s.sourceEndpoint.connectUrl, s.sourceEndpoint.input, 'mydumper', await encrypted(src));
  const tgtTls = await toolTlsArgs(runner, s.targetEndpoint.connectUrl, s.targetEndpoint.input, 'mydumper', await encrypted(await s.target()));
  try {
    s.ctx.log.info(
      `mydumper: ${threads} threads, consistent point by ${lock.includes('--lock-all-tables') ? 'LOCK TABLES' : 'FLUSH TABLES WITH READ LOCK'} held only while the snapshots open (${lock.at(-1)})`,
    );
    const coords = await dump(s, dir, srcCreds, srcTls.args, lock, estimate, threads);
    const bytes = await dirBytes(runner, dir);
    await load(s, dir, tgtCreds, tgtTls.args, threads);
    return { bytes, coords };
  } finally {
    await Promise.all([
      runner.remove(srcCreds),
      runner.remove(tgtCreds),
      runner.remove(dir),
      ...[...srcTls.files, ...tgtTls.files].map((f) => runner.remove(f).catch(() => undefined)),
    ]);
  }
}

/** seed-replica with method logical: the copy, the accounts, replication from the copy's point. */
export async function seedLogically(s: MySession): Promise<SeedResult> {
  const { log } = s.ctx;
  const started = Date.now();
  const src = await s.source();
  const sf = await facts(src);
  const flavor: Flavor = sf.flavor;
  const { bytes: est } = await one<{ bytes: string }>(src, 'SELECT COALESCE(SUM(data_length + index_length), 0) AS bytes FROM information_schema.TABLES');
  await ensureHeartbeatTable(s, src, s.inputs.heartbeatTable);
  const nonInnodb = await nonInnodbTables(src);
  if (nonInnodb.length) log.warn(`non-InnoDB tables ${nonInnodbCost(nonInnodb)}`);
  const { tool, why } = await logicalTool(s.ctx.runnerHost, flavor);
  // A previous copy's replication must not write into the tables being loaded again (reseed).
  await (await s.target()).query(flavor.stopReplica).catch(() => undefined);
  let copy: { bytes: number; coords: Coordinates };
  if (tool === 'mydumper') {
    log.info('copying the source through SQL: mydumper (parallel, one consistent snapshot) into myloader');
    copy = await copyWithMydumper(s, src, Number(est), nonInnodb);
  } else if (tool) {
    log.warn(`${why}: the copy is the server's own single-threaded ${tool} --single-transaction`);
    copy = await dumpWithServerDump(s, Number(est), tool);
  } else {
    throw new UserError(`the logical copy has no tool: ${why}. Install mydumper (apt-get install mydumper) or the server's client tools on the runner.`);
  }
  await copyAccounts(s, src, await s.target(), flavor);
  await startReplication(s, flavor, await s.target(), copy.coords);
  const position = copy.coords.gtid ? `gtid:${copy.coords.gtid}` : `${copy.coords.file}:${copy.coords.position}`;
  log.info(`the target replicates from ${position} (the copy's point: ${copy.coords.file}:${copy.coords.position})`);
  return { position, seconds: (Date.now() - started) / 1000, bytes: copy.bytes, sourceVersion: sf.version, tool };
}
