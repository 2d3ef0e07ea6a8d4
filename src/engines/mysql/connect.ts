import * as net from 'node:net';
import mysql from 'mysql2/promise';
import { SideError, UserError } from '../../errors.js';
import type { Side } from '../../hosts/endpoint.js';
import { track } from '../open-clients.js';
import { markLostOn } from '../server-lost.js';
import { countCalls, type RoundTrips } from '../../hosts/round-trips.js';
import { myTls, myTlsInputOf, type MySslMode } from './tls.js';

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

const NO_NBE = "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', ''), ',,', ','))";

/** How a connection went: encrypted or not, and what of the server was checked. */
export interface MyTlsState {
  mode: MySslMode;
  encrypted: boolean;
  verified: boolean;
  hostChecked: boolean;
}

const tlsStates = new WeakMap<object, MyTlsState>();
/** PREFERRED: which attempt a server accepted last (host:port:mode -> index). */
const WORKED = new Map<string, number>();

/** Whether a connection zdm opened is encrypted, and what was verified. */
export function tlsStateOf(c: MyConn): MyTlsState | undefined {
  return tlsStates.get(c);
}

/** Opens one connection and turns the usual failures into errors that say what to fix. */
export async function connectMy(url: URL, opts: MyConnectOptions): Promise<MyConn> {
  const { host, port } = hostPort(url);
  const user = opts.user ?? decodeURIComponent(url.username || 'root');
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined;
  const tls = myTls(url, opts.input);
  let last: unknown;
  // PREFERRED: TLS when the server offers it, else plaintext (as the mysql client does); the way that
  // worked is remembered per server, so that later connections try it first.
  const key = `${host}:${port}:${tls.mode}`;
  const first = WORKED.get(key) ?? 0;
  const attempts = [tls.attempts[first], ...tls.attempts.filter((_, j) => j !== first)];
  for (const [i, ssl] of attempts.entries()) {
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
        ssl,
        stream: ssl?.verifyIdentity && net.isIP(host) ? () => identifiedSocket(host, port) : undefined,
      });
      // An idle connection that breaks must not crash the process; the next query reports it.
      c.on('error', () => undefined);
      const untrack = track(() => c.destroy());
      // zdm's literals use backslash escapes (mysql2's escape, client-side placeholders): never NO_BACKSLASH_ESCAPES in its sessions.
      await c.query(NO_NBE);
      (c as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream.once('close', untrack);
      const lost = markLostOn(countCalls(c, ['query', 'execute'], opts.trips), ['query', 'execute'], {
        input: opts.input,
        at: `${host.includes(':') ? `[${host}]` : host}:${port}`,
      });
      tlsStates.set(lost, {
        mode: tls.mode,
        encrypted: ssl !== undefined,
        verified: ssl !== undefined && tls.verified,
        hostChecked: ssl !== undefined && tls.hostChecked,
      });
      if (tls.attempts.length > 1) WORKED.set(key, tls.attempts.indexOf(ssl));
      return lost;
    } catch (e) {
      last = e;
      if (i < attempts.length - 1 && (e as { code?: string }).code === 'HANDSHAKE_NO_SSL_SUPPORT') continue;
      break;
    }
  }
  throw explainMyError(last, opts.input, `${host}:${port}`, user, database, opts.side, tls.mode);
}

/**
 * A TCP socket to an IP address that node's TLS checks against the certificate's IP names: mysql2
 * sends no servername for an IP and checks no identity then, and node falls back to the socket's
 * `_host`, which a connection to a literal address does not set.
 */
function identifiedSocket(host: string, port: number): net.Socket {
  const s = net.connect(port, host);
  (s as net.Socket & { _host?: string })._host = host;
  return s;
}

