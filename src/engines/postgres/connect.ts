import pg from 'pg';
import { SideError, UserError } from '../../errors.js';
import type { Side } from '../../hosts/endpoint.js';
import { track } from '../open-clients.js';
import { markLostOn } from '../server-lost.js';
import { countCalls, type RoundTrips } from '../../hosts/round-trips.js';

export type PgClient = pg.Client;

export interface PgConnectOptions {
  /** The input the URL came from, named in every error. */
  input: string;
  /** The engine's side the URL is (rollback: source-url is its target); failures then come as a SideError. */
  side?: Side;
  user?: string;
  password?: string;
  replication?: boolean;
  database?: string;
  timeoutMs?: number;
  applicationName?: string;
  /** Counts the connection and each query sent on it (the side's Endpoint.trips). */
  trips?: RoundTrips;
}

/** Opens one connection and turns the usual failures into errors that say what to fix. */
export async function connectPg(url: URL, opts: PgConnectOptions): Promise<PgClient> {
  const user = opts.user ?? decodeURIComponent(url.username || 'postgres');
  const database = opts.database ?? (decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres');
  const client = new pg.Client({
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 5432),
    user,
    password: opts.password ?? decodeURIComponent(url.password),
    database: opts.replication ? undefined : database,
    replication: opts.replication ? 'true' : undefined,
    connectionTimeoutMillis: opts.timeoutMs ?? 10_000,
    application_name: opts.applicationName ?? 'zdm',
    ssl: sslFrom(url),
  } as pg.ClientConfig);
  // An idle connection that breaks must not crash the process; the next query reports it.
  client.on('error', () => undefined);
  const untrack = track(() => client.end());
  client.once('end', untrack);
  try {
    opts.trips?.add('connect');
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw explainPgError(e, {
      input: opts.input,
      side: opts.side,
      host: url.hostname,
      port: Number(url.port || 5432),
      user,
      database,
      replication: opts.replication,
    });
  }
  return markLostOn(countCalls(client, ['query'], opts.trips), ['query'], { input: opts.input, at: `${url.hostname}:${Number(url.port || 5432)}` });
}

function sslFrom(url: URL): pg.ClientConfig['ssl'] {
  const mode = url.searchParams.get('sslmode');
  if (!mode || mode === 'disable' || mode === 'prefer' || mode === 'allow') return undefined;
  return { rejectUnauthorized: mode === 'verify-full' || mode === 'verify-ca' };
}

interface Where {
  input: string;
  side?: Side;
  host: string;
  port: number;
  user: string;
  database?: string;
  replication?: boolean;
}

/** Maps connection errors to a UserError (a SideError for one of the sides) that names the input and the fix. */
export function explainPgError(e: unknown, w: Where): UserError {
  const message = connectProblem(e, w);
  return w.side ? new SideError(w.side, w.input, () => message, { cause: e }) : new UserError(message, { cause: e });
}

/** What went wrong, in words that name the input (not the side's role: the same in cutover and rollback). */
function connectProblem(e: unknown, w: Where): string {
  const err = e as { code?: string; message?: string };
  const at = `${w.host}:${w.port}`;
  const msg = err.message ?? String(e);
  switch (err.code) {
    case 'ECONNREFUSED':
      return `${w.input}: cannot reach ${at}: connection refused. Check the host and port, and that the server is running and listens on that address.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${w.input}: host ${w.host} not found (DNS). Check the host name.`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${w.input}: cannot reach ${at} (${err.code}). Check the address and any firewall between this runner and the server.`;
    case '28P01':
      return `${w.input}: password authentication failed for user "${w.user}" at ${at}. Check the password in the secret.`;
    case '28000':
      return (
        `${w.input}: the server at ${at} refused user "${w.user}"${w.replication ? ' for replication' : ''}: ${msg}. ` +
        (w.replication
          ? 'Add a pg_hba.conf line such as `host replication <user> <target-address>/32 scram-sha-256` on the source and reload it.'
          : 'Check pg_hba.conf and the user name.')
      );
    case '3D000':
      return `${w.input}: database "${w.database}" does not exist at ${at}. Put an existing database in the URL's path (e.g. /postgres).`;
    case '57P03':
      return `${w.input}: the server at ${at} is starting up or shutting down; try again when it is up.`;
  }
  if (/timeout/i.test(msg)) {
    return `${w.input}: no answer from ${at} within the connection timeout. Check the address and any firewall.`;
  }
  return `${w.input}: could not connect to ${at} as "${w.user}": ${msg}`;
}

/** Runs a query and returns its rows. */
export async function rows<T extends Record<string, unknown>>(c: PgClient, sql: string, params: unknown[] = []): Promise<T[]> {
  const r = await c.query(sql, params);
  return r.rows as T[];
}

export async function one<T extends Record<string, unknown>>(c: PgClient, sql: string, params: unknown[] = []): Promise<T> {
  const r = await rows<T>(c, sql, params);
  if (r.length === 0) throw new Error(`query returned no row: ${sql}`);
  return r[0];
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

export function quoteLiteral(value: string): string {
  return "'" + value.replace(/'/g, "''") + "'";
}

/** `schema.table` or `table` into a safely quoted name. */
export function quoteQualified(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}
