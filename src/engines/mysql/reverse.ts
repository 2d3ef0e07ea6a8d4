/**
 * MySQL/MariaDB reverse replication: the old source, read_only since the fence, replicates from
 * the new primary from the GTID position of the fence, which both servers share. The new primary
 * feeds it from its own binlog (log_bin stays on through the migration for this).
 */
import { addressOf } from '../../hosts/endpoint.js';
import type { Fence, Reverse, ReverseReplication } from '../engine.js';
import type { MyFenceUndo } from './cutover.js';
import { waitFor } from '../wait.js';
import { InputError, SafetyError, UserError } from '../../errors.js';
import { connectMy, dataDirOf, one, rows, tlsStateOf, variables } from './connect.js';
import { myAddressUrl, replicationTls } from './tls.js';
import { ownPrivileges } from './privileges.js';
import type { MySession } from './session.js';
import { info, type Note } from '../../notes.js';

export interface ReversePlan {
  addr: { host: string; port: number };
}

/** host:port at which the old source reaches the new primary. */
export function targetReplicationAddress(s: MySession): { host: string; port: number } {
  const given = s.inputs.targetReplicationAddress;
  if (!given) return addressOf(s.targetEndpoint.given);
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(given);
  if (!m) throw new InputError('target-replication-address', `must be host:port (got ${JSON.stringify(given)})`);
  return { host: m[1], port: Number(m[2]) };
}

const on = (v: string | undefined) => v === 'ON' || v === '1';

export async function prepareReverse(s: MySession): Promise<ReversePlan> {
  const i = s.inputs;
  if (!i.replicationUser || !i.replicationPassword)
    throw new InputError(
      i.replicationUser ? 'replication-password' : 'replication-user',
      'is required with reverse-replication: the old source replicates from the new primary as replication-user (the copy brought that account there)',
    );
  const flavor = await s.flavor();
  const [tv, sv] = await Promise.all([
    variables(await s.target(), ['log_bin', 'gtid_mode', 'server_id']),
    variables(await s.source(), ['gtid_mode', 'server_id']),
  ]);
  if (!on(tv.log_bin))
    throw new UserError(
      'reverse-replication: the target has no binary log (log_bin OFF), so it cannot feed the old source after the switch. Enable log_bin on the target (a restart), or cutover without reverse-replication. Nothing was changed.',
    );
  if (flavor.name !== 'mariadb' && !(tv.gtid_mode === 'ON' && sv.gtid_mode === 'ON'))
    throw new UserError(
      `reverse-replication needs GTIDs on MySQL (gtid_mode is ${sv.gtid_mode} on the source, ${tv.gtid_mode} on the target): the old source continues from the exact GTID set of the fence. Nothing was changed.`,
    );
  const addr = targetReplicationAddress(s);
  const where = `${addr.host}:${addr.port}`;
  let privs: Set<string>;
  let serverId: string;
  try {
    const rc = await connectMy(myAddressUrl(addr, s.targetEndpoint.given), {
      input: 'replication-user/replication-password',
      user: i.replicationUser,
      password: i.replicationPassword,
    });
    try {
      privs = await ownPrivileges(rc);
      serverId = String((await one<{ id: unknown }>(rc, 'SELECT @@server_id AS id')).id);
    } finally {
      await rc.end().catch(() => undefined);
    }
  } catch (e) {
    throw new UserError(
      `reverse-replication: the old source would replicate from the new primary at ${where} as ${i.replicationUser}, and that login failed from here: ${(e as Error).message} (set target-replication-address if the old source reaches the new server elsewhere). Nothing was changed.`,
      { cause: e },
    );
  }
  if (!privs.has('REPLICATION SLAVE'))
    throw new UserError(`reverse-replication: "${i.replicationUser}" lacks REPLICATION SLAVE on the target. Nothing was changed.`);
  if (serverId !== tv.server_id)
    throw new UserError(
      `reverse-replication: ${where} is not the target (server_id ${serverId}, target-url's is ${tv.server_id}): check target-replication-address. Nothing was changed.`,
    );
  return { addr };
}

