/**
 * TLS of a MySQL/MariaDB URL, with the mysql client's meaning: `ssl-mode` (DISABLED, PREFERRED,
 * REQUIRED, VERIFY_CA, VERIFY_IDENTITY; PREFERRED by default, VERIFY_CA when only a CA is given) and
 * `ssl-ca`, `ssl-cert`, `ssl-key` as file paths or PEM text, turned into mysql2's `ssl` option.
 */
import type { SslOptions } from 'mysql2';
import { UserError } from '../../errors.js';
import { pemFile, readPem } from '../tls-files.js';

export const MY_SSL_MODES = ['DISABLED', 'PREFERRED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const;
export type MySslMode = (typeof MY_SSL_MODES)[number];
export const MY_TLS_FILES = ['ssl-ca', 'ssl-cert', 'ssl-key'] as const;
export type MyTlsFile = (typeof MY_TLS_FILES)[number];

export interface MyTls {
  mode: MySslMode;
  /** What to try, in order: mysql2's ssl option, or undefined for plaintext (PREFERRED: TLS, then plaintext). */
  attempts: (SslOptions | undefined)[];
  verified: boolean;
  hostChecked: boolean;
  /** The certificate parameters as given (paths or PEM text). */
  files: Partial<Record<MyTlsFile, string>>;
}

/** The side's input for a certificate parameter: `source-url` + `ssl-ca` -> `source-ssl-ca`. */
export function myTlsInputOf(input: string, param: MyTlsFile = 'ssl-ca'): string {
  return input.endsWith('-url') ? input.replace(/-url$/, `-${param}`) : `${param} in the URL`;
}

/** A URL parameter by any of the spellings the clients use (ssl-mode, ssl_mode, sslmode). */
function param(url: URL, name: string): string | null {
  for (const n of [name, name.replace('-', '_'), name.replace('-', '')]) {
    const v = url.searchParams.get(n);
    if (v !== null && v !== '') return v;
  }
  return null;
}

export function myTls(url: URL, input: string): MyTls {
  const files: Partial<Record<MyTlsFile, string>> = {};
  for (const k of MY_TLS_FILES) {
    const v = param(url, k);
    if (v) files[k] = v;
  }
  const given = param(url, 'ssl-mode')?.toUpperCase().replace(/-/g, '_');
  if (given && !(MY_SSL_MODES as readonly string[]).includes(given))
    throw new UserError(`${input}: ssl-mode=${given} is not an ssl-mode: use one of ${MY_SSL_MODES.join(', ')} (e.g. ?ssl-mode=VERIFY_IDENTITY).`);
  const mode = (given ?? (files['ssl-ca'] ? 'VERIFY_CA' : 'PREFERRED')) as MySslMode;
  if (mode === 'VERIFY_CA' && !files['ssl-ca'])
    throw new UserError(
      `${input}: ssl-mode=VERIFY_CA checks the server's certificate against a CA you give: set ${myTlsInputOf(input)} (a PEM file or its text) or ssl-ca in the URL, or use ssl-mode=VERIFY_IDENTITY to check against the system's CAs.`,
    );
  const pem = (k: MyTlsFile) => (files[k] ? readPem(files[k], `${input} (${k}, or ${myTlsInputOf(input, k)})`) : undefined);
  const verify = mode === 'VERIFY_CA' || mode === 'VERIFY_IDENTITY';
  const ssl: SslOptions = {
    ca: pem('ssl-ca'),
    cert: pem('ssl-cert'),
    key: pem('ssl-key'),
    rejectUnauthorized: verify,
    verifyIdentity: mode === 'VERIFY_IDENTITY',
  };
  for (const k of Object.keys(ssl) as (keyof SslOptions)[]) if (ssl[k] === undefined) delete ssl[k];
  const attempts = mode === 'DISABLED' ? [undefined] : mode === 'PREFERRED' ? [ssl, undefined] : [ssl];
  return { mode, attempts, verified: verify, hostChecked: mode === 'VERIFY_IDENTITY', files };
}

/** The certificate parameters as files, for a server (CHANGE MASTER) or a tool's --ssl-ca options. */
export function myTlsFiles(t: MyTls, input: string): Partial<Record<MyTlsFile, string>> {
  const out: Partial<Record<MyTlsFile, string>> = {};
  for (const k of MY_TLS_FILES) if (t.files[k]) out[k] = pemFile(t.files[k], `${input} (${k}, or ${myTlsInputOf(input, k)})`);
  return out;
}

/** Client options of the mariadb/mysql tools (mariadb-dump, mariadb-backup, mydumper) for the URL's TLS. */
export function myToolTlsArgs(url: URL, input: string, tool: 'mariadb' | 'mysql' | 'mydumper' = 'mariadb'): string[] {
  const t = myTls(url, input);
  if (t.mode === 'DISABLED') return tool === 'mydumper' ? [] : ['--skip-ssl'];
  const f = myTlsFiles(t, input);
  const files = [
    ...(f['ssl-ca'] ? [`--ssl-ca=${f['ssl-ca']}`] : []),
    ...(f['ssl-cert'] ? [`--ssl-cert=${f['ssl-cert']}`] : []),
    ...(f['ssl-key'] ? [`--ssl-key=${f['ssl-key']}`] : []),
  ];
  if (t.mode === 'PREFERRED') return files;
  if (tool === 'mysql') return [`--ssl-mode=${t.mode}`, ...files];
  if (tool === 'mydumper') return ['--ssl', ...(t.verified ? [`--ssl-mode=${t.mode}`] : []), ...files];
  // MariaDB clients: --ssl encrypts; --ssl-verify-server-cert checks the CA and the host name.
  return ['--ssl', ...(t.verified ? ['--ssl-verify-server-cert'] : []), ...files];
}
