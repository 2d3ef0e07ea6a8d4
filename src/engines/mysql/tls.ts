/**
 * TLS of a MySQL/MariaDB URL, with the mysql client's meaning: `ssl-mode` (DISABLED, PREFERRED,
 * REQUIRED, VERIFY_CA, VERIFY_IDENTITY; PREFERRED by default, VERIFY_CA when only a CA is given) and
 * `ssl-ca`, `ssl-cert`, `ssl-key` as file paths or PEM text, turned into mysql2's `ssl` option.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { SslOptions } from 'mysql2';
import type { Host } from '../../hosts/host.js';
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

/**
 * Command-line options of a client tool run on `host` (mariadb, mariadb-dump, mariadb-backup, the
 * mysql client; mydumper/myloader) for the URL's TLS, with the certificate files written on that host
 * (0600, removed by the caller with `files`).
 */
export async function toolTlsArgs(
  host: Host,
  url: URL,
  input: string,
  tool: 'mariadb' | 'mysql' | 'mydumper',
  /** PREFERRED: the runner's own connection to that server is encrypted (mydumper has no "preferred"). */
  encrypted = false,
): Promise<{ args: string[]; files: string[] }> {
  const t = myTls(url, input);
  const runnerEncrypted = t.mode !== 'DISABLED';
  if (!runnerEncrypted) return { args: tool === 'mydumper' ? [] : tool === 'mysql' ? ['--ssl-mode=DISABLED'] : ['--skip-ssl'], files: [] };
  const local = myTlsFiles(t, input);
  const files: string[] = [];
  const paths: Partial<Record<MyTlsFile, string>> = {};
  for (const k of MY_TLS_FILES) {
    if (!local[k]) continue;
    const dest = `/tmp/.zdm-${process.pid}-${Math.random().toString(36).slice(2)}.${k}.pem`;
    await host.writeFile(dest, readFileSync(local[k], 'utf8'), { mode: 0o600 });
    files.push(dest);
    paths[k] = dest;
  }
  const named = (prefix: string) => MY_TLS_FILES.filter((k) => paths[k]).map((k) => `--${prefix}${k.slice(4)}=${paths[k]}`);
  if (tool === 'mydumper') return { args: t.mode === 'PREFERRED' && !encrypted ? [] : ['--ssl', ...named('')], files };
  if (tool === 'mysql') return { args: [`--ssl-mode=${t.mode}`, ...named('ssl-')], files };
  // MariaDB clients: --ssl encrypts; --ssl-verify-server-cert checks the chain and the host name.
  if (t.mode === 'PREFERRED') return { args: named('ssl-'), files };
  return { args: ['--ssl', ...(t.verified ? ['--ssl-verify-server-cert'] : []), ...named('ssl-')], files };
}

/** TLS of a replication link (CHANGE MASTER / CHANGE REPLICATION SOURCE), the files on the replica's host. */
export interface ReplicationTls {
  ssl: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  /** The source's certificate is checked against the CA. */
  verifyCa: boolean;
  /** ... and its host name (MASTER_SSL_VERIFY_SERVER_CERT / SOURCE_SSL_VERIFY_SERVER_CERT). */
  verifyIdentity: boolean;
}

/**
 * The TLS the replica `server` (on `host`) uses to reach the server of `url`: its ssl-mode, the
 * certificate files copied beside the replica's data directory for its server user. PREFERRED
 * encrypts when the runner's own connection to that server is encrypted (a replication channel
 * has no fallback of its own).
 */
export async function replicationTls(
  host: Host,
  /** The replica's @@datadir, read only when there are files to copy. */
  readDataDir: () => Promise<string>,
  url: URL,
  input: string,
  runnerEncrypted: boolean,
): Promise<ReplicationTls> {
  const t = myTls(url, input);
  const ssl = t.mode === 'PREFERRED' ? runnerEncrypted : t.mode !== 'DISABLED';
  const out: ReplicationTls = { ssl, verifyCa: t.verified, verifyIdentity: t.hostChecked };
  const files = myTlsFiles(t, input);
  if (!ssl || !Object.keys(files).length) return out;
  const dataDir = path.resolve(await readDataDir());
  const owner = await host.ownerOf(dataDir);
  for (const [k, field] of [
    ['ssl-ca', 'ca'],
    ['ssl-cert', 'cert'],
    ['ssl-key', 'key'],
  ] as const) {
    const f = files[k];
    if (!f) continue;
    const dest = replicationTlsPath(dataDir, k);
    await host.writeFile(dest, readFileSync(f, 'utf8'), { mode: 0o600, owner });
    out[field] = dest;
  }
  return out;
}

/** Where the replica's copy of a certificate file goes: beside (not inside) its data directory. */
export function replicationTlsPath(dataDir: string, k: MyTlsFile): string {
  return path.join(path.dirname(path.resolve(dataDir)), `.zdm-${path.basename(path.resolve(dataDir))}.replication.${k}.pem`);
}

/** A URL for `addr` (a replication address) that keeps `from`'s TLS parameters. */
export function myAddressUrl(addr: { host: string; port: number }, from: URL): URL {
  const u = new URL(`mysql://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}/`);
  for (const [k, v] of from.searchParams) if (/^ssl[-_]?/i.test(k)) u.searchParams.set(k, v);
  return u;
}
