/**
 * What the read-only fence (cutover.ts readOnlyFence) will do on the source, asked of the catalog
 * before it is done, for a source role without superuser (a managed service's admin role): ALTER
 * SYSTEM SET default_transaction_read_only and pg_reload_conf() when it may, else ALTER DATABASE
 * ... SET default_transaction_read_only on every connectable database (which needs to own them);
 * on each application role a mark (a custom role setting) and NOLOGIN; pg_terminate_backend on
 * every other client session. What makes the fence fail half way (no way to set read-only, a
 * session it cannot end, a role setting that escapes a database's) is a failure with the fix, and
 * cutover refuses before the fence; a role it cannot block keeps LOGIN (its new sessions still
 * start read-only): a warning. Only privilege functions are used: nothing is altered to find out.
 */
import { fail, ok, warn, type CheckUnit, type Verdict } from '../../../checks/check.js';
import { one, rows, type PgClient } from '../connect.js';
import { FENCED_MARK, streamingRoles } from '../cutover.js';
import { DB_FENCE_VALUE, connectableDatabases, escapingRoles, readOnlyValue, resetEscape, sqlName, type FencedDatabase } from '../db-fence.js';
import { isLogicalTarget } from '../logical/method.js';
import type { PgCheckContext } from './context.js';
import { usesLogical } from './logical-gate.js';

/** The fencing role: source-url's (rollback: target-url's, the side it fences). */
interface Fencer {
  who: string;
  db: string;
  super: boolean;
  repl: boolean;
  createrole: boolean;
  num: number;
  reload: boolean;
  signal: boolean;
  /** pg_read_all_stats: other roles' sessions are visible in pg_stat_activity. */
  stats: boolean;
  alterSystem: boolean;
  mark: boolean;
  /** The connectable databases: what a fence by database alters (unless read-only of their own). */
  dbs: FencedDatabase[];
}

/** A login role the fence makes NOLOGIN and whose sessions it ends. */
type AppRole = {
  name: string;
  super: boolean;
  repl: boolean;
  admin: boolean;
  usage: boolean;
  sessions: number;
};

/** The fence this step will use is the read-only one: chosen, or `auto` for a logical migration (as logical/cutover.ts settles it). */
async function readOnlyAhead(c: PgCheckContext): Promise<boolean> {
  const i = c.s.inputs;
  if (i.fence === 'read-only') return true;
  if (i.fenceGiven) return false;
  return i.step === 'preflight' ? usesLogical(c) : isLogicalTarget(c.s);
}

async function fencer(src: PgClient): Promise<Fencer> {
  const f = { ...(await fencerRole(src)), dbs: await connectableDatabases(src) };
  // Before 15, ALTER SYSTEM and a custom setting on another role are superuser-only (no privilege to grant).
  if (f.num < 150000) return { ...f, alterSystem: false, mark: false };
  const p = await one<{ alter_system: boolean; mark: boolean }>(
    src,
    "SELECT has_parameter_privilege('default_transaction_read_only', 'ALTER SYSTEM') AS alter_system, has_parameter_privilege($1, 'SET') AS mark",
    [FENCED_MARK],
  );
  return { ...f, alterSystem: p.alter_system, mark: p.mark };
}

async function fencerRole(src: PgClient) {
  return one<Omit<Fencer, 'alterSystem' | 'mark' | 'dbs'>>(
    src,
    `SELECT current_user AS who, current_database() AS db, r.rolsuper AS super, r.rolreplication AS repl, r.rolcreaterole AS createrole,
       current_setting('server_version_num')::int AS num,
       has_function_privilege('pg_catalog.pg_reload_conf()', 'EXECUTE') AS reload,
       pg_has_role('pg_signal_backend', 'USAGE') AS signal, pg_has_role('pg_read_all_stats', 'USAGE') AS stats
     FROM pg_roles r WHERE r.rolname = current_user`,
  );
}

/** The roles the fence keeps LOGIN: its own and the streaming one (preflight: the one the seed will stream with). */
async function kept(c: PgCheckContext, src: PgClient, me: Fencer): Promise<string[]> {
  const active = await streamingRoles(c.s, src);
  if (active.length || c.s.inputs.step !== 'preflight') return [me.who, ...active];
  const user = c.s.inputs.replicationUser;
  // As the logical seed chooses (logical-privileges.ts streamingRole): source-url's role when it may replicate.
  const own = (await usesLogical(c)) && (me.super || me.repl || !user);
  return [me.who, own || !user ? me.who : user];
}

