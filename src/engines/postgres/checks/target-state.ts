/** What the copy replaces on the target: a working standby, databases, and the roles target-url logs in with. */
import { ok, skip, verdict, type CheckUnit } from '../../../checks/check.js';
import { PROMOTED_HINT } from '../../data-dir.js';
import { connectPg, one, rows } from '../connect.js';
import type { PgCheckContext } from './context.js';

export const notAlreadyReplica: CheckUnit<PgCheckContext> = {
  id: 'target-not-replica',
  title: 'target not already a replica',
  scopes: ['seed'],
  async run(c) {
    const { tf } = await c.facts();
    const already = await c.alreadyReplica();
    const reseed = c.s.inputs.reseed;
    return verdict(
      !already || reseed,
      already
        ? reseed
          ? 'reseed: true: the working standby is replaced by a new copy'
          : 'the target is already streaming from this source: nothing to seed. Run await-lag-zero to continue from where it is, or set reseed: true if you mean to copy the source again.'
        : tf.inRecovery
          ? 'a standby that is not streaming: it will be replaced'
          : 'a primary',
    );
  },
};

export const holdsNoDatabases: CheckUnit<PgCheckContext> = {
  id: 'target-empty',
  title: 'target holds no databases',
  scopes: ['seed'],
  async run(c) {
    const { tf } = await c.facts();
    if (tf.inRecovery) return skip('a standby: its databases are the copy of a source');
    const dbs = await rows<{ datname: string }>(
      await c.s.target(),
      "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY 1",
    );
    const names = dbs.map((d) => d.datname).join(', ');
    if (dbs.length === 0) return ok('only the default databases');
    if (c.s.inputs.reseed) return ok(`reseed: true: database(s) ${names} are replaced by the copy`);
    return verdict(false, `the target holds database(s) ${names}; seeding replaces its whole data directory. ${PROMOTED_HINT}`);
  },
};

/** The copy brings the source's roles and passwords: target-url must log in with them afterwards. */
export const credentialsAfterCopy: CheckUnit<PgCheckContext> = {
  id: 'target-credentials',
  title: 'target-url credentials after the copy',
  scopes: ['seed'],
  async run(c) {
    const tu = c.s.targetEndpoint.given;
    const user = decodeURIComponent(tu.username);
    const asTargetUser = new URL(c.s.sourceEndpoint.connectUrl.href);
    asTargetUser.username = tu.username;
    asTargetUser.password = tu.password;
    let su: boolean;
    try {
      const conn = await connectPg(asTargetUser, { input: 'target-url', database: 'postgres' });
      su = (
        await one<{ su: boolean }>(conn, 'SELECT rolsuper AS su FROM pg_roles WHERE rolname = current_user').finally(() => conn.end().catch(() => undefined))
      ).su;
    } catch (e) {
      return verdict(
        false,
        `the copy replaces the target's roles with the source's, so target-url's user and password must also be valid on the source; logging in to the source with them failed (${(e as Error).message}). Create that user on the source with the same password, or use the source's superuser credentials in target-url.`,
      );
    }
    return verdict(
      su,
      su
        ? `"${user}" is a superuser on the source too`
        : `"${user}" is not a superuser on the source; after the copy the target has the source's roles, so zdm needs a superuser there. Use a superuser in target-url that exists on the source with the same password.`,
    );
  },
};
