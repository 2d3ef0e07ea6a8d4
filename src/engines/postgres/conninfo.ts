/** What a standby's primary_conninfo names: the application_name it reports, and its passfile beside the data directory. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Host, OsUser } from '../../hosts/host.js';
import type { PgClient } from './connect.js';
import { PG_TLS_FILES, sslModeOf, withTlsFiles, type PgSslMode } from './tls.js';

/** The application_name a zdm-made standby reports to its primary (pg_stat_replication). */
export const APPLICATION_NAME = 'zdm_target';

/** The standby's passfile, beside (not inside) its data directory and named after it. */
export function passfilePath(dataDir: string): string {
  return path.join(path.dirname(path.resolve(dataDir)), `.zdm-${path.basename(path.resolve(dataDir))}.pgpass`);
}

/** A URL's TLS as libpq keywords: sslmode, and the certificate files on the machine zdm runs on. */
export interface LibpqTls {
  sslmode: PgSslMode;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
}

/** The TLS a libpq client (a tool, a standby, a subscription) uses for `url`: its sslmode (libpq's default prefer) and certificate files. */
export function libpqTls(url: URL, input: string): LibpqTls {
  const u = withTlsFiles(url, input);
  const t: LibpqTls = { sslmode: sslModeOf(url, input) };
  for (const k of PG_TLS_FILES) {
    const v = u.searchParams.get(k);
    if (v) t[k] = v;
  }
  return t;
}

/** conninfo keywords, each value quoted with `cq`. */
export function tlsKeywords(t: LibpqTls, cq: (v: string) => string): string[] {
  return [`sslmode=${t.sslmode}`, ...PG_TLS_FILES.filter((k) => t[k]).map((k) => `${k}=${cq(t[k]!)}`)];
}

/** libpq environment variables for a tool run on the machine that holds the files. */
export function tlsEnv(t: LibpqTls): Record<string, string> {
  const env: Record<string, string> = { PGSSLMODE: t.sslmode };
  if (t.sslrootcert) env.PGSSLROOTCERT = t.sslrootcert;
  if (t.sslcert) env.PGSSLCERT = t.sslcert;
  if (t.sslkey) env.PGSSLKEY = t.sslkey;
  return env;
}

/** Where a server keeps a copy of the certificate files it connects with, beside its data directory: `tag` names the link. */
export function tlsFilePath(dataDir: string, tag: string, k: (typeof PG_TLS_FILES)[number]): string {
  return path.join(path.dirname(path.resolve(dataDir)), `.zdm-${path.basename(path.resolve(dataDir))}.${tag}.${k}.pem`);
}

/**
 * Copies the certificate files to `host` beside the data directory, owned by the server's user and
 * readable by it only (libpq refuses a key others can read): what its walreceiver or its
 * subscription worker reads. `system` (libpq's system CAs) stays as it is.
 */
export async function installTls(host: Host, t: LibpqTls, dataDir: string, owner: OsUser, tag: string): Promise<LibpqTls> {
  const out: LibpqTls = { sslmode: t.sslmode };
  for (const k of PG_TLS_FILES) {
    const v = t[k];
    if (!v) continue;
    if (k === 'sslrootcert' && v === 'system') {
      out[k] = v;
      continue;
    }
    const file = tlsFilePath(dataDir, tag, k);
    await host.writeFile(file, readFileSync(v, 'utf8'), { mode: 0o600, owner });
    out[k] = file;
  }
  return out;
}

/** The files installTls may have written for a link: what putting things back removes. */
export function tlsFilePaths(dataDir: string, tag: string): string[] {
  return PG_TLS_FILES.map((k) => tlsFilePath(dataDir, tag, k));
}

/**
 * The TLS keywords of a subscription on `server` (its workers read the files): certificate files
 * copied beside the server's data directory on `host`, owned by the server's user.
 */
export async function subscriptionTls(host: Host, server: PgClient, url: URL, input: string, tag: string): Promise<LibpqTls> {
  const t = libpqTls(url, input);
  if (!PG_TLS_FILES.some((k) => t[k] && t[k] !== 'system')) return t;
  const r = await server.query<{ data_directory: string }>('SHOW data_directory');
  const dd = r.rows[0].data_directory;
  return installTls(host, t, dd, await host.ownerOf(dd), tag);
}