async function appRoles(src: PgClient, keep: string[]): Promise<AppRole[]> {
  return rows<AppRole>(
    src,
    `SELECT r.rolname AS name, r.rolsuper AS super, r.rolreplication AS repl,
       pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION') AS admin, pg_has_role(current_user, r.oid, 'USAGE') AS usage,
       (SELECT count(*)::int FROM pg_stat_activity a WHERE a.backend_type = 'client backend' AND a.usesysid = r.oid) AS sessions
     FROM pg_roles r WHERE r.rolcanlogin AND NOT (r.rolname = ANY($1)) ORDER BY 1`,
    [keep],
  );
}

const listed = (roles: AppRole[]) => roles.map((r) => `"${r.name}"`).join(', ');

/** The databases a fence by database must alter (or lift): not read-only of their own. */
const toAlter = (me: Fencer) => me.dbs.filter((d) => d.setting === DB_FENCE_VALUE || !readOnlyValue(d.setting));
const dbList = (me: Fencer) =>
  toAlter(me)
    .map((d) => d.name)
    .join(', ') || 'no database';

/** How the fence sets read-only: ALTER SYSTEM and pg_reload_conf(), or each database; and the mark it blocks roles by. */
async function settingVerdicts(src: PgClient, me: Fencer, head: string, blocks: boolean): Promise<Verdict[]> {
  const out: Verdict[] = [];
  const who = sqlName(me.who);
  if (me.alterSystem && !me.reload)
    out.push(
      fail(
        `${head} may not run pg_reload_conf() in database ${me.db}, which makes the read-only default take effect. Fix, as a superuser in database ${me.db}: GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO ${who};`,
      ),
    );
  if (!me.alterSystem) out.push(...databaseVerdicts(me, head), ...(await escapeVerdicts(src, head)));
  if (!me.mark && blocks)
    out.push(
      warn(
        me.num < 150000
          ? `${head} may not mark the roles it blocks (SET ${FENCED_MARK}, the mark a re-run finds them by: superuser-only before PostgreSQL 15): no role is made NOLOGIN. Their new sessions still start read-only and their open ones are ended; keep the application away from the source after cutover.`
          : `${head} may not set ${FENCED_MARK} on the roles it blocks (the mark a re-run finds them by): no role is made NOLOGIN. Their new sessions still start read-only and their open ones are ended. To block them too, as a superuser: GRANT SET ON PARAMETER ${FENCED_MARK} TO ${who};`,
      ),
    );
  return out;
}

/** The fence by database: each database it must set read-only, altered by its owner (or a member of the owner). */
function databaseVerdicts(me: Fencer, head: string): Verdict[] {
  const who = sqlName(me.who);
  const denied = toAlter(me).filter((d) => !d.mayAlter);
  if (!denied.length) return [];
  const fixes = denied.map((d) => `ALTER DATABASE ${sqlName(d.name)} OWNER TO ${who}; (or GRANT ${sqlName(d.owner)} TO ${who};)`).join(' ');
  const system =
    me.num >= 150000
      ? ` Or, as a superuser, GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO ${who}; (the fence then sets the whole server read-only).`
      : '';
  return [
    fail(
      `${head} may not ALTER SYSTEM SET default_transaction_read_only, so the fence goes by database, and it may not alter ${denied.map((d) => `database ${d.name} (owner "${d.owner}")`).join(', ')}: only the owner or a member of it may ALTER DATABASE ... SET. Fix: ${fixes}${system}`,
    ),
  ];
}

/** A role setting that turns read-only off wins over a database's: the fence by database refuses while one exists. */
async function escapeVerdicts(src: PgClient, head: string): Promise<Verdict[]> {
  const esc = await escapingRoles(src);
  if (!esc.length) return [];
  const named = esc.map((e) => `"${e.role}"${e.db ? ` in database ${e.db}` : ''} (default_transaction_read_only = ${e.value})`).join(', ');
  return [
    fail(
      `${head} fences by database, and role setting(s) of ${named} win over a database's: its new sessions would take writes. Fix: ${esc.map(resetEscape).join(' ')}`,
    ),
  ];
}

/** Up to 15, only a superuser may alter a replication role; from 16 on CREATEROLE with ADMIN OPTION may. */
const blockable = (me: Fencer, r: AppRole) => !r.super && (!r.repl || me.num >= 160000);

