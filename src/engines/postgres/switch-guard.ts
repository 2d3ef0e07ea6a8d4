/**
 * What guards a PostgreSQL switch (cutover, rollback) besides the fence itself: the lock that keeps
 * two runs apart, the fence time a resumed run reports its window from, and writes past the fence.
 */
import * as os from 'node:os';
import type { Fence, SwitchLock, WritesAfterFence } from '../engine.js';
import { UserError, describeError } from '../../errors.js';
import { connectPg, one, quoteQualified, rows } from './connect.js';
import type { PgSession } from './session.js';

/** pg_try_advisory_lock key of zdm's switch lock ("zdm" in ASCII). */
const LOCK_KEY = 0x7a646d;

/** Heartbeat-table rows that keep a switch's fence start (the heartbeat itself is row 1). */
const FENCE_ROW = { cutover: 2, rollback: 3 } as const;

export async function lockSwitch(s: PgSession, step: 'cutover' | 'rollback'): Promise<SwitchLock> {
  // The holder's name says what and where, for the message a second run shows.
  const name = `zdm_lock ${step} ${os.hostname()} pid ${process.pid}`.slice(0, 63);
  const c = await connectPg(s.targetEndpoint.connectUrl, { input: s.targetEndpoint.input, side: 'target', applicationName: name });
  try {
    const { ok } = await one<{ ok: boolean }>(c, 'SELECT pg_try_advisory_lock($1::bigint) AS ok', [LOCK_KEY]);
    if (!ok) {
      const h = await rows<{ pid: number; app: string; addr: string | null; since: Date }>(
        c,
        "SELECT a.pid, a.application_name AS app, host(a.client_addr) AS addr, a.backend_start AS since FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid::bigint = $1 AND l.objsubid = 1",
        [LOCK_KEY],
      );
      const who = h[0]
        ? `"${h[0].app}" since ${h[0].since.toISOString()}, from host ${h[0].addr ?? 'local socket'} (pid ${h[0].pid} on ${s.names.target})`
        : 'a session that has just ended';
      throw new UserError(
        `another zdm cutover or rollback holds the switch lock on ${s.names.target}: ${who}. Nothing was changed. Let it finish and read its result; if no zdm step runs any more, end that session (SELECT pg_terminate_backend(pid)) and run ${step} again.`,
      );
    }
  } catch (e) {
    await c.end().catch(() => undefined);
    throw e;
  }
  return { release: () => c.end().catch(() => undefined) };
}

export async function recordFenceStart(s: PgSession, step: 'cutover' | 'rollback', at: number): Promise<void> {
  const table = quoteQualified(s.inputs.heartbeatTable);
  await (
    await s.source()
  ).query(`INSERT INTO ${table} (id, ts, seq) VALUES ($1, clock_timestamp(), $2) ON CONFLICT (id) DO UPDATE SET ts = EXCLUDED.ts, seq = EXCLUDED.seq`, [
    FENCE_ROW[step],
    at,
  ]);
}

export async function recordedFenceStart(s: PgSession, step: 'cutover' | 'rollback'): Promise<number | undefined> {
  const table = quoteQualified(s.inputs.heartbeatTable);
  const r = await rows<{ seq: string }>(await s.target(), `SELECT seq::text AS seq FROM ${table} WHERE id = $1`, [FENCE_ROW[step]]);
  return r[0] ? Number(r[0].seq) : undefined;
}

/**
 * The read-only fence's final position came with the source's next transaction id (Fence.audit):
 * any id assigned since is a transaction that wrote past the fence (a superuser session can SET
 * default_transaction_read_only off). After the shutdown fence the source is down.
 */
export async function writesAfterFence(s: PgSession, f: Fence, finalPosition: string): Promise<WritesAfterFence> {
  if (f.mode === 'shutdown')
    return {
      count: undefined,
      detail: `${s.names.oldSource} was stopped by the shutdown fence: nothing can be written there while it stays down (never start it as a primary again)`,
    };
  if (!f.audit) return { count: undefined, detail: `${s.names.source}'s transaction id at the fence was not read` };
  try {
    const src = await s.source();
    const r = await one<{ lsn: string; xid: string }>(
      src,
      'SELECT pg_current_wal_lsn()::text AS lsn, txid_snapshot_xmax(txid_current_snapshot())::text AS xid',
    );
    const count = Number(BigInt(r.xid) - BigInt(f.audit));
    if (count <= 0) return { count: 0, detail: `no transaction on ${s.names.oldSource} after the fence (WAL at ${r.lsn}, final position ${finalPosition})` };
    return {
      count,
      first: `xid ${f.audit}`,
      detail: `${count} transaction(s) were written on ${s.names.oldSource} after the fence (first: xid ${f.audit}; its WAL moved from ${finalPosition} to ${r.lsn}): a superuser session that turned read-only off, or autovacuum's ANALYZE. They are NOT on ${s.names.newPrimary}`,
    };
  } catch (e) {
    await s.forget('source');
    return { count: undefined, detail: `${s.names.oldSource} could not be checked for writes after the fence: ${describeError(e)}` };
  }
}
