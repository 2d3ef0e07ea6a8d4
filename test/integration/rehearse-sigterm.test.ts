/**
 * `zdm rehearse` stopped by SIGTERM (what a cancelled CI job sends) tears down everything it
 * started, as SIGINT does: servers, sshd, the supervised replication tunnel and their directories.
 * The rehearsal runs as a child process with a TMPDIR of its own, so that what it leaves behind
 * is easy to find and cannot be confused with other tests' servers.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'zdm-sigterm-'));
chmodSync(tmp, 0o755);

afterAll(() => {
  for (const pid of pidsNaming(tmp)) killPidSync(pid);
  rmSync(tmp, { recursive: true, force: true });
});

/** Processes whose command line names a path in `dir` (read here, not with the code under test). */
function pidsNaming(dir: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (
        readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          .split('\0')
          .some((a) => a.includes(`${dir}/`))
      )
        out.push(pid);
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

const killPidSync = (pid: number) => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, timeoutMs: number, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('zdm rehearse and SIGTERM (issue 13 item 15)', () => {
  it('with --ssh, SIGTERM during await-lag-zero ends the process and leaves no server, tunnel or directory', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts', 'rehearse', '--ssh', '--size-mb', '8'], {
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
    try {
      await until('await-lag-zero to start', 200_000, () => /\[await-lag-zero\] == Waiting/.test(out) || child.exitCode !== null);
      expect(child.exitCode, out).toBe(null);
      // Servers, sshd and the tunnel daemon run, all named by a path in the rehearsal's TMPDIR.
      const running = pidsNaming(tmp);
      expect(running.length, out).toBeGreaterThanOrEqual(3);
      expect(out).toMatch(/replication tunnel replication-\d+ (up|running)/);
      child.kill('SIGTERM');
      const end = await Promise.race([exited, sleep(30_000).then(() => undefined)]);
      expect(end, 'the rehearsal did not exit within 30 s of SIGTERM').toBeDefined();
      expect(end!.code).toBe(143);
      // Teardown happens before the exit; allow only for the kernel to reap what was killed.
      await until('the processes it started to end', 2_000, () => pidsNaming(tmp).length === 0).catch(() => undefined);
      expect(pidsNaming(tmp)).toEqual([]);
      // zdm's template cache stays by design, so does the rehearsal's migration record (its state dir, a few kB, named in the report),
      // and tsx (which runs src/ here) keeps its own cache.
      const left = readdirSync(tmp).filter((f) => f !== 'zdm-sandbox-cache' && !f.startsWith('tsx-') && !f.startsWith('zdm-rehearsal-state-'));
      expect(left).toEqual([]);
      for (const d of readdirSync(tmp).filter((f) => f.startsWith('zdm-rehearsal-state-')))
        for (const f of readdirSync(path.join(tmp, d))) expect(f, 'only migration records in the state dir').toMatch(/\.(json|md)$/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 300_000);
});
