/**
 * What the MariaDB and MySQL sandboxes share: a throwaway server on loopback with its own option
 * file (port, socket, server_id) outside the data directory, so that a physical copy of another
 * sandbox starts as this one, and an `!includedir` that tune-target's option file goes into. A
 * `ServerKind` says how one engine is started, pinged, initialised and given its root password.
 */
import { installServerCerts, testCerts, type TestCerts } from './tls.js';
import type { NetnsPlacement } from './wan.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import mysql from 'mysql2/promise';
import { killPidSync, register, removeSync, unregister, type Disposable } from './cleanup.js';
import { copyTree, freePort, q, sh, tailOf } from './util.js';

export interface MyServerSandboxOptions {
  name?: string;
  serverId?: number;
  /** Extra [mysqld] options; `'skip-log-bin': ''` turns the binary log off. */
  settings?: Record<string, string | number>;
  start?: boolean;
  /** The root password; random by default. */
  password?: string;
  /**
   * true (the default): sync_binlog=1 and innodb_flush_log_at_trx_commit=1, as on a production
   * server; false: both relaxed (0 and 2), for faster throwaway runs.
   */
  durable?: boolean;
  /** Runs the server inside a WAN test bed's namespace (see wan.ts); clients still use 127.0.0.1. */
  netns?: NetnsPlacement;
  /**
   * TLS with the harness's test certificates (src/sandbox/tls.ts) and require_secure_transport=ON:
   * the server refuses every plaintext TCP connection; url() asks for ssl-mode=VERIFY_IDENTITY
   * against the test CA.
   */
  tls?: boolean;
}

export interface MyServerSandbox {
  readonly name: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly socket: string;
  readonly dataDir: string;
  readonly baseDir: string;
  readonly logFile: string;
  readonly rootUser: 'root';
  readonly password: string;
  /** A file inside the server's !includedir: where tune-target's catch-up profile goes. */
  readonly optionFile: string;
  /** The test certificates, when started with `tls`. */
  readonly tls?: TestCerts;
  url(opts?: { user?: string; password?: string; database?: string }): string;
  readonly startCommand: string;
  readonly stopCommand: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): Promise<boolean>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  destroy(): Promise<void>;
}

/** How one engine's server is set up and run. */
export interface ServerKind {
  /** 'MariaDB' or 'MySQL', for messages. */
  readonly label: string;
  /** The URL scheme zdm reads the engine from. */
  readonly scheme: string;
  /** The template data directory, built once. */
  template(): Promise<string>;
  /** The shell words that run the server with an option file appended. */
  readonly server: string;
  /** The shell words of the admin client (for `ping`). */
  readonly admin: string;
  /** [mysqld] options of this engine beyond the shared ones. */
  settings(sb: MyServerSandbox): Record<string, string | number>;
  /** First start: root gets its password, for the socket and for TCP. */
  setPassword(socket: string, password: string): Promise<void>;
}

class MyServerSandboxImpl implements MyServerSandbox, Disposable {
  readonly host = '127.0.0.1' as const;
  readonly rootUser = 'root' as const;
  readonly password: string;
  tls?: TestCerts;
  readonly dataDir: string;
  readonly logFile: string;
  readonly socket: string;
  readonly cnf: string;
  readonly pidFile: string;
  readonly optionFile: string;
  readonly startCommand: string;
  readonly stopCommand: string;
  private destroyed = false;

  constructor(
    readonly kind: ServerKind,
    readonly name: string,
    readonly baseDir: string,
    readonly port: number,
    password?: string,
    netns?: NetnsPlacement,
  ) {
    this.password = password ?? randomBytes(12).toString('hex');
    this.dataDir = `${baseDir}/data`;
    this.logFile = `${baseDir}/server.log`;
    this.socket = `${baseDir}/my.sock`;
    this.cnf = `${baseDir}/my.cnf`;
    this.pidFile = `${baseDir}/server.pid`;
    this.optionFile = `${baseDir}/conf.d/99-zdm-migration.cnf`;
    // Started in the background like a service; ready once the admin client's ping answers (it does even when access is denied).
    this.startCommand =
      `rm -f ${q(this.pidFile)}; (setsid ${netns ? `${netns.wrap([]).join(' ')} ` : ''}${kind.server} --defaults-file=${q(this.cnf)} >>${q(this.logFile)} 2>&1 &); ` +
      `i=0; while [ $i -lt 1200 ]; do ${kind.admin} --no-defaults --socket=${q(this.socket)} --connect-timeout=1 ping >/dev/null 2>&1 && exit 0; ` +
      `i=$((i+1)); sleep 0.1; done; echo "the server did not start; see ${this.logFile}" >&2; exit 1`;
    this.stopCommand = `pid=$(cat ${q(this.pidFile)} 2>/dev/null) || exit 0; kill "$pid" 2>/dev/null || exit 0; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done`;
  }

