/**
 * The logical seed's first half: the source's roles and schema on the target, through the client
 * tools (pg_dumpall, pg_dump, psql) of the source's major or newer found on the runner.
 */
import { promises as fs, existsSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalHost } from '../../../hosts/local.js';
import { lastLines } from '../../../hosts/host.js';
import { UserError } from '../../../errors.js';
import { rows, type PgClient } from '../connect.js';
import { libpqTls, tlsEnv } from '../conninfo.js';
import type { PgSession } from '../session.js';

export interface ClientTools {
  major: number;
  pgDump: string;
  pgDumpall: string;
  psql: string;
}

/**
 * Where client tools may be: Debian/Ubuntu's and RHEL's per-major directories. The embedded-pg-<major>
 * npm packages are not searched: they ship only initdb, pg_ctl and postgres (checked: native/bin).
 */
function candidates(): { major: number; dir: string }[] {
  const found: { major: number; dir: string }[] = [];
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  for (const n of list('/usr/lib/postgresql')) if (/^\d+$/.test(n)) found.push({ major: Number(n), dir: `/usr/lib/postgresql/${n}/bin` });
  for (const n of list('/usr')) {
    const m = /^pgsql-(\d+)$/.exec(n);
    if (m) found.push({ major: Number(m[1]), dir: `/usr/${n}/bin` });
  }
  return found.sort((a, b) => b.major - a.major);
}

/** The newest client tools on the runner that can dump a server of `major` (pg_dump refuses newer servers). */
export function findClientTools(major: number): ClientTools {
  const all = candidates();
  for (const c of all) {
    if (c.major < major) continue;
    const t = { major: c.major, pgDump: path.join(c.dir, 'pg_dump'), pgDumpall: path.join(c.dir, 'pg_dumpall'), psql: path.join(c.dir, 'psql') };
    if ([t.pgDump, t.pgDumpall, t.psql].every((p) => existsSync(p))) return t;
  }
  const have = all.map((c) => c.major).join(', ') || 'none';
  throw new UserError(
    `no PostgreSQL client tools of major ${major} or newer on this runner (pg_dump, pg_dumpall and psql; found majors: ${have}). pg_dump cannot dump a server newer than itself: install the client package of PostgreSQL ${major} or newer (Debian: postgresql-client-${major} from apt.postgresql.org). Nothing was changed.`,
  );
}

/** libpq environment for a tool connecting with `url`: the password never on a command line. */
function connEnv(url: URL): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: url.hostname.replace(/^\[|\]$/g, ''),
    PGPORT: url.port || '5432',
    PGUSER: decodeURIComponent(url.username || 'postgres'),
    PGDATABASE: decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres',
    PGCONNECT_TIMEOUT: '15',
    PGAPPNAME: 'zdm_seed',
  };
  if (url.password) env.PGPASSWORD = decodeURIComponent(url.password);
  return { ...env, ...tlsEnv(libpqTls(url, 'the URL')) };
}

async function tool(argv: string[], url: URL, what: string): Promise<void> {
  const r = await new LocalHost().run(argv, { env: connEnv(url), timeoutMs: 3_600_000 });
  if (r.code !== 0) throw new UserError(`${what} failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout, 4)}`);
}

/** The source database's schema (no publications or subscriptions: zdm makes its own; no table matching `exclude`), as a SQL file. */
export async function dumpSchema(s: PgSession, t: ClientTools, dir: string, exclude: readonly string[] = []): Promise<string> {
  const file = path.join(dir, 'schema.sql');
  await tool(
    [t.pgDump, '--schema-only', '--no-publications', '--no-subscriptions', ...exclude.map((p) => `--exclude-table=${p}`), '-f', file],
    s.sourceEndpoint.connectUrl,
    `pg_dump ${t.major} --schema-only`,
  );
  return file;
}

