import pg from 'pg';
import { SideError, UserError } from '../../errors.js';
import type { Side } from '../../hosts/endpoint.js';
import { track } from '../open-clients.js';
import { markLostOn } from '../server-lost.js';
import { countCalls, type RoundTrips } from '../../hosts/round-trips.js';
import { pgConnection, tlsInputOf, type PgSslMode } from './tls.js';

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

/** How a connection went: encrypted or not, and what of the server was checked. */
export interface PgTlsState {
  mode: PgSslMode;
  encrypted: boolean;
  /** The server's certificate was checked against a CA. */
  verified: boolean;
  /** ... and its host name against the certificate (verify-full). */
  hostChecked: boolean;
}

const tlsStates = new WeakMap<PgClient, PgTlsState>();
/** prefer/allow: which attempt a server accepted last (host:port:mode -> index). */
const WORKED = new Map<string, number>();

/** Whether a client zdm opened is encrypted, and what was verified. */
export function tlsStateOf(c: PgClient): PgTlsState | undefined {
  return tlsStates.get(c);
}

/** Opens one connection and turns the usual failures into errors that say what to fix. */
export async function connectPg(url: URL, opts: PgConnectOptions): Promise<PgClient> {
  const conn = pgConnection(url, opts.input);
  const user = opts.user ?? conn.user ?? 'postgres';
  const database = opts.database ?? (conn.database || 'postgres');
  const where: Where = {
    input: opts.input,
    side: opts.side,
    host: url.hostname,
    port: conn.port,
    user,
    database,
    replication: opts.replication,
    mode: conn.mode,
  };
  let last: unknown;
  // libpq's allow and prefer: when the first way is refused, the other one (allow: plaintext, then TLS).
  // The way that worked is remembered per server, so that later connections (in a cutover's window) try it first.
  const key = `${conn.host}:${conn.port}:${conn.mode}`;
  const first = WORKED.get(key) ?? 0;
  const attempts = [conn.attempts[first], ...conn.attempts.filter((_, j) => j !== first)];
  for (const [i, ssl] of attempts.entries()) {
    const client = new pg.Client({
      host: conn.host,
      port: conn.port,
      user,
      password: opts.password ?? conn.password ?? '',
      database: opts.replication ? undefined : database,
      replication: opts.replication ? 'true' : undefined,
      connectionTimeoutMillis: opts.timeoutMs ?? 10_000,
      application_name: opts.applicationName ?? 'zdm',
      ssl,
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
      // The answer that says most: a refusal (pg_hba, password) over "the server does not offer TLS".
      if (last === undefined || !/does not support SSL/i.test((e as Error).message ?? '')) last = e;
      if (i < attempts.length - 1 && mayRetryOtherWay(e)) continue;
      throw explainPgError(last, where);
    }
    if (conn.attempts.length > 1) WORKED.set(key, conn.attempts.indexOf(ssl));
    tlsStates.set(client, {
      mode: conn.mode,
      encrypted: ssl !== false,
      verified: ssl !== false && conn.verified,
      hostChecked: ssl !== false && conn.hostChecked,
    });
    return markLostOn(countCalls(client, ['query'], opts.trips), ['query'], { input: opts.input, at: `${url.hostname}:${conn.port}` });
  }
  throw explainPgError(last, where);
}

/** A refusal that the other way (TLS or plaintext) may get past: no TLS on the server, or no pg_hba line for this kind of connection. */
function mayRetryOtherWay(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return /does not support SSL/i.test(err.message ?? '') || err.code === '28000';
}

interface Where {
  input: string;
  side?: Side;
  host: string;
  port: number;
  user: string;
  database?: string;
  replication?: boolean;
  mode?: PgSslMode;
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
  const tls = tlsProblem(err, w);
  if (tls) return tls;
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

/** TLS failures: the certificate, the host name, or a server that insists on (or lacks) TLS. */
function tlsProblem(err: { code?: string; message?: string }, w: Where): string | undefined {
  const at = `${w.host}:${w.port}`;
  const ca = tlsInputOf(w.input);
  const code = err.code ?? '';
  if (
    /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED)$/.test(
      code,
    )
  )
    return `${w.input}: the TLS certificate of ${at} is not signed by the CA zdm checks it against (sslmode=${w.mode}; ${code}). Set ${ca} (or sslrootcert in the URL) to the CA certificate that signed the server's certificate (PEM file or text), or ask the server's admin for it.`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `${w.input}: the TLS certificate of ${at} is not for the host name "${w.host}" (sslmode=verify-full checks it: ${err.message}). Connect by a name the certificate lists, or use sslmode=verify-ca to check only the CA.`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return `${w.input}: the TLS certificate of ${at} is not valid now (${code}). Renew the server's certificate.`;
  if (/does not support SSL/i.test(err.message ?? ''))
    return `${w.input}: the server at ${at} does not offer TLS, but sslmode=${w.mode} requires it. Turn on ssl in the server's configuration, or (on a trusted network only) use sslmode=prefer.`;
  if (err.code === '28000' && /no encryption/i.test(err.message ?? '') && (w.mode === 'disable' || w.mode === 'allow'))
    return `${w.input}: the server at ${at} accepts only TLS connections (hostssl in pg_hba.conf), and sslmode=${w.mode}. Use sslmode=verify-full (or require), with ${ca} set to the server's CA.`;
  return undefined;
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

/** An identifier, quoted by pg. */
export function quoteIdent(name: string): string {
  return pg.escapeIdentifier(name);
}

export function quoteLiteral(value: string): string {
  return "'" + value.replace(/'/g, "''") + "'";
}

/** `schema.table` or `table` into a safely quoted name. */
export function quoteQualified(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}
