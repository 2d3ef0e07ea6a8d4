/**
 * The source roles a logical migration uses, without superuser: the source-url role creates the
 * publication (CREATE on the database, and ownership of each table it lists: FOR ALL TABLES would
 * need superuser); the role the subscription logs in as (the source-url role when it has REPLICATION,
 * else replication-user, as the seed chooses) needs REPLICATION and SELECT on every published table
 * for the initial copy.
 */
import { fail, ok, type CheckUnit, type Verdict } from '../../../checks/check.js';
import { one, rows, type PgClient } from '../connect.js';
import { listNames, USER_TABLES } from '../logical/tables.js';
import type { PgCheckContext } from './context.js';
import { logicalOnly } from './logical-gate.js';
import { carried } from '../logical/selection.js';

type Who = {
  who: string;
  db: string;
  super: boolean;
  repl: boolean;
  can_create: boolean;
};

async function publisher(c: PgClient): Promise<Who> {
  return one<Who>(
    c,
    `SELECT current_user AS who, current_database() AS db, r.rolsuper AS super, r.rolreplication AS repl,
       has_database_privilege(current_database(), 'CREATE') AS can_create
     FROM pg_roles r WHERE r.rolname = current_user`,
  );
}

/**
 * Tables the publication lists (partitions come with their root) that the current role does not
 * own (nor inherit the owner's rights of), with their owners.
 */
async function notOwned(c: PgClient): Promise<{ t: string; owner: string }[]> {
  return rows(
    c,
    `SELECT n.nspname || '.' || c.relname AS t, pg_get_userbyid(c.relowner) AS owner ${USER_TABLES}
       AND c.relpersistence = 'p' AND NOT c.relispartition AND NOT pg_has_role(c.relowner, 'USAGE') ORDER BY 1`,
  );
}

export const publicationPrivileges: CheckUnit<PgCheckContext> = logicalOnly({
  id: 'logical-publication-privileges',
  title: 'source role can create the publication',
  scopes: ['seed'],
  async run(c) {
    const src = await c.s.source();
    const p = await publisher(src);
    const out: Verdict[] = [];
    if (!p.can_create)
      out.push(
        fail(
          `role "${p.who}" (source-url) has no CREATE privilege on database ${p.db}, which creating the publication needs. Fix: GRANT CREATE ON DATABASE ${p.db} TO ${p.who}.`,
        ),
      );
    const foreign = p.super ? [] : carried(c.s, await notOwned(src), (f) => f.t);
    if (foreign.length > 0) {
      const owners = [...new Set(foreign.map((f) => f.owner))];
      out.push(
        fail(
          `role "${p.who}" (source-url) does not own ${foreign.length} table(s) that the publication must list: ${listNames(foreign.map((f) => `${f.t} (owner ${f.owner})`))}. ` +
            `Adding a table to a publication needs its ownership. Fix: GRANT ${owners.join(', ')} TO ${p.who} (membership in the owning role is enough), or connect source-url as the owner.`,
        ),
      );
    }
    return out.length ? out : ok(`${p.who}${p.super ? ' (superuser)' : ''}: CREATE on ${p.db}, owns every published table`);
  },
});

export const streamingRole: CheckUnit<PgCheckContext> = logicalOnly({
  id: 'logical-streaming-role',
  title: 'source role the subscription logs in as',
  scopes: ['seed'],
  async run(c) {
    const src = await c.s.source();
    // As the seed chooses: source-url's role when it may replicate, else replication-user.
    const p = await publisher(src);
    const own = p.super || p.repl || !c.s.inputs.replicationUser;
    const name = own ? p.who : c.s.inputs.replicationUser;
    const input = own ? 'source-url' : 'replication-user';
    const role = (
      await rows<{ super: boolean; repl: boolean; login: boolean }>(
        src,
        'SELECT rolsuper AS super, rolreplication AS repl, rolcanlogin AS login FROM pg_roles WHERE rolname = $1',
        [name],
      )
    )[0];
    if (!role) return fail(`role "${name}" (${input}) does not exist on the source. Create it: CREATE ROLE ${name} WITH LOGIN REPLICATION PASSWORD '...'.`);
    const out: Verdict[] = [];
    if (!role.login || !(role.repl || role.super))
      out.push(
        fail(
          `role "${name}" (${input}) lacks ${[!role.login && 'LOGIN', !(role.repl || role.super) && 'the REPLICATION attribute'].filter(Boolean).join(' and ')}, which a subscription's connection needs (superuser is not needed). Fix: ALTER ROLE ${name} WITH LOGIN REPLICATION (managed services: GRANT rds_replication TO ${name} or the service's equivalent).`,
        ),
      );
    const unreadable = carried(
      c.s,
      await rows<{ t: string }>(
        src,
        `SELECT n.nspname || '.' || c.relname AS t ${USER_TABLES} AND c.relpersistence = 'p'
         AND NOT (has_schema_privilege($1, n.oid, 'USAGE') AND has_table_privilege($1, c.oid, 'SELECT')) ORDER BY 1`,
        [name],
      ),
      (r) => r.t,
    );
    if (unreadable.length > 0)
      out.push(
        fail(
          `role "${name}" (${input}) cannot read ${unreadable.length} table(s) the subscription copies: ${listNames(unreadable.map((r) => r.t))}. Fix: GRANT USAGE ON SCHEMA <schema> TO ${name}; GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO ${name}.`,
        ),
      );
    return out.length ? out : ok(`${name}: ${role.super ? 'superuser' : 'LOGIN REPLICATION'}, reads every published table`);
  },
});