/** Maps connection errors to a UserError (a SideError for one of the sides) that names the input and the fix. */
export function explainMyError(e: unknown, input: string, at: string, user: string, database?: string, side?: Side, mode?: MySslMode): UserError {
  const message = tlsProblem(e, input, at, mode) ?? connectProblem(e, input, at, user, database);
  return side ? new SideError(side, input, () => message, { cause: e }) : new UserError(message, { cause: e });
}

/** TLS failures: the certificate, the host name, or a server that insists on (or lacks) TLS. */
function tlsProblem(e: unknown, input: string, at: string, mode: MySslMode | undefined): string | undefined {
  const err = e as { code?: string; errno?: number; message?: string };
  const code = tlsCodeOf(err.message ?? '') || (err.code ?? '');
  const ca = myTlsInputOf(input);
  if (
    /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED)$/.test(
      code,
    )
  )
    return `${input}: the TLS certificate of ${at} is not signed by the CA zdm checks it against (ssl-mode=${mode}; ${code}). Set ${ca} (or ssl-ca in the URL) to the CA certificate that signed the server's certificate (PEM file or text), or ask the server's admin for it.`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `${input}: the TLS certificate of ${at} is not for that host name (ssl-mode=VERIFY_IDENTITY checks it: ${err.message}). Connect by a name the certificate lists, or use ssl-mode=VERIFY_CA to check only the CA.`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return `${input}: the TLS certificate of ${at} is not valid now (${code}). Renew the server's certificate.`;
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT')
    return `${input}: the server at ${at} does not offer TLS, but ssl-mode=${mode} requires it. Give the server ssl_cert/ssl_key, or (on a trusted network only) use ssl-mode=PREFERRED.`;
  // ER_SECURE_TRANSPORT_REQUIRED (3159 in MySQL; MariaDB says so in ER_ACCESS_DENIED / 1045 text with require_secure_transport)
  if (err.errno === 3159 || /secure transport|insecure transport/i.test(err.message ?? ''))
    return `${input}: the server at ${at} accepts only TLS connections (require_secure_transport), and ssl-mode=${mode}. Use ssl-mode=VERIFY_IDENTITY (or REQUIRED), with ${ca} set to the server's CA.`;
  if (code === 'ER_ACCESS_DENIED_ERROR' && mode === 'DISABLED')
    return `${input}: access denied at ${at} with ssl-mode=DISABLED. A server with require_secure_transport=ON (MariaDB) refuses plaintext logins as "access denied": remove ssl-mode=DISABLED (or use VERIFY_IDENTITY with ${ca}); otherwise check the user name and the password in the secret.`;
  return undefined;
}

/** mysql2 passes some TLS errors on without their code: the code from node's message. */
function tlsCodeOf(msg: string): string {
  if (/self[- ]signed certificate in certificate chain/i.test(msg)) return 'SELF_SIGNED_CERT_IN_CHAIN';
  if (/self[- ]signed certificate/i.test(msg)) return 'DEPTH_ZERO_SELF_SIGNED_CERT';
  if (/unable to verify the first certificate/i.test(msg)) return 'UNABLE_TO_VERIFY_LEAF_SIGNATURE';
  if (/unable to get (local )?issuer certificate/i.test(msg)) return 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY';
  if (/does not match certificate's altnames/i.test(msg)) return 'ERR_TLS_CERT_ALTNAME_INVALID';
  if (/certificate has expired/i.test(msg)) return 'CERT_HAS_EXPIRED';
  return '';
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

/** The server's data directory (@@datadir). */
export async function dataDirOf(c: MyConn): Promise<string> {
  return (await one<{ d: string }>(c, 'SELECT @@datadir AS d')).d;
}

/** Global variables by name (lower case keys). */
export async function variables(c: MyConn, names: string[]): Promise<Record<string, string>> {
  const r = await rows<{ Variable_name: string; Value: string }>(c, `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${names.map(() => '?').join(',')})`, names);
  return Object.fromEntries(r.map((x) => [x.Variable_name.toLowerCase(), String(x.Value)]));
}
