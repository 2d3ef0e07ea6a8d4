/**
 * How seed-replica copies a PostgreSQL source: `physical` (pg_basebackup, same major only) or
 * `logical` (schema dump + a subscription, across majors, from sources that serve no physical copy).
 * Later steps never read the `method` input: they tell a logical migration from the target itself
 * (isLogicalTarget: zdm's subscription exists there), so that a re-run or another job agrees.
 */
import { skip, type CheckUnit } from '../../../checks/check.js';
import { UserError } from '../../../errors.js';
import { connectPg, one, rows } from '../connect.js';
import { replicationAddress } from '../seed.js';
import type { PgSession } from '../session.js';
import { addressUrl } from '../tls.js';

export interface PgMethod {
  method: 'physical' | 'logical';
  /** Why, printed with the choice. */
  reason: string;
}

const CHOSEN = new WeakMap<PgSession, Promise<PgMethod>>();

/** The method for this session, resolved once (the input, or `auto`'s choice) and printed with its reason. */
export function pgMethod(s: PgSession): Promise<PgMethod> {
  let m = CHOSEN.get(s);
  if (!m) {
    m = resolveMethod(s).then((r) => {
      s.ctx.log.info(`method: ${r.method} (${r.reason})`);
      return r;
    });
    CHOSEN.set(s, m);
  }
  return m;
}

async function major(c: Awaited<ReturnType<PgSession['source']>>): Promise<number> {
  const { num } = await one<{ num: string }>(c, "SELECT current_setting('server_version_num') AS num");
  return Math.floor(Number(num) / 10000);
}

async function resolveMethod(s: PgSession): Promise<PgMethod> {
  const given = s.inputs.method;
  if (given === 'physical') return { method: 'physical', reason: 'method: physical was given' };
  if (given === 'logical') return { method: 'logical', reason: `method: logical was given${await leftBehind(s)}` };
  const [sm, tm] = await Promise.all([s.source().then(major), s.target().then(major)]);
  if (sm !== tm)
    return { method: 'logical', reason: `auto: the majors differ (source ${sm}, target ${tm}); a physical copy needs the same major${await leftBehind(s)}` };
  const cannot = await physicalRefused(s);
  if (cannot) throw await wouldNarrow(s, cannot);
  return { method: 'physical', reason: `auto: same major (${sm}) and the source serves a physical copy (pg_basebackup, the faster seed)` };
}

/**
 * Why the source cannot serve a physical copy, as far as can be told without superuser: the
 * replication role lacks REPLICATION, or a physical replication connection (the pg_hba
 * `replication` line, which a logical connection does not use) is refused. undefined: it can, or
 * logical is not set up there either (the physical checks then say what to fix).
 */
async function physicalRefused(s: PgSession): Promise<string | undefined> {
  const user = s.inputs.replicationUser;
  const src = await s.source();
  // Only where logical replication is set up (wal_level = logical) is it the way out; elsewhere the
  // physical checks say what to fix (a role to grant REPLICATION, a pg_hba line), as before.
  const { level } = await one<{ level: string }>(src, "SELECT current_setting('wal_level') AS level");
  if (level !== 'logical' || !user) return undefined;
  const role = await rows<{ ok: boolean }>(src, 'SELECT (rolreplication OR rolsuper) AND rolcanlogin AS ok FROM pg_roles WHERE rolname = $1', [user]);
  // A role that does not exist is a mistake in the inputs, not a source that refuses.
  if (role[0] && !role[0].ok) return `role "${user}" has no REPLICATION attribute (or no LOGIN) on the source`;
  const addr = replicationAddress(s);
  const url = addressUrl(addr, s.sourceEndpoint.given);
  try {
    const rc = await connectPg(url, { input: 'replication-user', user, password: s.inputs.replicationPassword, replication: true, timeoutMs: 5000 });
    await rc.end().catch(() => undefined);
    return undefined;
  } catch (e) {
    const code = ((e as Error).cause as { code?: string } | undefined)?.code;
    // Only a refusal by pg_hba says physical is impossible; any other failure is left to the checks.
    return code === '28000' ? `no physical replication line in the source's pg_hba.conf for "${user}" from here` : undefined;
  }
}

