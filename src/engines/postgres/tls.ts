/**
 * A PostgreSQL URL read by pg's own connection-string parser with libpq's meaning of `sslmode`
 * (disable, allow, prefer, require, verify-ca, verify-full; the default is prefer, as in libpq), and
 * `sslrootcert`, `sslcert`, `sslkey` as file paths or PEM text.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { parse } from 'pg-connection-string';
import { UserError } from '../../errors.js';
import { pemFile } from '../tls-files.js';

export const PG_SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type PgSslMode = (typeof PG_SSL_MODES)[number];
/** The URL parameters that name a certificate or key. */
export const PG_TLS_FILES = ['sslrootcert', 'sslcert', 'sslkey'] as const;

export interface PgConnection {
  host: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
  mode: PgSslMode;
  /** What to try, in order: TLS options, or false for plaintext (allow: plaintext first; prefer: TLS first). */
  attempts: (TlsOptions | false)[];
  /** Whether the server's certificate is checked against a CA (verify-ca, verify-full, or require with a root certificate). */
  verified: boolean;
  /** Whether the server's host name is checked against its certificate (verify-full). */
  hostChecked: boolean;
}

/** The side's input for a certificate parameter: `source-url` -> `source-ssl-ca`. */
export function tlsInputOf(input: string, param: (typeof PG_TLS_FILES)[number] = 'sslrootcert'): string {
  const suffix = param === 'sslrootcert' ? 'ssl-ca' : param === 'sslcert' ? 'ssl-cert' : 'ssl-key';
  return input.endsWith('-url') ? input.replace(/-url$/, `-${suffix}`) : `${param} in the URL`;
}

/** The mode a URL asks for (libpq's default: prefer). */
export function sslModeOf(url: URL, input: string): PgSslMode {
  const mode = url.searchParams.get('sslmode') ?? 'prefer';
  if (!(PG_SSL_MODES as readonly string[]).includes(mode))
    throw new UserError(`${input}: sslmode=${mode} is not a libpq sslmode: use one of ${PG_SSL_MODES.join(', ')} (e.g. ?sslmode=verify-full).`);
  return mode as PgSslMode;
}

/** The URL with its certificate parameters as files (PEM text written to private files): what libpq tools and servers read. */
export function withTlsFiles(url: URL, input: string): URL {
  const u = new URL(url.href);
  for (const k of PG_TLS_FILES) {
    const v = u.searchParams.get(k);
    if (v && !(k === 'sslrootcert' && v === 'system')) u.searchParams.set(k, pemFile(v, `${input} (${k}, or ${tlsInputOf(input, k)})`));
  }
  return u;
}

/** How to connect to `url`: host, credentials and the TLS attempts, through pg-connection-string with libpq semantics. */
export function pgConnection(url: URL, input: string): PgConnection {
  const mode = sslModeOf(url, input);
  const u = withTlsFiles(url, input);
  const system = u.searchParams.get('sslrootcert') === 'system';
  if (system) u.searchParams.delete('sslrootcert');
  // allow is prefer in the other order: the parser knows prefer's TLS options (encrypt, verify nothing).
  u.searchParams.set('sslmode', mode === 'allow' || (mode === 'verify-ca' && system) ? (mode === 'allow' ? 'prefer' : 'verify-full') : mode);
  let c: ReturnType<typeof parse>;
  try {
    c = parse(u.href, { useLibpqCompat: true });
  } catch (e) {
    const msg = (e as Error).message;
    if (/verify-ca requires specifying a CA/.test(msg))
      throw new UserError(
        `${input}: sslmode=verify-ca checks the server's certificate against a CA you give: set ${tlsInputOf(input)} (a PEM file or its text) or sslrootcert in the URL, or use sslmode=verify-full to check against the system's CAs.`,
        { cause: e },
      );
    throw new UserError(`${input}: ${msg}`, { cause: e });
  }
  const ssl: TlsOptions | false = c.ssl === false || c.ssl === undefined ? false : c.ssl === true ? {} : (c.ssl as TlsOptions);
  const attempts: (TlsOptions | false)[] = mode === 'disable' ? [false] : mode === 'allow' ? [false, ssl] : mode === 'prefer' ? [ssl, false] : [ssl];
  const verified = mode === 'verify-ca' || mode === 'verify-full' || (mode === 'require' && Boolean(c.sslrootcert));
  return {
    host: c.host ?? 'localhost',
    port: Number(c.port || 5432),
    user: c.user || undefined,
    password: c.password || undefined,
    database: c.database ?? undefined,
    mode,
    attempts,
    verified,
    hostChecked: mode === 'verify-full',
  };
}

/** A URL for `addr` (a replication address) that keeps `from`'s TLS parameters: the same server's TLS, reached elsewhere. */
export function addressUrl(addr: { host: string; port: number }, from: URL): URL {
  const u = new URL(`postgres://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}/`);
  for (const k of ['sslmode', ...PG_TLS_FILES]) {
    const v = from.searchParams.get(k);
    if (v) u.searchParams.set(k, v);
  }
  return u;
}
