import pg from 'pg';
import { UserError } from '../../errors.js';
import { track } from '../open-clients.js';
import { markLostOn } from '../server-lost.js';

export type PgClient = pg.Client;

export interface PgConnectOptions {
  /** The input the URL came from, named in every error. */
  input: string;
  user?: string;
  password?: string;
  replication?: boolean;
  database?: string;
  timeoutMs?: number;
  applicationName?: string;
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
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw explainPgError(e, { input: opts.input, host: url.hostname, port: Number(url.port || 5432), user, database, replication: opts.replication });
  }
  return markLostOn(client, ['query'], { input: opts.input, at: `${url.hostname}:${Number(url.port || 5432)}` });
}

function sslFrom(url: URL): pg.ClientConfig['ssl'] {
  const mode = url.searchParams.get('sslmode');
  if (!mode || mode === 'disable' || mode === 'prefer' || mode === 'allow') return undefined;
  return { rejectUnauthorized: mode === 'verify-full' || mode === 'verify-ca' };
}

interface Where {
  input: string;
  host: string;
  port: number;
  user: string;
  database?: string;
  replication?: boolean;
}

/** Maps connection errors to a UserError that names the input and the fix. */
export function explainPgError(e: unknown, w: Where): Error {
  const err = e as { code?: string; message?: string };
  const at = `${w.host}:${w.port}`;
  const msg = err.message ?? String(e);
  switch (err.code) {
    case 'ECONNREFUSED':
      return new UserError(
        `${w.input}: cannot reach ${at}: connection refused. Check the host and port, and that the server is running and listens on that address.`,
        { cause: e },
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UserError(`${w.input}: host ${w.host} not found (DNS). Check the host name.`, { cause: e });
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new UserError(`${w.input}: cannot reach ${at} (${err.code}). Check the address and any firewall between this runner and the server.`, {
        cause: e,
      });
    case '28P01':
      return new UserError(`${w.input}: password authentication failed for user "${w.user}" at ${at}. Check the password in the secret.`, { cause: e });
    case '28000':
      return new UserError(
        `${w.input}: the server at ${at} refused user "${w.user}"${w.replication ? ' for replication' : ''}: ${msg}. ` +
          (w.replication
            ? 'Add a pg_hba.conf line such as `host replication <user> <target-address>/32 scram-sha-256` on the source and reload it.'
            : 'Check pg_hba.conf and the user name.'),
        { cause: e },
      );
    case '3D000':
      return new UserError(`${w.input}: database "${w.database}" does not exist at ${at}. Put an existing database in the URL's path (e.g. /postgres).`, {
        cause: e,
      });
    case '57P03':
      return new UserError(`${w.input}: the server at ${at} is starting up or shutting down; try again when it is up.`, { cause: e });
  }
  if (/timeout/i.test(msg)) {
    return new UserError(`${w.input}: no answer from ${at} within the connection timeout. Check the address and any firewall.`, { cause: e });
  }
  return new UserError(`${w.input}: could not connect to ${at} as "${w.user}": ${msg}`, { cause: e });
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