export async function startReverse(s: MySession, plan: ReversePlan, _f: Fence, finalPosition: string): Promise<ReverseReplication> {
  if (!finalPosition.startsWith('gtid:'))
    throw new UserError(`reverse replication needs a GTID position; the fence gave a binlog file and position (${finalPosition})`);
  const gtid = finalPosition.slice(5);
  const flavor = await s.flavor();
  const src = await s.source();
  const { g } = await one<{ g: string | null }>(src, `SELECT @@GLOBAL.${flavor.gtidExecutedVariable} AS g`);
  const now = String(g ?? '').replace(/\s+/g, '');
  if (now !== gtid)
    throw new SafetyError(
      `the old source has written transactions since the fence (its GTID position is ${now}, the new primary continued from ${gtid}): it diverged (an account with SUPER wrote past read_only?) and cannot follow the new primary. Reverse replication was not set up; rollback is impossible.`,
    );
  await src.query(flavor.stopReplica).catch(() => undefined);
  await src.query(flavor.resetReplicaAll).catch(() => undefined);
  const tls = await replicationTls(
    s.ctx.sourceHost,
    () => dataDirOf(src),
    s.targetEndpoint.given,
    s.targetEndpoint.input,
    Boolean(tlsStateOf(await s.target())?.encrypted),
  );
  for (const stmt of flavor.resumeFrom({ ...plan.addr, user: s.inputs.replicationUser, password: s.inputs.replicationPassword, gtid, tls }))
    await src.query(stmt);
  await src.query(flavor.startReplica);
  for (const stmt of flavor.readOnly(true)) await src.query(stmt);
  const c = flavor.columns;
  await waitFor(
    'both replication threads running on the old source',
    60_000,
    async () => {
      const st = (await rows(src, flavor.showReplicaStatus))[0];
      if (!st) return undefined;
      if (Number(st[c.lastIoErrno]) || Number(st[c.lastSqlErrno]))
        throw new SafetyError(`reverse replication did not start on the old source: ${st[c.lastIoError] || st[c.lastSqlError]}`);
      return st[c.ioRunning] === 'Yes' && st[c.sqlRunning] === 'Yes' ? true : undefined;
    },
    (e) => e instanceof SafetyError,
  );
  const from = `${plan.addr.host}:${plan.addr.port}`;
  return { from, position: finalPosition, notes: [info(`the old source replicates from the new primary at ${from} from GTID ${gtid}, and stays read_only`)] };
}

export async function teardownReverse(s: MySession): Promise<Note[]> {
  const flavor = await s.flavor();
  const src = await s.source();
  const st = (await rows(src, flavor.showReplicaStatus))[0];
  const v = await variables(src, ['read_only']);
  if (!st) {
    if (!on(v.read_only))
      throw new SafetyError(
        'the old source takes writes (read_only OFF) and replicates from nothing: a rollback may have run. finalize refuses; check which server the application writes to. Nothing was changed.',
      );
    return [info('the old source has no replication configured: nothing to tear down there')];
  }
  const tgt = await s.target();
  const tr = (await rows(tgt, flavor.showReplicaStatus))[0];
  if (tr) throw new SafetyError('the target is still a replica itself: finalize declares the migration to it final, so it refuses. Nothing was changed.');
  await src.query(flavor.stopReplica);
  await src.query(flavor.resetReplicaAll);
  for (const stmt of flavor.readOnly(true)) await src.query(stmt);
  return [
    info(
      'stopped replication on the old source and removed its replication settings and stored credentials (RESET REPLICA ALL); it stays read_only. Decommission it.',
    ),
  ];
}

/** Reverse replication: proven before the fence, started after promotion, torn down by finalize. */
export function myReverse(s: MySession): Reverse<MyFenceUndo, ReversePlan> {
  return {
    prepare: () => prepareReverse(s),
    start: (plan, f, finalPos) => startReverse(s, plan, f, finalPos),
    teardown: () => teardownReverse(s),
  };
}
