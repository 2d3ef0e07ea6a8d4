/**
 * The read-only fence by database, for a fencing role that may not ALTER SYSTEM (a managed
 * service's admin role; any role but a superuser before PostgreSQL 15): ALTER DATABASE ... SET
 * default_transaction_read_only on every connectable database, which its owner (or a member of
 * the owner) may run. Only new sessions read it: cutover.ts ends the open ones as for the
 * ALTER SYSTEM fence. Also what both fences need to see and end every session.
 */
import { UserError } from '../../errors.js';
import { one, quoteIdent, rows, type PgClient } from './connect.js';
import type { PgSession } from './session.js';

/**
 * The spelling of the read-only setting the fence by database writes, and the durable record a
 * re-run finds it by: a custom mark on a database (as FENCED_MARK on roles) needs superuser or, from
 * 15 on, SET on the mark, which a managed admin role lacks; a setting's value keeps the case it was
 * given in, and SQL that is not quoted gives 'on' (the parser lowers ON and TRUE), so an 'ON' is the fence's.
 */
export const DB_FENCE_VALUE = 'ON';
const TRUE_SPELLINGS = ['on', 't', 'tr', 'tru', 'true', 'y', 'ye', 'yes', '1'];
/** A default_transaction_read_only value as PostgreSQL's parse_bool reads it. */
export const readOnlyValue = (v: string | null) => v !== null && TRUE_SPELLINGS.includes(v.trim().toLowerCase());

/** ALTER SYSTEM SET default_transaction_read_only: a superuser's, or from PostgreSQL 15 on a grantable privilege. */
export async function mayAlterSystem(c: PgClient): Promise<boolean> {
  const r = await one<{ su: boolean; num: number }>(
    c,
    "SELECT rolsuper AS su, current_setting('server_version_num')::int AS num FROM pg_roles WHERE rolname = current_user",
  );
  if (r.su) return true;
  if (r.num < 150000) return false;
  const p = await one<{ ok: boolean }>(c, "SELECT has_parameter_privilege('default_transaction_read_only', 'ALTER SYSTEM') AS ok");
  return p.ok;
}

/** A database new sessions can open (template0/1 aside), its owner, whether this role may alter it, and its own read-only setting. */
export type FencedDatabase = {
  name: string;
  owner: string;
  mayAlter: boolean;
  setting: string | null;
};

export async function connectableDatabases(c: PgClient): Promise<FencedDatabase[]> {
  return rows<FencedDatabase>(
    c,
    `SELECT d.datname AS name, pg_get_userbyid(d.datdba) AS owner, pg_has_role(current_user, d.datdba, 'USAGE') AS "mayAlter",
       (SELECT substr(x, 31) FROM pg_db_role_setting s, unnest(s.setconfig) x
         WHERE s.setdatabase = d.oid AND s.setrole = 0 AND x LIKE 'default_transaction_read_only=%' LIMIT 1) AS setting
     FROM pg_database d WHERE d.datallowconn AND d.datname NOT IN ('template0', 'template1') ORDER BY 1`,
  );
}

/** Login roles whose own setting (ALTER ROLE ... [IN DATABASE ...] SET) turns read-only off: they win over a database's. */
export async function escapingRoles(c: PgClient): Promise<{ role: string; db: string | null; value: string }[]> {
  const r = await rows<{ role: string; db: string | null; value: string }>(
    c,
    `SELECT r.rolname AS role, d.datname AS db, substr(x, 31) AS value
     FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) x
     WHERE r.rolcanlogin AND x LIKE 'default_transaction_read_only=%' ORDER BY 1, 2`,
  );
  return r.filter((x) => !readOnlyValue(x.value));
}

/** The statement that removes an escaping role setting. */
export const resetEscape = (e: { role: string; db: string | null }) =>
  `ALTER ROLE ${sqlName(e.role)}${e.db ? ` IN DATABASE ${sqlName(e.db)}` : ''} RESET default_transaction_read_only;`;