/** NOLOGIN on each application role, then its sessions ended. */
function roleVerdicts(me: Fencer, roles: AppRole[], head: string): Verdict[] {
  const out: Verdict[] = [];
  const who = sqlName(me.who);
  const supers = roles.filter((r) => r.super);
  const repl = roles.filter((r) => !r.super && r.repl && !blockable(me, r));
  const blocked = roles.filter((r) => blockable(me, r));
  const keeps = 'they keep LOGIN (their new sessions still start read-only, their open ones are ended)';
  if (blocked.length && !me.createrole)
    out.push(
      warn(
        `${head} lacks CREATEROLE, which making ${listed(blocked)} NOLOGIN needs: ${keeps}. To block them too, as a superuser: ALTER ROLE ${who} CREATEROLE;`,
      ),
    );
  const noAdmin = me.num >= 160000 ? blocked.filter((r) => !r.admin) : [];
  if (noAdmin.length)
    out.push(
      warn(
        `${head} has no ADMIN OPTION on ${listed(noAdmin)}, which PostgreSQL 16 and later require (with CREATEROLE) to make a role NOLOGIN: ${keeps}. To block them too, as a superuser: GRANT ${noAdmin.map((r) => sqlName(r.name)).join(', ')} TO ${who} WITH ADMIN OPTION;`,
      ),
    );
  const unsignalled = me.signal ? [] : roles.filter((r) => !r.super && !r.usage);
  if (unsignalled.length)
    out.push(
      fail(
        `${head} may not end the sessions of ${listed(unsignalled)} (the fence terminates every other client session; pg_terminate_backend then fails). Fix, as a superuser: GRANT pg_signal_backend TO ${who};`,
      ),
    );
  if (!me.stats)
    out.push(
      fail(
        `${head} cannot see other roles' sessions in pg_stat_activity (pg_read_all_stats): the fence could neither end them nor prove them gone. Fix: GRANT pg_read_all_stats TO ${who}; (or pg_monitor)`,
      ),
    );
  const open = (rs: AppRole[]) => rs.filter((r) => r.sessions > 0).map((r) => `"${r.name}" ${r.sessions}`);
  if (supers.length)
    out.push(
      warn(
        `${head} can neither make superuser role(s) ${listed(supers)} NOLOGIN nor end their sessions: they keep LOGIN (their new sessions start read-only, but may SET it off), and a session of theirs open at cutover makes it fail and give the writes back${open(supers).length ? ` (open now: ${open(supers).join(', ')})` : ''}. Keep them away from the source during cutover.`,
      ),
    );
  if (repl.length)
    out.push(
      warn(
        `${head} cannot make replication role(s) ${listed(repl)} NOLOGIN (before PostgreSQL 16 only a superuser may alter them): they keep LOGIN; their new sessions start read-only, but may SET it off.`,
      ),
    );
  return out;
}

export const readOnlyFencePrivileges: CheckUnit<PgCheckContext> = {
  id: 'read-only-fence-privileges',
  title: 'source role can fence read-only',
  scopes: ['preflight', 'cutover'],
  async run(c): Promise<Verdict | Verdict[]> {
    if (!(await readOnlyAhead(c))) return [];
    const src = await c.s.source();
    const me = await fencer(src);
    const input = c.s.sourceEndpoint.input;
    if (me.super) return ok(`"${me.who}" (${input}) is a superuser: it can do all the read-only fence does`);
    const roles = await appRoles(src, await kept(c, src, me));
    const head = `fence read-only: role "${me.who}" (${input})`;
    const blocked = roles.filter((r) => blockable(me, r));
    const out = [...(await settingVerdicts(src, me, head, blocked.length > 0)), ...roleVerdicts(me, roles, head)];
    if (out.some((v) => v.status === 'fail')) return out;
    const nologin = blocked.filter((r) => me.mark && me.createrole && (me.num < 160000 || r.admin));
    const how = me.alterSystem
      ? 'may set the server read-only (ALTER SYSTEM, pg_reload_conf)'
      : `fence by database: ALTER DATABASE ... SET default_transaction_read_only on ${dbList(me)} (no ALTER SYSTEM)`;
    const done = `"${me.who}" (${input}, no superuser) ${how}, make ${listed(nologin) || 'no role'} NOLOGIN and end their sessions`;
    return [ok(done), ...out];
  },
};
