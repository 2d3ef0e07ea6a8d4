/**
 * A throwaway PgBouncer (Debian's /usr/sbin/pgbouncer) on loopback, in its own temporary directory
 * on a free port, in front of throwaway PostgreSQL servers: for `zdm rehearse --pooler pgbouncer`
 * and the pooler tests. PgBouncer refuses to run as root, so as root it runs as the postgres user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { killPidSync, register, removeSync, unregister, type Disposable } from './cleanup.js';
import { currentUser, freePort, isRoot, lookupUser, sleep, tailOf, type Ids } from './util.js';

export const PGBOUNCER_BIN = '/usr/sbin/pgbouncer';

export interface PgbouncerDatabase {
  host: string;
  port: number;
  dbname: string;
}

export interface PgbouncerSandboxOptions {
  name?: string;
  /** [databases] entries: name -> where the pool connects. */
  databases: Record<string, PgbouncerDatabase>;
  /** Client logins (auth_file), name -> password; PgBouncer logs in to the server with the same. */
  users: Record<string, string>;
  /** transaction (default): PAUSE completes while clients stay connected. */
  poolMode?: 'session' | 'transaction' | 'statement';
}

export interface PgbouncerSandbox {
  readonly name: string;
  readonly port: number;
  readonly configFile: string;
  readonly baseDir: string;
  readonly logFile: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** The admin console (database `pgbouncer`) URL, with credentials. */
  adminUrl(): string;
  /** A client URL through the pooler. */
  url(user: string, password: string, database: string): string;
  /** Stops the process (SIGKILL) but keeps the directory: for the "pooler unreachable" tests. */
  kill(): Promise<void>;
  destroy(): Promise<void>;
}

function config(o: PgbouncerSandboxOptions, dir: string, port: number): string {
  const dbs = Object.entries(o.databases).map(([name, d]) => `${name} = host=${d.host} port=${d.port} dbname=${d.dbname}`);
  return [
    '[databases]',
    ...dbs,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${dir}/userlist.txt`,
    'admin_users = zdm_admin',
    `pool_mode = ${o.poolMode ?? 'transaction'}`,
    'default_pool_size = 20',
    'max_client_conn = 200',
    // Retry a refused server login quickly: right after a switch the new primary is up at once.
    'server_login_retry = 1',
    `logfile = ${dir}/pgbouncer.log`,
    `pidfile = ${dir}/pgbouncer.pid`,
    '',
  ].join('\n');
}

class PgbouncerImpl implements PgbouncerSandbox, Disposable {
  readonly adminUser = 'zdm_admin';
  readonly adminPassword = randomBytes(12).toString('hex');
  child?: ChildProcess;
  private destroyed = false;
  constructor(
    readonly name: string,
    readonly baseDir: string,
    readonly port: number,
  ) {}
  get configFile() {
    return `${this.baseDir}/pgbouncer.ini`;
  }
  get logFile() {
    return `${this.baseDir}/pgbouncer.log`;
  }
  adminUrl(): string {
    return `postgres://${this.adminUser}:${this.adminPassword}@127.0.0.1:${this.port}/pgbouncer`;
  }
  url(user: string, password: string, database: string): string {
    return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${database}`;
  }
  killSync(): void {
    killPidSync(this.child?.pid, 'SIGKILL');
    removeSync(this.baseDir);
  }
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    unregister(this);
    await this.kill();
    await fs.rm(this.baseDir, { recursive: true, force: true });
  }
}

async function runAs(): Promise<Ids> {
  if (!isRoot()) return currentUser();
  const u = await lookupUser('postgres');
  if (!u) throw new Error('running as root needs an OS user "postgres" to run PgBouncer (apt-get install postgresql creates it)');
  return u;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export async function startPgbouncer(o: PgbouncerSandboxOptions): Promise<PgbouncerSandbox> {
  const name = o.name ?? 'pgbouncer';
  const user = await runAs();
  const baseDir = await fs.mkdtemp(path.join(os.tmpdir(), `zdm-${name}-`));
  await fs.chmod(baseDir, 0o755);
  const sb = new PgbouncerImpl(name, baseDir, await freePort());
  register(sb);
  try {
    const users = { ...o.users, [sb.adminUser]: sb.adminPassword };
    await fs.writeFile(
      `${baseDir}/userlist.txt`,
      Object.entries(users)
        .map(([u, p]) => `"${u}" "${p}"\n`)
        .join(''),
      { mode: 0o600 },
    );
    await fs.writeFile(sb.configFile, config(o, baseDir, sb.port), { mode: 0o644 });
    for (const f of ['', '/userlist.txt', '/pgbouncer.ini']) await fs.chown(baseDir + f, user.uid, user.gid);
    sb.child = spawn(PGBOUNCER_BIN, [sb.configFile], { uid: user.uid, gid: user.gid, stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await listening(sb.port))) {
      if (sb.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`pgbouncer ${name} did not start on 127.0.0.1:${sb.port}:\n${await tailOf(sb.logFile)}`);
      await sleep(50);
    }
  } catch (e) {
    await sb.destroy();
    throw e;
  }
  return sb;
}
