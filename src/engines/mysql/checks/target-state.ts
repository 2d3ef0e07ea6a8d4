/** What the copy replaces on the target: a running replica, databases, and the accounts target-url logs in with. */
import { ok, skip, verdict, type CheckUnit } from '../../../checks/check.js';
import { PROMOTED_HINT } from '../../data-dir.js';
import { connectMy, rows } from '../connect.js';
import type { MyCheckContext } from './context.js';
import { seedMethod } from '../method.js';

const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'];

export const notAlreadyReplica: CheckUnit<MyCheckContext> = {
  id: 'target-not-replica',
  title: 'target not already a replica',
  scopes: ['seed'],
  async run(c) {
    const { tf } = await c.facts();
    const st = await c.replicaStatus();
    const col = tf.flavor.columns;
    const running = Boolean(st && st[col.ioRunning] === 'Yes' && st[col.sqlRunning] === 'Yes');
    const reseed = c.s.inputs.reseed;
    return verdict(
      !running || reseed,
      running
        ? reseed
          ? 'reseed: true: the running replica is replaced by a new copy'
          : 'the target is already a running replica: nothing to seed. Run await-lag-zero to continue from where it is, or set reseed: true if you mean to copy the source again.'
        : 'not replicating',
    );
  },
};

export const holdsNoDatabases: CheckUnit<MyCheckContext> = {
  id: 'target-empty',
  title: 'target holds no databases',
  scopes: ['seed'],
  async run(c) {
    if (await c.replicaStatus()) return skip('configured as a replica: its databases are a copy of a source');
    const dbs = (await rows<{ Database: string }>(await c.s.target(), 'SHOW DATABASES')).map((d) => d.Database).filter((d) => !SYSTEM_SCHEMAS.includes(d));
    if (dbs.length === 0) return ok('only the system schemas');
    if (c.s.inputs.reseed) return ok(`reseed: true: database(s) ${dbs.join(', ')} are replaced by the copy`);
    return verdict(false, `the target holds database(s) ${dbs.join(', ')}; seeding replaces its whole data directory. ${PROMOTED_HINT}`);
  },
};

/** The copy brings the source's accounts: target-url must log in with them afterwards. */
export const credentialsAfterCopy: CheckUnit<MyCheckContext> = {
  id: 'target-credentials',
  title: 'target-url credentials after the copy',
  scopes: ['seed'],
  async run(c) {
    if ((await seedMethod(c.s)).method === 'logical') return skip("method: logical keeps the target's own accounts");
    const tu = c.s.targetEndpoint.given;
    const asTargetUser = new URL(c.s.sourceEndpoint.connectUrl.href);
    asTargetUser.username = tu.username;
    asTargetUser.password = tu.password;
    try {
      const conn = await connectMy(asTargetUser, { input: 'target-url' });
      await conn.end().catch(() => undefined);
      return ok(`"${decodeURIComponent(tu.username)}" exists on the source too`);
    } catch (e) {
      return verdict(
        false,
        `the copy replaces the target's accounts with the source's, so target-url's user and password must also be valid on the source; logging in to the source with them failed (${(e as Error).message}). Create that account on the source with the same password, or use the source's credentials in target-url.`,
      );
    }
  },
};
