/**
 * Lag and state of a logical replica: the source's current WAL position against what the
 * subscription has confirmed (the slot's confirmed_flush_lsn: applied and flushed on the target),
 * plus the heartbeat row's age on the target, as for a physical standby.
 */
import type { LagSample, MigrationState } from '../../engine.js';
import { one, quoteQualified, rows } from '../connect.js';
import { lsnDiff, parseLsn } from '../lsn.js';
import type { PgSession } from '../session.js';
import { logicalName } from './method.js';

interface SourceSide {
  lsn: string;
  now: Date;
  confirmed: string | null;
  active: boolean | null;
  wal_status: string | null;
}

interface TargetSide {
  enabled: boolean;
  pid: number | null;
  received: string | null;
  latest_end: string | null;
  last_msg: Date | null;
}

export async function measureLogicalLag(s: PgSession): Promise<LagSample> {
  const at = Date.now();
  const name = logicalName(s);
  const [so, to] = await Promise.all([
    s.source().then((c) =>
      one<SourceSide & Record<string, unknown>>(
        c,
        `SELECT pg_current_wal_lsn()::text AS lsn, clock_timestamp() AS now,
                (SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1) AS confirmed,
                (SELECT active FROM pg_replication_slots WHERE slot_name = $1) AS active,
                (SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1) AS wal_status`,
        [name],
      ),
    ),
    s.target().then((c) =>
      rows<TargetSide & Record<string, unknown>>(
        c,
        // The apply worker is the row without relid; table-sync workers have one.
        `SELECT s.subenabled AS enabled, ss.pid, ss.received_lsn::text AS received, ss.latest_end_lsn::text AS latest_end, ss.last_msg_receipt_time AS last_msg
           FROM pg_subscription s LEFT JOIN pg_stat_subscription ss ON ss.subid = s.oid AND ss.relid IS NULL WHERE s.subname = $1`,
        [name],
      ),
    ),
  ]);
  const t = to[0];
  if (!t)
    return {
      at,
      bytes: 0,
      seconds: undefined,
      streaming: false,
      detail: `no subscription ${name} on ${s.names.target}`,
      fatal: `${s.names.target} has no subscription ${name} (it was dropped by a cutover, or never created): run seed-replica first`,
    };
  let seconds: number | undefined;
  const hb = await rows<{ ts: Date }>(await s.target(), `SELECT ts FROM ${quoteQualified(s.inputs.heartbeatTable)} WHERE id = 1`).catch(() => []);
  if (hb[0]) seconds = Math.max(0, (so.now.getTime() - hb[0].ts.getTime()) / 1000);
  const bytes = so.confirmed ? lsnDiff(so.lsn, so.confirmed) : Number.MAX_SAFE_INTEGER;
  const streaming = t.enabled && t.pid !== null && Boolean(so.active);
  const detail = [
    `source at ${so.lsn}`,
    `slot ${name} confirmed ${so.confirmed ?? 'nothing'} (${so.active ? 'active' : 'inactive'})`,
    `subscription ${t.enabled ? 'enabled' : 'DISABLED'}, apply worker ${t.pid ? `pid ${t.pid}` : 'not running'}, received ${t.received ?? 'nothing'}`,
  ].join('; ');
  const fatal =
    so.confirmed === null
      ? `replication slot ${name} is missing on ${s.names.source}: ${s.names.target} cannot catch up and must be seeded again`
      : so.wal_status === 'lost'
        ? `replication slot ${name} has lost WAL ${s.names.target} still needs (wal_status = lost): ${s.names.target} must be seeded again`
        : !t.enabled
          ? `subscription ${name} is disabled on ${s.names.target} (by hand, or disable_on_error after an apply error: see its server log). Fix the cause, then ALTER SUBSCRIPTION ${name} ENABLE and run this step again`
          : undefined;
  const positions =
    so.confirmed && t.received
      ? { source: Number(parseLsn(so.lsn)), received: Number(parseLsn(t.received)), applied: Number(parseLsn(so.confirmed)) }
      : undefined;
  return { at, bytes, seconds, streaming, detail, fatal, positions };
}

/** The target as MigrationState sees it while zdm's subscription exists: a replica, streaming or not. */
export async function logicalTargetState(s: PgSession): Promise<{ target: MigrationState['target']; detail: string } | undefined> {
  const r = await rows<{ enabled: boolean; pid: number | null }>(
    await s.target(),
    `SELECT s.subenabled AS enabled, ss.pid FROM pg_subscription s LEFT JOIN pg_stat_subscription ss ON ss.subid = s.oid AND ss.relid IS NULL
      WHERE s.subname = $1 AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [logicalName(s)],
  );
  if (!r[0]) return undefined;
  const streaming = r[0].enabled && r[0].pid !== null;
  return {
    target: streaming ? 'streaming-replica' : 'broken-replica',
    detail: `target is a logical replica (subscription ${logicalName(s)} ${r[0].enabled ? 'enabled' : 'disabled'}, apply worker ${r[0].pid ? 'running' : 'not running'})`,
  };
}
