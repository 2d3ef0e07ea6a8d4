/** replication-user: a role that may stream, and a replication login that reaches the source itself. */
import { skip, verdict, type CheckUnit } from '../../../checks/check.js';
import { connectPg } from '../connect.js';
import { addressUrl } from '../tls.js';
import { replicationAddress } from '../seed.js';
import { roleUsable, type PgCheckContext } from './context.js';

export const replicationRole: CheckUnit<PgCheckContext> = {
  id: 'replication-role',
  title: 'replication role',
  scopes: ['seed'],
  async run(c) {
    const user = c.s.inputs.replicationUser;
    const role = await c.replicationRole();
    return verdict(
      roleUsable(role),
      roleUsable(role)
        ? user
        : !role
          ? `role "${user}" does not exist on the source. Create it: CREATE ROLE ${user} WITH LOGIN REPLICATION PASSWORD '...'.`
          : `role "${user}" lacks ${role.rolcanlogin ? 'the REPLICATION attribute' : 'LOGIN'}: ALTER ROLE ${user} WITH LOGIN REPLICATION.`,
    );
  },
};

export const replicationConnection: CheckUnit<PgCheckContext> = {
  id: 'replication-connection',
  title: 'replication connection',
  scopes: ['seed'],
  async run(c) {
    if (!roleUsable(await c.replicationRole())) return skip('not tried: the replication role cannot stream (see its row)');
    const { sf } = await c.facts();
    const user = c.s.inputs.replicationUser;
    const addr = replicationAddress(c.s);
    const url = addressUrl(addr, c.s.sourceEndpoint.given);
    let sysid: string;
    try {
      const rc = await connectPg(url, { input: 'replication-user/replication-password', user, password: c.s.inputs.replicationPassword, replication: true });
      const id = await rc.query('IDENTIFY_SYSTEM').finally(() => rc.end().catch(() => undefined));
      sysid = String(id.rows[0]?.systemid ?? '');
    } catch (e) {
      return verdict(false, (e as Error).message);
    }
    return verdict(
      sysid === sf.sysid,
      sysid === sf.sysid
        ? `${user}@${addr.host}:${addr.port}`
        : `the replication address ${addr.host}:${addr.port} reaches a different server (system identifier ${sysid}, source is ${sf.sysid}). Check source-replication-address.`,
    );
  },
};
