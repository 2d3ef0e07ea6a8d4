/** Process-wide registry of throwaway servers, torn down on exit or interrupt even when a test fails. */
import { readdirSync, readFileSync, rmSync } from 'node:fs';

export interface Disposable {
  /** Synchronous last-resort teardown: kill processes, remove directories. */
  killSync(): void;
  /**
   * The directory the server lives in. At teardown every process whose command line names it is
   * killed too: a server still starting (no pid file yet), a copy writing into it, the supervised
   * tunnel a step started with its config there.
   */
  readonly baseDir?: string;
}

const live = new Set<Disposable>();
let installed = false;

function cleanupAll(): void {
  for (const d of live) {
    try {
      d.killSync();
    } catch {
      /* best effort at exit */
    }
    if (!d.baseDir) continue;
    try {
      for (const pid of pidsNaming(d.baseDir)) killPidSync(pid);
      removeSync(d.baseDir);
    } catch {
      /* best effort at exit */
    }
  }
  live.clear();
}

/** Processes (other than this one) whose command line names `dir` or a path inside it. */
export function pidsNaming(dir: string): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.some((a) => a === dir || a.includes(`${dir}/`))) out.push(pid);
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return out;
}

/**
 * Tears every registered server down on exit and on SIGINT, SIGTERM (what a cancelled CI job
 * sends) and SIGHUP. Called by the first register(), and up front by long-running commands such as
 * `zdm rehearse`, so that a signal while the first server is still starting is handled too.
 */
export function installSignalCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAll);
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(sig, () => {
      cleanupAll();
      process.exit(code);
    });
  }
}

export function register(d: Disposable): void {
  live.add(d);
  installSignalCleanup();
}

export function unregister(d: Disposable): void {
  live.delete(d);
}

export function killPidSync(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

export function removeSync(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
