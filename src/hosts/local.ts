import { spawn } from 'node:child_process';
import { promises as fs, constants as fsc } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Host, OsUser, RunOptions, RunResult, Spawned } from './host.js';
import { Tail } from './host.js';
import { childEnv } from './child-env.js';

/** Runs commands and touches files on the machine zdm itself runs on. */
export class LocalHost implements Host {
  readonly name = 'local';
  private readonly users = new Map<string, OsUser>();

  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const ids = opts.user ? await this.switchTo(opts.user) : undefined;
    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn(argv[0], argv.slice(1), {
        env: childEnv({ ...(ids ? { HOME: '/tmp', USER: opts.user } : {}), ...opts.env }),
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(ids ?? {}),
      });
      const out = new Tail();
      const err = new Tail();
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        out.add(c);
        opts.onStdout?.(c);
      });
      child.stderr.setEncoding('utf8').on('data', (c: string) => {
        err.add(c);
        opts.onStderr?.(c);
      });
      let timedOut = false;
      const timer = opts.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGTERM');
          }, opts.timeoutMs)
        : undefined;
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`could not run ${argv[0]}: ${e.message}`, { cause: e }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stderr = err.toString() + (timedOut ? `\n(killed after ${opts.timeoutMs} ms)` : '');
        resolve({ code: code ?? (signal ? 128 : 1), stdout: out.toString(), stderr });
      });
    });
  }

  async spawn(argv: string[], opts: Omit<RunOptions, 'onStdout'> = {}): Promise<Spawned> {
    const ids = opts.user ? await this.switchTo(opts.user) : undefined;
    const child = spawn(argv[0], argv.slice(1), {
      env: childEnv({ ...(ids ? { HOME: '/tmp', USER: opts.user } : {}), ...opts.env }),
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(ids ?? {}),
    });
    const err = new Tail();
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err.add(c);
      opts.onStderr?.(c);
    });
    // A reader that stops early must not crash the writer with EPIPE.
    child.stdin.on('error', () => undefined);
    const done = new Promise<RunResult>((resolve) => {
      child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: `could not run ${argv[0]}: ${e.message}` }));
      child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout: '', stderr: err.toString() }));
    });
    return { stdin: child.stdin, stdout: child.stdout, done, kill: () => child.kill('SIGTERM') };
  }

  shell(command: string, opts?: RunOptions): Promise<RunResult> {
    return this.run(['/bin/sh', '-c', command], opts);
  }

  readFile(p: string): Promise<string> {
    return fs.readFile(p, 'utf8');
  }

  async writeFile(p: string, data: string, opts: { mode: number; owner?: OsUser }): Promise<void> {
    const tmp = `${p}.zdm-tmp-${process.pid}`;
    await fs.writeFile(tmp, data, { mode: opts.mode });
    await fs.chmod(tmp, opts.mode);
    if (opts.owner && process.getuid?.() === 0) await fs.chown(tmp, opts.owner.uid, opts.owner.gid);
    await fs.rename(tmp, p);
  }

  async exists(p: string): Promise<boolean> {
    try {
      await fs.lstat(p);
      return true;
    } catch {
      return false;
    }
  }

  rename(from: string, to: string): Promise<void> {
    return fs.rename(from, to);
  }

  remove(p: string): Promise<void> {
    return fs.rm(p, { recursive: true, force: true });
  }

  async ownerOf(p: string): Promise<OsUser> {
    let dir = path.resolve(p);
    for (;;) {
      try {
        const st = await fs.stat(dir);
        return { name: await this.userName(st.uid), uid: st.uid, gid: st.gid };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dir === '/') throw e;
        dir = path.dirname(dir);
      }
    }
  }

  async canWrite(dir: string, user: OsUser): Promise<boolean> {
    if (user.uid === process.getuid?.()) {
      try {
        await fs.access(dir, fsc.W_OK | fsc.X_OK);
        return true;
      } catch {
        return false;
      }
    }
    const r = await this.run(['test', '-w', dir, '-a', '-x', dir], { user: user.name });
    return r.code === 0;
  }

  async freeBytes(p: string): Promise<number> {
    let dir = path.resolve(p);
    while (!(await this.exists(dir)) && dir !== '/') dir = path.dirname(dir);
    const st = await fs.statfs(dir);
    return Number(st.bavail) * Number(st.bsize);
  }

  async memoryBytes(): Promise<number> {
    return os.totalmem();
  }

  async cpuCount(): Promise<number> {
    return os.availableParallelism();
  }

  private async switchTo(name: string): Promise<{ uid: number; gid: number } | undefined> {
    const me = os.userInfo().username;
    if (name === me) return undefined;
    if (process.getuid?.() !== 0) {
      throw new Error(`zdm must run as root (or as ${name}) to run commands as ${name}`);
    }
    const u = await this.lookup(name);
    return { uid: u.uid, gid: u.gid };
  }

  private async lookup(name: string): Promise<OsUser> {
    const known = this.users.get(name);
    if (known) return known;
    const passwd = await fs.readFile('/etc/passwd', 'utf8');
    for (const line of passwd.split('\n')) {
      const f = line.split(':');
      if (f[0] === name) {
        const u = { name, uid: Number(f[2]), gid: Number(f[3]) };
        this.users.set(name, u);
        return u;
      }
    }
    throw new Error(`no OS user named ${name} on this host`);
  }

  private async userName(uid: number): Promise<string> {
    const passwd = await fs.readFile('/etc/passwd', 'utf8');
    for (const line of passwd.split('\n')) {
      const f = line.split(':');
      if (Number(f[2]) === uid && f[0]) return f[0];
    }
    return String(uid);
  }
}
