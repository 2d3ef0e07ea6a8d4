/** Process-wide registry of throwaway servers, torn down on exit or interrupt even when a test fails. */
import { rmSync } from 'node:fs';

export interface Disposable {
  /** Synchronous last-resort teardown: kill processes, remove directories. */
  killSync(): void;
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
  }
  live.clear();
}

export function register(d: Disposable): void {
  live.add(d);
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAll);
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(sig, () => {
      cleanupAll();
      process.exit(code);
    });
  }
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
