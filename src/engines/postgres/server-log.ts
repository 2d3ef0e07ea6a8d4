/**
 * Where the target server writes its log, found before the seed stops it, so that a server that
 * will not start after the copy can be explained by its own words ("could not bind ... Address
 * already in use", "No space left on device") instead of pg_ctl's "Examine the log output".
 */
import * as path from 'node:path';
import type { Host } from '../../hosts/host.js';
import { one, type PgClient } from './connect.js';

/** A log file and how long it was when watching began: what the server writes next is after `from`. */
interface Watched {
  file: string;
  from: number;
}

export interface ServerLogs {
  /** Files that exist now, with their sizes. */
  files: Watched[];
  /** logging_collector's directory: the newest file there after the start. */
  dir?: string;
  /** The newest file in `dir` when watching began. */
  dirNewest?: Watched;
}

async function newestIn(host: Host, dir: string): Promise<string | undefined> {
  const r = await host.run(['ls', '-1t', dir]).catch(() => undefined);
  const name = r?.code === 0 ? r.stdout.split('\n')[0]?.trim() : '';
  return name ? path.join(dir, name) : undefined;
}

const shellWords = (cmd: string) => [...cmd.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);

/** `pg_ctl ... -l FILE` / `--log=FILE` / `--log FILE` in the start command. */
export function pgCtlLogFile(startCommand: string): string | undefined {
  const w = shellWords(startCommand);
  for (let i = 0; i < w.length; i++) {
    if ((w[i] === '-l' || w[i] === '--log') && w[i + 1]) return w[i + 1];
    if (w[i].startsWith('--log=')) return w[i].slice('--log='.length);
    if (/^-l\S/.test(w[i])) return w[i].slice(2);
  }
  return undefined;
}

async function sizeOf(host: Host, file: string): Promise<number | undefined> {
  const r = await host.run(['stat', '-L', '-c', '%s', file]).catch(() => undefined);
  return r && r.code === 0 ? Number(r.stdout.trim()) : undefined;
}

/** The file the running postmaster's stderr goes to (a service's log file), read from /proc on the target host. */
async function stderrFile(host: Host, dataDir: string): Promise<string | undefined> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const pid = (await host.exists(pidFile)) ? Number((await host.readFile(pidFile)).split('\n')[0]) : NaN;
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const r = await host.run(['readlink', `/proc/${pid}/fd/2`]).catch(() => undefined);
  const target = r?.code === 0 ? r.stdout.trim() : '';
  return target.startsWith('/') && !target.startsWith('/dev/') ? target : undefined;
}

/** Finds the target's log while it still runs: the start command's -l file, its stderr file, logging_collector's directory. */
export async function findServerLogs(host: Host, tgt: PgClient, dataDir: string, startCommand: string): Promise<ServerLogs> {
  const s = await one<{ collector: string; dir: string }>(
    tgt,
    "SELECT current_setting('logging_collector') AS collector, current_setting('log_directory') AS dir",
  ).catch(() => undefined);
  const candidates = [pgCtlLogFile(startCommand), await stderrFile(host, dataDir).catch(() => undefined)].filter((f): f is string => Boolean(f));
  const files: Watched[] = [];
  for (const f of new Set(candidates.map((c) => path.resolve(dataDir, c)))) files.push({ file: f, from: (await sizeOf(host, f)) ?? 0 });
  const dir = s?.collector === 'on' ? path.resolve(dataDir, s.dir) : undefined;
  const newest = dir ? await newestIn(host, dir) : undefined;
  return { files, dir, dirNewest: newest ? { file: newest, from: (await sizeOf(host, newest)) ?? 0 } : undefined };
}

/** Watches from now on: what the server logged before (its own shutdown for the seed, say) is not shown. */
export async function markLogs(host: Host, logs: ServerLogs): Promise<void> {
  for (const w of logs.files) w.from = (await sizeOf(host, w.file)) ?? 0;
  if (logs.dirNewest) logs.dirNewest.from = (await sizeOf(host, logs.dirNewest.file)) ?? 0;
}

/** Log lines worth showing: errors and their hints, or the last lines when none is marked. */
export function relevantLines(text: string, max = 8): string[] {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const marked = lines.filter((l) => /\b(FATAL|PANIC|ERROR|HINT|DETAIL)\b|could not|No space left/.test(l));
  return (marked.length ? marked : lines).slice(-max);
}

async function readFrom(host: Host, file: string, from: number): Promise<string> {
  const r = await host.run(['tail', '-c', `+${from + 1}`, file]).catch(() => undefined);
  return r?.code === 0 ? r.stdout.slice(-16_384) : '';
}

/** What the server logged since `findServerLogs`, as "file: line | line"; empty when nothing was found. */
export async function newLogLines(host: Host, logs: ServerLogs): Promise<string[]> {
  const out: string[] = [];
  const watched = [...logs.files];
  const newest = logs.dir ? await newestIn(host, logs.dir) : undefined;
  if (newest && !watched.some((w) => w.file === newest)) watched.push({ file: newest, from: newest === logs.dirNewest?.file ? logs.dirNewest.from : 0 });
  for (const w of watched) {
    const size = await sizeOf(host, w.file);
    if (size === undefined) continue;
    const lines = relevantLines(await readFrom(host, w.file, size < w.from ? 0 : w.from));
    if (lines.length) out.push(`${w.file}: ${lines.join(' | ')}`);
  }
  return out;
}