/** Loads a SQL file into the target database in one transaction: all of it, or nothing. */
export async function loadSql(s: PgSession, t: ClientTools, file: string, what: string): Promise<void> {
  await tool([t.psql, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', file], s.targetEndpoint.connectUrl, what);
}

/** Whether this session may read pg_authid (the password hashes): superuser only, on most servers. */
async function readsAuthid(c: PgClient): Promise<boolean> {
  try {
    await c.query('SELECT 1 FROM pg_authid LIMIT 1');
    return true;
  } catch {
    return false;
  }
}

/**
 * Copies the source's roles to the target: pg_dumpall --roles-only, without passwords when
 * pg_authid cannot be read. Roles that exist on the target already (its admin, the bootstrap
 * superuser) are neither created nor altered: the target's own logins must keep working.
 * Returns what was left out, for the log.
 */
export async function copyRoles(s: PgSession, t: ClientTools, dir: string): Promise<{ created: string[]; passwords: boolean; skipped: string[] }> {
  const passwords = await readsAuthid(await s.source());
  const file = path.join(dir, 'roles.sql');
  await tool(
    [t.pgDumpall, '--roles-only', ...(passwords ? [] : ['--no-role-passwords']), '-f', file],
    s.sourceEndpoint.connectUrl,
    `pg_dumpall ${t.major} --roles-only`,
  );
  const tgt = await s.target();
  const existing = new Set((await rows<{ rolname: string }>(tgt, 'SELECT rolname FROM pg_roles')).map((r) => r.rolname));
  const { script, created } = filterRoles(await fs.readFile(file, 'utf8'), existing);
  const skipped: string[] = [];
  for (const stmt of script) {
    // One statement at a time: a GRANT naming a role that does not exist here is reported, not fatal.
    await tgt.query(stmt).catch((e: Error) => skipped.push(`${stmt.slice(0, 80)}: ${e.message}`));
  }
  return { created, passwords, skipped };
}

/** The statements of a pg_dumpall --roles-only script that concern roles absent from the target (plus memberships). */
export function filterRoles(text: string, existing: Set<string>): { script: string[]; created: string[] } {
  const script: string[] = [];
  const created: string[] = [];
  const ident = /^(?:CREATE|ALTER) ROLE ("(?:[^"]|"")+"|[^\s;]+)/;
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('--') || line.startsWith('\\') || /^SET /.test(line)) continue;
    const m = ident.exec(line);
    if (m) {
      const name = m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1];
      if (existing.has(name)) continue;
      if (line.startsWith('CREATE ROLE')) created.push(name);
    } else if (!/^(GRANT|COMMENT ON ROLE|SECURITY LABEL)/.test(line)) continue;
    script.push(line);
  }
  return { script, created };
}

/** A working directory for the dumps, removed by the caller. */
export async function dumpDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'zdm-logical-'));
}

const TABLES =
  "SELECT format('%I.%I', n.nspname, c.relname) AS t, n.nspname || '.' || c.relname AS label FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'zdm') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1";

/** User tables of a database (zdm's own schema aside), those `keep` accepts (schema.table labels) when given. */
export async function userTables(c: PgClient, keep?: (label: string) => boolean): Promise<string[]> {
  return (await rows<{ t: string; label: string }>(c, TABLES)).filter((x) => !keep || keep(x.label)).map((x) => x.t);
}

/**
 * The target holds exactly the source's tables, all empty: the schema an earlier seed loaded
 * before it failed (at the publication or the subscription). The seed goes on from there instead
 * of refusing a database that is not empty.
 */
export async function schemaAlreadyLoaded(src: PgClient, tgt: PgClient, targetTables: string[], keep?: (label: string) => boolean): Promise<boolean> {
  const source = await userTables(src, keep);
  if (source.join('\n') !== targetTables.join('\n')) return false;
  for (const t of targetTables) if ((await rows(tgt, `SELECT 1 FROM ${t} LIMIT 1`)).length) return false;
  return true;
}
