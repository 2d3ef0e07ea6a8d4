/**
 * What guards a MySQL/MariaDB switch (cutover, rollback) besides the fence itself: the lock that
 * keeps two runs apart, the fence time a resumed run reports its window from, and writes past the
 * fence (accounts with SUPER / READ_ONLY ADMIN write past read_only once the read lock is gone).
 */
import type { Fence, SwitchLock, WritesAfterFence } from '../engine.js';
import { UserError, describeError } from '../../errors.js';
import { connectMy, one, rows } from './connect.js';
import { quoteName } from './flavor.js';
import type { MySession } from './session.js';

/** GET_LOCK name (64 characters at most; one lock per session is plenty, MySQL 5.7+ and MariaDB 10.0+ allow several). */
const LOCK_NAME = 'zdm.switch';

/** Heartbeat-table rows that keep a switch's fence start (the heartbeat itself is row 1). */
const FENCE_ROW = { cutover: 2, rollback: 3 } as const;

/** Writers the read lock held back commit the moment it is released: give them this long to show. */
const SETTLE_MS = 1000;

const qualified = (table: string) => table.split('.').map(quoteName).join('.');

export async function lockSwitch(s: MySession, step: 'cutover' | 'rollback'): Promise<SwitchLock> {
  const c = await connectMy(s.targetEndpoint.connectUrl, { input: s.targetEndpoint.input, side: 'target' });
  try {
    // Timeout 0: refuse at once. The lock goes with the session, however the step ends.
    const { ok } = await one<{ ok: unknown }>(c, 'SELECT GET_LOCK(?, 0) AS ok', [LOCK_NAME]);
    if (Number(ok) !== 1) {
      const h = await rows<{ ID: unknown; HOST: string; TIME: unknown }>(
        c,
        'SELECT ID, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK(?)',
        [LOCK_NAME],
      );
      // The lock session sends nothing after GET_LOCK: its idle time is the time since it took the lock.
      const who = h[0]
        ? `connection ${h[0].ID} since ${new Date(Date.now() - Number(h[0].TIME) * 1000).toISOString()}, from host ${h[0].HOST}`
        : 'a session that has just ended';
      throw new UserError(
        `another zdm cutover or rollback holds the switch lock on ${s.names.target} (${who}). Nothing was changed. Let it finish and read its result; if no zdm step runs any more, end that connection (KILL ${h[0]?.ID ?? '<id>'}) and run ${step} again.`,
      );
    }
  } catch (e) {
    await c.end().catch(() => undefined);
    throw e;
  }
  return { release: () => c.end().catch(() => undefined) };
}

export async function recordFenceStart(s: MySession, step: 'cutover' | 'rollback', at: number): Promise<void> {
  await (
    await s.source()
  ).query(
    `INSERT INTO ${qualified(s.inputs.heartbeatTable)} (id, ts, seq) VALUES (?, UTC_TIMESTAMP(6), ?) ON DUPLICATE KEY UPDATE ts = VALUES(ts), seq = VALUES(seq)`,
    [FENCE_ROW[step], at],
  );
}

export async function recordedFenceStart(s: MySession, step: 'cutover' | 'rollback'): Promise<number | undefined> {
  const r = await rows<{ seq: unknown }>(await s.target(), `SELECT seq FROM ${qualified(s.inputs.heartbeatTable)} WHERE id = ?`, [FENCE_ROW[step]]);
  return r[0] ? Number(r[0].seq) : undefined;
}

/** MariaDB GTID positions: domain -> [server_id, seq] of the last transaction. */
function parseMariadbGtids(text: string): Map<string, { server: string; seq: bigint }> {
  const m = new Map<string, { server: string; seq: bigint }>();
  for (const g of text.split(',').filter(Boolean)) {
    const [domain, server, seq] = g.trim().split('-');
    m.set(domain, { server, seq: BigInt(seq) });
  }
  return m;
}

/** Transactions in `now` beyond `final`, per domain: how many, and the first. */
export function mariadbGtidsAfter(final: string, now: string): { count: number; first?: string } {
  const before = parseMariadbGtids(final);
  let count = 0;
  let first: string | undefined;
  for (const [domain, cur] of parseMariadbGtids(now)) {
    const from = before.get(domain)?.seq ?? 0n;
    if (cur.seq <= from) continue;
    count += Number(cur.seq - from);
    first ??= `${domain}-${cur.server}-${from + 1n}`;
  }
  return { count, first };
}

/** MySQL GTID sets ("uuid:1-5:7,uuid2:3"): how many transactions, and the first. */
function countMysqlGtidSet(set: string): { count: number; first?: string } {
  let count = 0;
  let first: string | undefined;
  for (const part of set.replace(/\s+/g, '').split(',').filter(Boolean)) {
    const [uuid, ...ranges] = part.split(':');
    for (const r of ranges) {
      const [a, b] = r.split('-').map(Number);
      count += (b ?? a) - a + 1;
      first ??= `${uuid}:${a}`;
    }
  }
  return { count, first };
}

export async function writesAfterFence(s: MySession, f: Fence, finalPosition: string): Promise<WritesAfterFence> {
  if (!finalPosition.startsWith('gtid:'))
    return { count: undefined, detail: 'the final position is a binlog file position (no GTID): writes after the fence cannot be counted' };
  if (s.inputs.allowPrivilegedWriters) await new Promise((r) => setTimeout(r, SETTLE_MS));
  try {
    const flavor = await s.flavor();
    const src = await s.source();
    const { g } = await one<{ g: string | null }>(src, `SELECT @@GLOBAL.${flavor.gtidExecutedVariable} AS g`);
    const now = String(g ?? '').replace(/\s+/g, '');
    const final = finalPosition.slice(5);
    let found: { count: number; first?: string };
    if (flavor.name === 'mariadb') found = mariadbGtidsAfter(final, now);
    else found = countMysqlGtidSet(String((await one<{ d: string }>(src, 'SELECT GTID_SUBTRACT(?, ?) AS d', [now, final])).d ?? ''));
    if (found.count === 0)
      return { count: 0, detail: `no transaction on ${s.names.oldSource} after the fence (${flavor.gtidExecutedVariable} ${now || 'empty'})` };
    return {
      ...found,
      detail: `${found.count} transaction(s) were written on ${s.names.oldSource} after the fence (first GTID ${found.first}; ${flavor.gtidExecutedVariable} went from ${final} to ${now}), by ${f.mode === 'accounts' ? 'sessions of accounts the accounts fence left open' : 'sessions that write past read_only (SUPER / READ_ONLY ADMIN)'}. They are NOT on ${s.names.newPrimary}`,
    };
  } catch (e) {
    await s.forget('source');
    return { count: undefined, detail: `${s.names.oldSource} could not be checked for writes after the fence: ${describeError(e)}` };
  }
}
