/** Runs commands and touches files on a host reached over SSH. */
import type { ClientChannel } from 'ssh2';
import type { Host, OsUser, Prepared, RunOptions, RunResult, Spawned } from './host.js';
import { Tail } from './host.js';
import type { SshConnection } from './ssh.js';

/** Quotes one word for a POSIX shell. */
export function shq(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export class SshHost implements Host {
  constructor(readonly conn: SshConnection) {}

  get name(): string {
    return `ssh ${this.conn.label}`;
  }

  private command(argv: string[], opts: Omit<RunOptions, 'onStdout'> = {}): string {
    const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${shq(v)}`);
    const asUser =
      opts.user && opts.user !== this.conn.opts.user
        ? this.conn.opts.user === 'root'
          ? ['runuser', '-u', opts.user, '--']
          : ['sudo', '-n', '-u', opts.user, '--']
        : [];
    return [...asUser, ...(env.length ? ['env', ...env] : []), ...argv.map(shq)].join(' ');
  }

  private collect(ch: ClientChannel, opts: RunOptions, limit?: number): Promise<RunResult> {
    return new Promise((resolve) => {
      const out = new Tail(limit);
      const err = new Tail();
      ch.setEncoding('utf8');
      ch.on('data', (c: string) => {
        out.add(c);
        opts.onStdout?.(c);
      });
      ch.stderr.setEncoding('utf8');
      ch.stderr.on('data', (c: string) => {
        err.add(c);
        opts.onStderr?.(c);
      });
      let timedOut = false;
      const timer = opts.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            ch.close();
          }, opts.timeoutMs)
        : undefined;
      let code: number | null = null;
      ch.on('exit', (c: number | null) => (code = c));
      ch.on('close', () => {
        clearTimeout(timer);
        resolve({ code: code ?? 255, stdout: out.toString(), stderr: err.toString() + (timedOut ? `\n(killed after ${opts.timeoutMs} ms)` : '') });
      });
    });
  }

  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const ch = await this.conn.exec(this.command(argv, opts));
    ch.end();
    return this.collect(ch, opts);
  }

  async spawn(argv: string[], opts: Omit<RunOptions, 'onStdout'> = {}): Promise<Spawned> {
    const ch = await this.conn.exec(this.command(argv, opts));
    const err = new Tail();
    ch.stderr.setEncoding('utf8');
    ch.stderr.on('data', (c: string) => {
      err.add(c);
      opts.onStderr?.(c);
    });
    let code: number | null = null;
    ch.on('exit', (c: number | null) => (code = c));
    const done = new Promise<RunResult>((resolve) => ch.on('close', () => resolve({ code: code ?? 255, stdout: '', stderr: err.toString() })));
    return { stdin: ch, stdout: ch, done, kill: () => ch.close() };
  }

  /**
   * The channel and the remote shell are opened now; the command starts when a line reaches the
   * shell's stdin: half a round trip, instead of a channel open, an exec request and sshd's session
   * start. Cancelled (stdin closed without a line), the shell exits without running it.
   */
  async prepareShell(command: string, opts: RunOptions = {}): Promise<Prepared> {
    const ch = await this.conn.exec(this.command(['/bin/sh', '-c', 'read -r go && exec /bin/sh -c "$1" sh', 'sh', command], opts), { count: false });
    const result = this.collect(ch, opts);
    return {
      run: () => {
        this.conn.trips?.add('command');
        ch.end('go\n');
        return result;
      },
      cancel: () => {
        ch.end();
        ch.close();
      },
    };
  }

  shell(command: string, opts?: RunOptions): Promise<RunResult> {
    return this.run(['/bin/sh', '-c', command], opts);
  }

  private async check(argv: string[], what: string): Promise<string> {
    const r = await this.run(argv);
    if (r.code !== 0) throw new Error(`${this.name}: ${what} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async readFile(p: string): Promise<string> {
    const ch = await this.conn.exec(this.command(['cat', '--', p]));
    ch.end();
    const r = await this.collect(ch, {}, 64 * 1024 * 1024);
    if (r.code !== 0) throw new Error(`${this.name}: cannot read ${p}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async writeFile(p: string, data: string, opts: { mode: number; owner?: OsUser }): Promise<void> {
    const tmp = `${p}.zdm-tmp`;
    const chown = opts.owner ? ` && chown ${opts.owner.uid}:${opts.owner.gid} ${shq(tmp)}` : '';
    const ch = await this.conn.exec(`umask 077 && cat > ${shq(tmp)} && chmod ${opts.mode.toString(8)} ${shq(tmp)}${chown} && mv ${shq(tmp)} ${shq(p)}`);
    ch.end(data);
    const r = await this.collect(ch, {});
    if (r.code !== 0) throw new Error(`${this.name}: cannot write ${p}: ${r.stderr.trim()}`);
  }

  async exists(p: string): Promise<boolean> {
    return (await this.run(['/bin/sh', '-c', 'test -e "$1" || test -L "$1"', 'sh', p])).code === 0;
  }

  async rename(from: string, to: string): Promise<void> {
    await this.check(['mv', '--', from, to], `mv ${from} ${to}`);
  }

  async remove(p: string): Promise<void> {
    await this.check(['rm', '-rf', '--', p], `rm ${p}`);
  }

  async ownerOf(p: string): Promise<OsUser> {
    const out = await this.check(['/bin/sh', '-c', 'p="$1"; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; stat -c "%U %u %g" "$p"', 'sh', p], `stat ${p}`);
    const [name, uid, gid] = out.trim().split(' ');
    return { name, uid: Number(uid), gid: Number(gid) };
  }

  async canWrite(dir: string, user: OsUser): Promise<boolean> {
    return (await this.run(['test', '-w', dir, '-a', '-x', dir], { user: user.name })).code === 0;
  }

  async freeBytes(p: string): Promise<number> {
    const out = await this.check(
      ['/bin/sh', '-c', 'p="$1"; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -B1 --output=avail "$p" | tail -n 1', 'sh', p],
      `df ${p}`,
    );
    return Number(out.trim());
  }

  async memoryBytes(): Promise<number> {
    const out = await this.check(['/bin/sh', '-c', "awk '/^MemTotal:/ {print $2 * 1024}' /proc/meminfo"], 'reading /proc/meminfo');
    return Number(out.trim());
  }

  async cpuCount(): Promise<number> {
    return Number((await this.check(['nproc'], 'nproc')).trim());
  }
}
