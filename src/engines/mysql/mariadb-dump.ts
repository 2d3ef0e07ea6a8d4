/**
 * The logical copy's fallback without a mydumper that knows the server: the server's own dump
 * (mariadb-dump, mysqldump) --single-transaction, one consistent snapshot piped into the running target.
 */
import { SafetyError, UserError } from '../../errors.js';
import { lastLines, type Spawned } from '../../hosts/host.js';
import { formatBytes, formatSeconds, Progress } from '../../log.js';
import { hostPort, rows } from './connect.js';
import { credentialsFile } from './seed.js';
import type { MySession } from './session.js';
import { toolTlsArgs } from './tls.js';

const SYSTEM = ['mysql', 'sys', 'performance_schema', 'information_schema'];

/** The source's own databases; the system schema's accounts are copied by copyAccounts instead. */
async function userDatabases(s: MySession): Promise<string[]> {
  const dbs = await rows<{ Database: string }>(await s.source(), 'SHOW DATABASES');
  return dbs.map((d) => d.Database).filter((d) => !SYSTEM.includes(d));
}

/** How one engine's dump tool is run and where its coordinates are in the dump. */
interface DumpDialect {
  dump: string;
  client: string;
  /** Options that write the binlog position and the GTID state as comments. */
  coordinates: string[];
  gtid: RegExp;
  position: RegExp;
}

const DIALECTS: Record<'mariadb-dump' | 'mysqldump', DumpDialect> = {
  'mariadb-dump': {
    dump: 'mariadb-dump',
    client: 'mariadb',
    coordinates: ['--master-data=2', '--gtid'],
    gtid: /^-- SET GLOBAL gtid_slave_pos='([^']*)'/gm,
    position: /^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+)/gm,
  },
  // MySQL 8.0.17+: COMMENTED keeps the GTID set out of the load (startReplication sets gtid_purged itself); a set of several servers spans lines.
  mysqldump: {
    dump: 'mysqldump',
    client: 'mysql',
    coordinates: ['--source-data=2', '--set-gtid-purged=COMMENTED'],
    gtid: /^\/\* SET @@GLOBAL\.GTID_PURGED=(?:\/\*!80000 '\+'\*\/ )?'\+?([^']*)'/gm,
    position: /^-- CHANGE (?:REPLICATION SOURCE|MASTER) TO (?:SOURCE|MASTER)_LOG_FILE='([^']+)', (?:SOURCE|MASTER)_LOG_POS=(\d+)/gm,
  },
};

/** Coordinates are comments in the dump: the binlog position and the GTID state near the top (MariaDB: the GTID at the end). */
export function coordinateReader(d: Pick<DumpDialect, 'gtid' | 'position'>) {
  let tail = '';
  const found: { gtid?: string; file?: string; position?: number } = {};
  return {
    found,
    add(chunk: Buffer) {
      const text = tail + chunk.toString('latin1');
      for (const m of text.matchAll(d.gtid)) found.gtid = m[1].replace(/\s+/g, '');
      for (const m of text.matchAll(d.position)) [found.file, found.position] = [m[1], Number(m[2])];
      tail = text.slice(-4096);
    },
  };
}

export const dumpDialect = (tool: 'mariadb-dump' | 'mysqldump') => DIALECTS[tool];

export async function dumpWithServerDump(
  s: MySession,
  estimate: number,
  tool: 'mariadb-dump' | 'mysqldump',
): Promise<{ bytes: number; coords: { file: string; position: number; gtid?: string } }> {
  const runner = s.ctx.runnerHost;
  // The dump and the load run on the runner: they dial what the runner reaches.
  const src = hostPort(s.sourceEndpoint.connectUrl);
  const tgt = hostPort(s.targetEndpoint.connectUrl);
  const dbs = await userDatabases(s);
  const d = DIALECTS[tool];
  const [srcCreds, tgtCreds] = await Promise.all([credentialsFile(runner, s.sourceEndpoint.given), credentialsFile(runner, s.targetEndpoint.given)]);
  let dump: Spawned | undefined;
  let load: Spawned | undefined;
  const srcTls = await toolTlsArgs(runner, s.sourceEndpoint.connectUrl, s.sourceEndpoint.input, 'mariadb');
  const tgtTls = await toolTlsArgs(runner, s.targetEndpoint.connectUrl, s.targetEndpoint.input, 'mariadb');
  try {
    dump = await runner.spawn([
      d.dump,
      `--defaults-extra-file=${srcCreds}`,
      ...srcTls.args,
      `--host=${src.host}`,
      `--port=${src.port}`,
      '--single-transaction',
      ...d.coordinates,
      '--routines',
      '--events',
      '--triggers',
      '--databases',
      ...dbs,
    ]);
    load = await runner.spawn([d.client, `--defaults-extra-file=${tgtCreds}`, ...tgtTls.args, `--host=${tgt.host}`, `--port=${tgt.port}`]);
    const progress = new Progress(s.ctx.log);
    const started = Date.now();
    let bytes = 0;
    const coords = coordinateReader(d);
    dump.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      coords.add(chunk);
      const secs = (Date.now() - started) / 1000;
      progress.report(`dumped ${formatBytes(bytes)} (data about ${formatBytes(estimate)}), ${formatBytes(secs > 0 ? bytes / secs : 0)}/s`);
    });
    dump.stdout.pipe(load.stdin);
    const [dr, l] = await Promise.all([dump.done, load.done]);
    if (dr.code !== 0) throw new UserError(`${d.dump} failed (exit ${dr.code}): ${lastLines(dr.stderr, 4)}`);
    if (l.code !== 0) throw new UserError(`loading the dump into the target failed (exit ${l.code}): ${lastLines(l.stderr, 4)}`);
    const { file, position, gtid } = coords.found;
    if (!file || position === undefined)
      throw new SafetyError('the dump holds no binlog coordinates: replication cannot start from the exact point of the copy');
    progress.report(`dump loaded: ${formatBytes(bytes)} in ${formatSeconds((Date.now() - started) / 1000)}`, true);
    return { bytes, coords: { file, position, gtid: gtid || undefined } };
  } finally {
    dump?.kill();
    load?.kill();
    await Promise.all([
      runner.remove(srcCreds),
      runner.remove(tgtCreds),
      ...[...srcTls.files, ...tgtTls.files].map((f) => runner.remove(f).catch(() => undefined)),
    ]);
  }
}