  url(opts: { user?: string; password?: string; database?: string } = {}): string {
    const user = encodeURIComponent(opts.user ?? 'root');
    const pw = encodeURIComponent(opts.password ?? this.password);
    const tls = this.tls ? `?ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(this.tls.caFile)}` : '';
    return `${this.kind.scheme}://${user}:${pw}@127.0.0.1:${this.port}/${opts.database ? encodeURIComponent(opts.database) : ''}${tls}`;
  }

  async start(): Promise<void> {
    try {
      await sh(this.startCommand, 150_000);
    } catch (e) {
      throw new Error(`sandbox ${this.name}: ${this.kind.label} did not start: ${(e as Error).message}\n--- ${this.logFile}:\n${await tailOf(this.logFile)}`, {
        cause: e,
      });
    }
  }

  async stop(): Promise<void> {
    await sh(this.stopCommand, 150_000);
  }

  private pid(): number | undefined {
    try {
      return Number(readFileSync(this.pidFile, 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  }

  async isRunning(): Promise<boolean> {
    const pid = this.pid();
    if (!pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = await mysql.createConnection({
      host: '127.0.0.1',
      port: this.port,
      user: 'root',
      password: this.password,
      connectTimeout: 10_000,
      ssl: this.tls ? { ca: this.tls.caPem } : undefined,
    });
    try {
      const [r] = await c.query(sql, params);
      return (Array.isArray(r) ? r : []) as T[];
    } finally {
      await c.end();
    }
  }

  killSync(): void {
    killPidSync(this.pid(), 'SIGKILL');
    removeSync(this.baseDir);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    unregister(this);
    killPidSync(this.pid(), 'SIGKILL');
    await fs.rm(this.baseDir, { recursive: true, force: true });
  }
}

/** The test certificates copied into the sandbox, and the server told to accept TCP only over TLS. */
async function tlsSettings(sb: MyServerSandboxImpl): Promise<Record<string, string>> {
  sb.tls = await testCerts();
  const dir = `${sb.baseDir}/tls`;
  await fs.mkdir(dir, { mode: 0o700 });
  const f = await installServerCerts(dir);
  return { 'ssl-cert': f.cert, 'ssl-key': f.key, 'ssl-ca': f.ca, 'require-secure-transport': 'ON' };
}

/** Starts (unless `opts.start` is false) a sandbox of `kind` from its template data directory. */
export async function startMyServer(kind: ServerKind, opts: MyServerSandboxOptions = {}): Promise<MyServerSandbox> {
  const tpl = await kind.template();
  const name = opts.name ?? kind.scheme;
  const baseDir = await fs.mkdtemp(path.join(os.tmpdir(), `zdm-my-${name.slice(0, 10)}-`));
  const sb = new MyServerSandboxImpl(kind, name, baseDir, await freePort(), opts.password, opts.netns);
  register(sb);
  try {
    await copyTree(tpl, sb.dataDir);
    await fs.mkdir(`${baseDir}/conf.d`);
    const settings: Record<string, string | number> = {
      user: 'root',
      datadir: sb.dataDir,
      socket: sb.socket,
      port: sb.port,
      // In a test bed's namespace: its loopback and its veth end, nothing else exists there.
      'bind-address': opts.netns ? '0.0.0.0' : '127.0.0.1',
      'pid-file': sb.pidFile,
      'log-error': sb.logFile,
      'server-id': opts.serverId ?? 1000 + Math.floor(Math.random() * 100000),
      'sync-binlog': opts.durable === false ? 0 : 1,
      'innodb-flush-log-at-trx-commit': opts.durable === false ? 2 : 1,
      'innodb-buffer-pool-size': '32M',
      'skip-name-resolve': '',
      ...kind.settings(sb),
      ...(opts.tls ? await tlsSettings(sb) : {}),
      ...opts.settings,
    };
    if (opts.settings && 'skip-log-bin' in opts.settings) delete settings['log-bin'];
    const lines = Object.entries(settings).map(([k, v]) => (v === '' ? k : `${k} = ${v}`));
    await fs.writeFile(sb.cnf, `[mysqld]\n${lines.join('\n')}\n\n!includedir ${baseDir}/conf.d\n`);
    await opts.netns?.expose(sb.port);
    if (opts.start !== false) {
      await sb.start();
      await kind.setPassword(sb.socket, sb.password);
    }
    return sb;
  } catch (e) {
    await sb.destroy();
    throw e;
  }
}
