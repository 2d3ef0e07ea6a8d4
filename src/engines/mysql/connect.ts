import mysql from 'mysql2/promise';
import { UserError } from '../../errors.js';
import { track } from '../open-clients.js';
import { markLostOn } from '../server-lost.js';

export type MyConn = mysql.Connection;
export type Row = Record<string, unknown>;

export interface MyConnectOptions {
  input: string;
  user?: string;
  password?: string;
  timeoutMs?: number;
}

export function hostPort(url: URL): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 3306) };
}

/** Opens one connection and turns the usual failures into errors that say what to fix. */
export async function connectMy(url: URL, opts: MyConnectOptions): Promise<MyConn> {
  const { host, port } = hostPort(url);
  const user = opts.user ?? decodeURIComponent(url.username || 'root');
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined;
  try {
    const c = await mysql.createConnection({
      host,
      port,
      user,
      password: opts.password ?? decodeURIComponent(url.password),
      database,
      connectTimeout: opts.timeoutMs ?? 10_000,
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    // An idle connection that breaks must not crash the process; the next query reports it.
    c.on('error', () => undefined);
    const untrack = track(() => c.destroy());
    (c as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream.once('close', untrack);
    return markLostOn(c, ['query', 'execute'], { input: opts.input, at: `${host.includes(':') ? `[${host}]` : host}:${port}` });
  } catch (e) {
    throw explainMyError(e, opts.input, `${host}:${port}`, user, database);
  }
}

export function explainMyError(e: unknown, input: string, at: string, user: string, database?: string): Error {
  const err = e as { code?: string; errno?: number; message?: string };
  const msg = err.message ?? String(e);
  switch (err.code) {
    case 'ECONNREFUSED':
      return new UserError(
        `${input}: cannot reach ${at}: connection refused. Check the host and port, and that the server is running and listens on that address.`,
        { cause: e },
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UserError(`${input}: host of ${at} not found (DNS). Check the host name.`, { cause: e });
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new UserError(`${input}: cannot reach ${at} (${err.code}). Check the address and any firewall between this runner and the server.`, { cause: e });
    case 'ER_ACCESS_DENIED_ERROR':
      return new UserError(
        `${input}: access denied for user "${user}" at ${at}. Check the user name, the password in the secret, and that the account may connect from this host.`,
        { cause: e },
      );
    case 'ER_DBACCESS_DENIED_ERROR':
    case 'ER_BAD_DB_ERROR':
      return new UserError(`${input}: cannot use database "${database}" at ${at}: ${msg}. Leave the URL's path empty or name an existing database.`, {
        cause: e,
      });
  }
  return new UserError(`${input}: could not connect to ${at} as "${user}": ${msg}`, { cause: e });
}

export async function rows<T extends Row = Row>(c: MyConn, sql: string, params: unknown[] = []): Promise<T[]> {
  const [r] = await c.query(sql, params);
  return r as T[];
}

export async function one<T extends Row = Row>(c: MyConn, sql: string, params: unknown[] = []): Promise<T> {
  const r = await rows<T>(c, sql, params);
  if (!r[0]) throw new Error(`query returned no row: ${sql}`);
  return r[0];
}

/** Global variables by name (lower case keys). */
export async function variables(c: MyConn, names: string[]): Promise<Record<string, string>> {
  const r = await rows<{ Variable_name: string; Value: string }>(c, `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${names.map(() => '?').join(',')})`, names);
  return Object.fromEntries(r.map((x) => [x.Variable_name.toLowerCase(), String(x.Value)]));
}