/** A name as SQL takes it: quoted only when it must be. */
export const sqlName = (n: string) => (/^[a-z_][a-z0-9_$]*$/.test(n) ? n : quoteIdent(n));

export async function refuseEscapingRoles(s: PgSession, src: PgClient): Promise<void> {
  const esc = await escapingRoles(src);
  if (esc.length)
    throw new UserError(
      `fence read-only by database (the role in ${s.sourceEndpoint.input} may not ALTER SYSTEM): ${esc.map((e) => `role "${e.role}"${e.db ? ` in database ${e.db}` : ''} has default_transaction_read_only = ${e.value} of its own, which wins over a database's setting`).join('; ')}. Fix: ${esc.map(resetEscape).join(' ')} Writes were not blocked.`,
    );
}

/**
 * The fence without ALTER SYSTEM: each connectable database read-only for new sessions (the
 * sessions open now are ended after). A database read-only of its own is left alone, one the fence
 * of an interrupted cutover left is taken over. Returns every database this fence (or that one) set.
 */
export async function fenceDatabases(s: PgSession, src: PgClient): Promise<string[]> {
  const dbs = await connectableDatabases(src);
  const left = dbs.filter((d) => d.setting === DB_FENCE_VALUE).map((d) => d.name);
  if (left.length)
    s.ctx.log.warn(`fence read-only: databases ${left.join(', ')} are still read-only from an interrupted cutover's fence: this fence takes them over`);
  const todo = dbs.filter((d) => !readOnlyValue(d.setting)).map((d) => d.name);
  // One round trip for all of them (one implicit transaction: all set, or none).
  if (todo.length) await src.query(todo.map((d) => `ALTER DATABASE ${quoteIdent(d)} SET default_transaction_read_only = '${DB_FENCE_VALUE}'`).join('; '));
  const own = dbs.filter((d) => readOnlyValue(d.setting) && d.setting !== DB_FENCE_VALUE).map((d) => d.name);
  s.ctx.log.info(
    `fence read-only by database (the role in ${s.sourceEndpoint.input} may not ALTER SYSTEM): ALTER DATABASE ... SET default_transaction_read_only on ${[...left, ...todo].sort().join(', ') || 'no database'}${own.length ? `; ${own.join(', ')} read-only of their own, left so` : ''}`,
  );
  return [...left, ...todo].sort();
}

/** Resets the databases the fence by database set (any fence's: the value says so); returns them. */
export async function liftDatabaseFence(c: PgClient): Promise<string[]> {
  const fenced = (await databaseSettings(c)).filter((d) => d.setting === DB_FENCE_VALUE).map((d) => d.name);
  for (const d of fenced) await c.query(`ALTER DATABASE ${quoteIdent(d)} RESET default_transaction_read_only`);
  return fenced;
}

/** Every database's own read-only setting (a database that no longer takes connections may still hold the fence's). */
async function databaseSettings(c: PgClient): Promise<{ name: string; setting: string | null }[]> {
  return rows<{ name: string; setting: string | null }>(
    c,
    `SELECT d.datname AS name, substr(x, 31) AS setting FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) x
     WHERE s.setrole = 0 AND x LIKE 'default_transaction_read_only=%' ORDER BY 1`,
  );
}

/**
 * Without pg_read_all_stats a role sees no other role's session in pg_stat_activity (backend_type
 * reads NULL there): the fence could neither end those sessions nor prove them gone.
 */
export async function seesAllSessions(c: PgClient): Promise<boolean> {
  return (await one<{ ok: boolean }>(c, "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS ok")).ok;
}

export async function refuseBlindFence(s: PgSession, src: PgClient): Promise<void> {
  if (await seesAllSessions(src)) return;
  const { who } = await one<{ who: string }>(src, 'SELECT current_user AS who');
  throw new UserError(
    `fence read-only: role "${who}" (${s.sourceEndpoint.input}) cannot see other roles' sessions (pg_read_all_stats), so it could neither end them nor prove them gone. Fix, as a superuser or admin: GRANT pg_read_all_stats TO ${sqlName(who)}; (or pg_monitor). Writes were not blocked.`,
  );
}
