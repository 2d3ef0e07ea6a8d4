/**
 * PgBouncer, driven through its admin console (the virtual database `pgbouncer`, simple query
 * protocol): PAUSE / RESUME / RELOAD / RECONNECT / SHOW. Repointing rewrites the entry's host and
 * port in the configuration file and RELOADs; PAUSE has already closed every server connection
 * (PgBouncer's PAUSE disconnects from the servers once their transactions end), so none to the old
 * host survives, and RECONNECT is sent should any be seen.
 */
import { promises as fs, constants as fsc } from 'node:fs';
import pg from 'pg';
import { describeError } from '../errors.js';
import { findDatabaseLine, repointConfig } from './pgbouncer-config.js';
import { PauseTimeout, type Address, type LongTransaction, type Pooler, type PoolerCheck } from './pooler.js';

type Row = Record<string, string | number | null>;

export interface PgbouncerOptions {
  /** postgres://admin:PASSWORD@host:port/pgbouncer */
  adminUrl: string;
  /** The configuration file PgBouncer runs with, readable and writable by zdm. */
  configFile: string;
  /** The [databases] entry the application connects to. */
  database: string;
}

const CONNECT_TIMEOUT_MS = 5000;

function dropClient(c: pg.Client): void {
  // end() waits for a query in flight (a PAUSE that never returns); destroying the socket does not.
  (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  c.end().catch(() => undefined);
}

export class Pgbouncer implements Pooler {
  readonly label: string;
  private admin?: pg.Client;

  constructor(private readonly o: PgbouncerOptions) {
    const u = new URL(o.adminUrl);
    this.label = `pgbouncer ${u.host}`;
  }

  private async connect(): Promise<pg.Client> {
    const u = new URL(this.o.adminUrl);
    const c = new pg.Client({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port || 6432),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database: 'pgbouncer',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    c.on('error', () => undefined);
    try {
      await c.connect();
    } catch (e) {
      dropClient(c);
      throw e;
    }
    return c;
  }

  private async show(command: string): Promise<Row[]> {
    this.admin ??= await this.connect();
    return (await this.admin.query<Row>(command)).rows;
  }

  private async command(command: string): Promise<void> {
    this.admin ??= await this.connect();
    await this.admin.query(command);
  }

  private async entry(): Promise<Row | undefined> {
    return (await this.show('SHOW DATABASES')).find((r) => r.name === this.o.database);
  }

  async check(): Promise<PoolerCheck[]> {
    const rows: PoolerCheck[] = [];
    const name = `${this.label} database ${this.o.database}`;
    let entry: Row | undefined;
    try {
      entry = await this.entry();
      const config = Object.fromEntries((await this.show('SHOW CONFIG')).map((r) => [r.key, String(r.value ?? '')]));
      const admins = config.admin_users.split(/[\s,]+/);
      const user = decodeURIComponent(new URL(this.o.adminUrl).username);
      rows.push(
        admins.includes(user)
          ? { check: `${this.label} reachable`, status: 'ok', detail: `admin console answers; ${user} is in admin_users (may PAUSE, RESUME, RELOAD)` }
          : {
              check: `${this.label} reachable`,
              status: 'fail',
              detail: `${user} may read the admin console but is not in admin_users (${config.admin_users || 'empty'}): add it to admin_users in the pgbouncer configuration and RELOAD, or give an admin user in pooler-admin-urls`,
            },
      );
      rows.push(this.modeRow(name, String(entry?.pool_mode ?? config.pool_mode)));
    } catch (e) {
      rows.push({
        check: `${this.label} reachable`,
        status: 'fail',
        detail: `cannot use its admin console: ${describeError(e)}. Check pooler-admin-urls (host, port, an admin_users login with its password from auth_file) and that the runner can reach it.`,
      });
      return rows;
    }
    rows.push(
      entry
        ? { check: name, status: 'ok', detail: `points at ${entry.host}:${entry.port} (database ${entry.database})` }
        : {
            check: name,
            status: 'fail',
            detail: `PgBouncer has no database entry "${this.o.database}" (SHOW DATABASES): set pooler-database to the entry the application connects to`,
          },
    );
    rows.push(await this.configRow(entry));
    return rows;
  }

  private modeRow(name: string, mode: string): PoolerCheck {
    if (mode === 'transaction' || mode === 'statement')
      return { check: `${name} pool_mode`, status: 'ok', detail: `${mode}: PAUSE completes once the transactions in flight end, with clients still connected` };
    return {
      check: `${name} pool_mode`,
      status: 'fail',
      detail: `${mode}: in session mode PAUSE waits until every client disconnects, so the application would not be held but cut off. Set pool_mode = transaction for this database (pool_mode in its [databases] line or in [pgbouncer]) and RELOAD.`,
    };
  }

  private async configRow(entry: Row | undefined): Promise<PoolerCheck> {
    const check = `${this.label} configuration file`;
    const file = this.o.configFile;
    try {
      await fs.access(file, fsc.R_OK | fsc.W_OK);
      const line = findDatabaseLine(await fs.readFile(file, 'utf8'), this.o.database);
      if (!line)
        return {
          check,
          status: 'fail',
          detail: `${file} has no line "${this.o.database} = ..." in [databases]: give the file this PgBouncer runs with in pooler-config-files`,
        };
      const host = line.params.find(([k]) => k === 'host')?.[1];
      if (entry && host !== undefined && host !== String(entry.host))
        return {
          check,
          status: 'warn',
          detail: `${file} names host ${host} but PgBouncer runs with ${entry.host}: is it the file this PgBouncer runs with? A RELOAD would apply the file as it is.`,
        };
      return { check, status: 'ok', detail: `${file} is writable and holds the entry ${this.o.database}` };
    } catch (e) {
      return {
        check,
        status: 'fail',
        detail: `cannot read and write ${file} (${describeError(e)}): zdm repoints the entry by editing this file, so run zdm where the file is, as a user that may write it`,
      };
    }
  }

  async isPaused(): Promise<boolean> {
    return Number((await this.entry())?.paused ?? 0) === 1;
  }

  async findLongTransactions(olderThanSeconds: number): Promise<LongTransaction[]> {
    const now = Date.now();
    // In transaction mode a server connection is linked to a client only while a transaction is open;
    // request_time is its last request (PgBouncer shows no transaction start), to the second.
    return (await this.show('SHOW SERVERS'))
      .filter((r) => r.database === this.o.database && r.state === 'active' && r.link)
      .map((r) => ({ r, age: (now - Date.parse(String(r.request_time).replace(' UTC', 'Z').replace(' ', 'T'))) / 1000 }))
      .filter(({ age }) => age >= olderThanSeconds)
      .map(({ r, age }) => ({
        ageSeconds: Math.floor(age),
        detail: `${this.label}: user ${r.user}, server pid ${r.remote_pid} on ${r.addr}:${r.port}${r.application_name ? ` (${r.application_name})` : ''}, last request ${Math.floor(age)} s ago`,
      }));
  }

  async pause(timeoutMs: number): Promise<void> {
    const c = await this.connect();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.query(`PAUSE ${this.o.database}`),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new PauseTimeout(this.label, timeoutMs)), timeoutMs))),
      ]);
    } catch (e) {
      // A PAUSE still waiting keeps new requests waiting too: RESUME cancels it.
      await this.resume().catch(() => undefined);
      throw e;
    } finally {
      clearTimeout(timer);
      dropClient(c);
    }
  }

  async repoint(to: Address): Promise<string> {
    const file = this.o.configFile;
    const text = await fs.readFile(file, 'utf8');
    const { text: next, before } = repointConfig(text, this.o.database, to);
    // The first edit keeps the file as it was, for a rollback or a look afterwards.
    await fs.writeFile(`${file}.zdm-before-cutover`, text, { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    // In place: the file keeps its owner and mode.
    await fs.writeFile(file, next);
    await this.command('RELOAD');
    const entry = await this.entry();
    if (String(entry?.host) !== to.host || Number(entry?.port) !== to.port)
      throw new Error(`after RELOAD PgBouncer still points ${this.o.database} at ${entry?.host}:${entry?.port} (the file now says ${to.host}:${to.port})`);
    const stale = (await this.show('SHOW SERVERS')).filter((r) => r.database === this.o.database && (r.addr !== to.host || Number(r.port) !== to.port));
    if (stale.length) await this.command(`RECONNECT ${this.o.database}`);
    return `${this.label}: ${this.o.database} now points at ${to.host}:${to.port}${before ? ` (was ${before.host}:${before.port})` : ''}${stale.length ? `; ${stale.length} server connection(s) to the old host closed (RECONNECT)` : ''}`;
  }

  async resume(): Promise<void> {
    try {
      await this.command(`RESUME ${this.o.database}`);
    } catch (e) {
      if (/is not paused/.test(String((e as Error).message))) return;
      // The admin connection may be the one that broke: once more on a fresh one.
      if (this.admin) dropClient(this.admin);
      this.admin = undefined;
      try {
        await this.command(`RESUME ${this.o.database}`);
      } catch (e2) {
        if (!/is not paused/.test(String((e2 as Error).message))) throw e2;
      }
    }
  }

  async close(): Promise<void> {
    if (this.admin) dropClient(this.admin);
    this.admin = undefined;
  }
}
