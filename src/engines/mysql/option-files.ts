/**
 * Whether the running MySQL/MariaDB server reads zdm's option file (target-config-file). A server
 * started with --defaults-file reads that file only (and what it includes), never the default
 * /etc/mysql/... tree: tune-target's profile and the durable values cutover keeps would then be
 * lost at the next restart, silently. The proof: the server process's own command line (from
 * /proc on the target host), the option files it therefore reads, and their !include and
 * !includedir lines, followed as the server follows them.
 */
import * as path from 'node:path';
import type { Verdict } from '../../checks/check.js';
import type { Host } from '../../hosts/host.js';
import type { FlavorName } from './flavor.js';

/** Where zdm's option file goes when target-config-file is empty: an !includedir of the distribution's packages. */
export function defaultConfigFile(flavor: FlavorName): string {
  return flavor === 'mariadb' ? '/etc/mysql/mariadb.conf.d/99-zdm-migration.cnf' : '/etc/mysql/mysql.conf.d/99-zdm-migration.cnf';
}

/** The option files a server reads without --defaults-file (MySQL and MariaDB on Linux), besides ~/.my.cnf. */
export const DEFAULT_OPTION_FILES = ['/etc/my.cnf', '/etc/mysql/my.cnf'];

export const CONFIG_CHECK = 'target reads target-config-file';

export interface DefaultsArgs {
  noDefaults: boolean;
  defaultsFile?: string;
  extraFile?: string;
}

/** The option-file arguments of a server's command line. */
export function defaultsArgs(argv: string[]): DefaultsArgs {
  const out: DefaultsArgs = { noDefaults: false };
  for (const a of argv) {
    if (a === '--no-defaults') out.noDefaults = true;
    else if (a.startsWith('--defaults-file=')) out.defaultsFile = a.slice('--defaults-file='.length);
    else if (a.startsWith('--defaults-extra-file=')) out.extraFile = a.slice('--defaults-extra-file='.length);
  }
  return out;
}

/** The files the server starts reading from, in order. */
export function rootFiles(a: DefaultsArgs): string[] {
  if (a.noDefaults) return [];
  if (a.defaultsFile) return [a.defaultsFile];
  return [...DEFAULT_OPTION_FILES, ...(a.extraFile ? [a.extraFile] : [])];
}

export interface Reading {
  /** How the server reaches the file, e.g. "/etc/mysql/my.cnf -> !includedir /etc/mysql/conf.d"; undefined: it does not. */
  via?: string;
  /** The first !includedir met: where a file of zdm's would be read. */
  includeDir?: string;
}

/** Follows the option files from `roots` as the server does, looking for `want`. */
export async function findReading(host: Host, roots: string[], want: string): Promise<Reading> {
  const seen = new Set<string>();
  let includeDir: string | undefined;
  const visit = async (file: string, chain: string): Promise<string | undefined> => {
    if (seen.has(file) || seen.size > 200) return undefined;
    seen.add(file);
    if (file === want) return chain;
    if (!(await host.exists(file))) return undefined;
    for (const line of (await host.readFile(file)).split('\n')) {
      const m = /^\s*!(include|includedir)\s+(.+?)\s*$/.exec(line);
      if (!m) continue;
      const target = path.resolve(path.dirname(file), m[2]);
      const step = `${chain} -> !${m[1]} ${target}`;
      const found = m[1] === 'include' ? await visit(target, step) : await visitDir(target, step);
      if (found) return found;
    }
    return undefined;
  };
  // The server reads the files of an !includedir that end in .cnf.
  const visitDir = async (dir: string, chain: string): Promise<string | undefined> => {
    includeDir ??= dir;
    if (path.dirname(want) === dir && want.endsWith('.cnf')) return chain;
    const r = await host.run(['ls', '-1', dir]).catch(() => undefined);
    const names = r?.code === 0 ? r.stdout.split('\n').filter((n) => n.endsWith('.cnf')) : [];
    for (const n of names.sort()) {
      const found = await visit(path.join(dir, n), chain);
      if (found) return found;
    }
    return undefined;
  };
  for (const root of roots) {
    const via = await visit(root, root);
    if (via) return { via, includeDir };
  }
  return { includeDir };
}

/**
 * A command line without the dynamic loader in front of it: a server can run as
 * `ld-linux-x86-64.so.2 --library-path DIRS /usr/sbin/mysqld ...` (a build whose libraries are not
 * the system's, such as the MySQL this project's tests run).
 */
export function withoutLoader(argv: string[]): string[] {
  if (!/^ld-linux.*\.so/.test(path.basename(argv[0] ?? ''))) return argv;
  let i = 1;
  while (i < argv.length && argv[i].startsWith('--')) i += ['--library-path', '--preload', '--argv0', '--audit', '--inhibit-rpath'].includes(argv[i]) ? 2 : 1;
  return argv.slice(i);
}

/** The server process's command line, from its pid file and /proc on the target host; undefined with the reason when it cannot be read. */
async function serverCommandLine(host: Host, pidFile: string, dataDir: string): Promise<{ pid: number; argv: string[] } | string> {
  const file = path.resolve(dataDir, pidFile);
  const pid = (await host.exists(file)) ? Number((await host.readFile(file)).trim()) : NaN;
  if (!Number.isInteger(pid) || pid <= 0) return `its pid file ${file} is not readable on the target host`;
  const raw = await host.readFile(`/proc/${pid}/cmdline`).catch(() => '');
  const argv = withoutLoader(raw.split('\0').filter(Boolean));
  if (!argv.length || !/(mysqld|mariadbd)$/.test(path.basename(argv[0])))
    return `process ${pid} of its pid file ${file} is not a mysqld/mariadbd on the target host (a container, or another machine?)`;
  return { pid, argv };
}

/**
 * The check: proven read (ok), proven not read (fails unless `mayWarn`), or not provable (a warning).
 * `pidFile` and `dataDir` are the server's @@pid_file and @@datadir.
 */
export async function configFileCheck(host: Host, file: string, pidFile: string, dataDir: string, mayWarn: boolean): Promise<Verdict> {
  const cmd = await serverCommandLine(host, pidFile, dataDir).catch((e: Error) => e.message);
  if (typeof cmd === 'string')
    return {
      status: 'warn',
      detail: `not proven: ${cmd}. Make sure the server reads ${file} (an !includedir of its configuration), or set target-config-file to a file it reads: tune-target's settings and the durable values cutover keeps go there.`,
    };
  const args = defaultsArgs(cmd.argv);
  const started = args.noDefaults
    ? 'with --no-defaults'
    : args.defaultsFile
      ? `with --defaults-file=${args.defaultsFile}`
      : `reading ${rootFiles(args).join(', ')}`;
  const reading = await findReading(host, rootFiles(args), path.resolve(file));
  if (reading.via) return { status: 'ok', detail: `${file}, read by the server (pid ${cmd.pid}) via ${reading.via}` };
  const instead = reading.includeDir
    ? `set target-config-file to a .cnf file in a directory it includes, e.g. ${path.join(reading.includeDir, '99-zdm-migration.cnf')}`
    : 'set target-config-file to a file it reads';
  const root = rootFiles(args)[0];
  return {
    status: mayWarn ? 'warn' : 'fail',
    detail: `the server (pid ${cmd.pid}, started ${started}) never reads ${file}: the settings zdm keeps there (tune-target's profile, the durable values cutover restores) would be lost at its next restart. ${instead[0].toUpperCase()}${instead.slice(1)}${root ? `, or add "!include ${file}" to ${root}` : ''}.`,
  };
}
