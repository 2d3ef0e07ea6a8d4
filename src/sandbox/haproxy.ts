/**
 * A throwaway HAProxy (Debian's /usr/sbin/haproxy) on loopback, in TCP mode, with one backend and
 * one server in front of a database, and its runtime API on a loopback TCP port at admin level:
 * for `zdm rehearse --pooler haproxy` and the HAProxy tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { killPidSync, register, removeSync, unregister, type Disposable } from './cleanup.js';
import { freePort, sleep, tailOf } from './util.js';

export const HAPROXY_BIN = '/usr/sbin/haproxy';

export interface HaproxySandbox {
  readonly port: number;
  /** The runtime API, e.g. tcp://127.0.0.1:PORT. */
  readonly adminUrl: string;
  readonly backend: string;
  readonly server: string;
  readonly baseDir: string;
  destroy(): Promise<void>;
}

class HaproxyImpl implements HaproxySandbox, Disposable {
  readonly backend = 'db';
  readonly server = 'primary';
  child?: ChildProcess;
  private destroyed = false;
  constructor(
    readonly baseDir: string,
    readonly port: number,
    readonly adminPort: number,
  ) {}
  get adminUrl() {
    return `tcp://127.0.0.1:${this.adminPort}`;
  }
  killSync(): void {
    killPidSync(this.child?.pid, 'SIGKILL');
    removeSync(this.baseDir);
  }
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    unregister(this);
    if (this.child && this.child.exitCode === null && !this.child.signalCode) {
      const exited = new Promise((r) => this.child!.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
    await fs.rm(this.baseDir, { recursive: true, force: true });
  }
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export async function startHaproxy(to: { host: string; port: number }): Promise<HaproxySandbox> {
  const baseDir = await fs.mkdtemp(path.join(os.tmpdir(), 'zdm-haproxy-'));
  const sb = new HaproxyImpl(baseDir, await freePort(), await freePort());
  register(sb);
  try {
    const cfg = [
      'global',
      `  stats socket ipv4@127.0.0.1:${sb.adminPort} level admin`,
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 1h',
      '  timeout server 1h',
      'frontend app',
      `  bind 127.0.0.1:${sb.port}`,
      `  default_backend ${sb.backend}`,
      `backend ${sb.backend}`,
      `  server ${sb.server} ${to.host}:${to.port}`,
      '',
    ].join('\n');
    await fs.writeFile(`${baseDir}/haproxy.cfg`, cfg);
    const log = `${baseDir}/haproxy.log`;
    const out = await fs.open(log, 'a');
    sb.child = spawn(HAPROXY_BIN, ['-db', '-f', `${baseDir}/haproxy.cfg`], { stdio: ['ignore', out.fd, out.fd] });
    await out.close();
    const deadline = Date.now() + 10_000;
    while (!(await listening(sb.port)) || !(await listening(sb.adminPort))) {
      if (sb.child.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start on 127.0.0.1:${sb.port}:\n${await tailOf(log)}`);
      await sleep(50);
    }
  } catch (e) {
    await sb.destroy();
    throw e;
  }
  return sb;
}
