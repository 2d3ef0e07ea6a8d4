import mysql from 'mysql2/promise';
import { SideError, UserError } from '../../errors.js';
import type { Side } from '../../hosts/endpoint.js';
import { track } from '../open-clients.js';
import { markLostOn } from '../server-lost.js';
import { countCalls, type RoundTrips } from '../../hosts/round-trips.js';

export type MyConn = mysql.Connection;
export type Row = Record<string, unknown>;

export interface MyConnectOptions {
  input: string;
  /** The engine's side the URL is (rollback: source-url is its target); failures then come as a SideError. */
  side?: Side;
  user?: string;
  password?: string;
  timeoutMs?: number;
  /** Counts the connection and each query sent on it (the side's Endpoint.trips). */
  trips?: RoundTrips;
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
    opts.trips?.add('connect');
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
    return markLostOn(countCalls(c, ['query', 'execute'], opts.trips), ['query', 'execute'], {
      input: opts.input,
      at: `${host.includes(':') ? `[${host}]` : host}:${port}`,
    });
  } catch (e) {
    throw explainMyError(e, opts.input, `${host}:${port}`, user, database, opts.side);
  }
}

/** Maps connection errors to a UserError (a SideError for one of the sides) that names the input and the fix. */
export function explainMyError(e: unknown, input: string, at: string, user: string, database?: string, side?: Side): UserError {
  const message = connectProblem(e, input, at, user, database);
  return side ? new SideError(side, input, () => message, { cause: e }) : new UserError(message, { cause: e });
}

/** What went wrong, in words that name the input (not the side's role: the same in cutover and rollback). */
function connectProblem(e: unknown, input: string, at: string, user: string, database?: string): string {
  const err = e as { code?: string; errno?: number; message?: string };
  const msg = err.message ?? String(e);
  switch (err.code) {
    case 'ECONNREFUSED':
      return `${input}: cannot reach ${at}: connection refused. Check the host and port, and that the server is running and listens on that address.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${input}: host of ${at} not found (DNS). Check the host name.`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${input}: cannot reach ${at} (${err.code}). Check the address and any firewall between this runner and the server.`;
    case 'ER_ACCESS_DENIED_ERROR':
      return `${input}: access denied for user "${user}" at ${at}. Check the user name, the password in the secret, and that the account may connect from this host.`;
    case 'ER_DBACCESS_DENIED_ERROR':
    case 'ER_BAD_DB_ERROR':
      return `${input}: cannot use database "${database}" at ${at}: ${msg}. Leave the URL's path empty or name an existing database.`;
  }
  return `${input}: could not connect to ${at} as "${user}": ${msg}`;
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