/** The source database a logical migration moves: source-url's path. */
function movedDatabase(s: PgSession): string {
  return decodeURIComponent(s.sourceEndpoint.connectUrl.pathname.replace(/^\//, '')) || 'postgres';
}

/** The source's other databases, which a logical migration of one database leaves behind. */
async function otherDatabases(s: PgSession): Promise<string[]> {
  const r = await rows<{ datname: string }>(
    await s.source(),
    'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> $1 ORDER BY datname',
    [movedDatabase(s)],
  );
  return r.map((x) => x.datname);
}

/** "; moves database app only: postgres, other stay behind (one run per database moves them)", for the method's reason. */
async function leftBehind(s: PgSession): Promise<string> {
  const others = await otherDatabases(s);
  return others.length ? `; moves database "${movedDatabase(s)}" only: ${others.join(', ')} stay behind (migrate each the same way, one run per database)` : '';
}

/**
 * `auto` never narrows what is migrated: a physical copy moves the whole cluster, a logical one only
 * the database in the URL. When only logical is possible on the same major, the user chooses it.
 */
async function wouldNarrow(s: PgSession, cannot: string): Promise<UserError> {
  const db = movedDatabase(s);
  const behind = await otherDatabases(s);
  const fix = cannot.includes('pg_hba')
    ? `add a line such as \`host replication ${s.inputs.replicationUser} <target-address>/32 scram-sha-256\` to the source's pg_hba.conf and reload it`
    : `ALTER ROLE ${s.inputs.replicationUser} WITH LOGIN REPLICATION on the source`;
  return new UserError(
    `method: auto refuses to narrow the migration: the source cannot serve a physical copy (${cancel(cannot)}), and a logical migration moves only database "${db}" (the path of source-url), not the whole cluster. ` +
      (behind.length ? `These databases would stay behind: ${behind.join(', ')}. ` : 'The source has no other database. ') +
      `To move the whole cluster, ${fix}. To move only "${db}", set method: logical (and migrate each other database the same way, one run each). Nothing was changed.`,
  );
}

const cancel = (s: string) => s.replace(/\.$/, '');

/** The one name of zdm's publication, subscription and logical slot: the replication-slot input (default zdm_replica). */
export function logicalName(s: PgSession): string {
  return s.inputs.replicationSlot;
}

/** zdm's subscription on the target, when there is one: the mark of a logical migration in progress. */
export async function subscription(s: PgSession): Promise<{ oid: number; enabled: boolean } | undefined> {
  const r = await rows<{ oid: number; enabled: boolean }>(
    await s.target(),
    'SELECT oid::int AS oid, subenabled AS enabled FROM pg_subscription WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
    [logicalName(s)],
  );
  return r[0];
}

/** The target replicates logically from the source (zdm's subscription exists on it). */
export async function isLogicalTarget(s: PgSession): Promise<boolean> {
  return (await subscription(s)) !== undefined;
}

/** Checks that only a physical copy needs: skipped, with the reason, when the method is logical. */
const PHYSICAL_ONLY = new Set([
  'same-major-version',
  // The logical seed's subscription role is checked by the logical checks (source-url's role, or replication-user).
  'replication-role',
  'target-data-dir',
  'target-not-replica',
  'target-empty',
  'target-credentials',
  'replication-connection',
  'standby-settings',
  'disk-space',
  'target-data-dir-writable',
  'pg-basebackup',
]);

/** The physical registry with its physical-only units skipped under the logical method. */
export function forMethod(s: PgSession, units: CheckUnit[]): CheckUnit[] {
  return units.map((u) =>
    PHYSICAL_ONLY.has(u.id) ? { ...u, run: async () => ((await pgMethod(s)).method === 'logical' ? skip('not needed by a logical seed') : u.run()) } : u,
  );
}
