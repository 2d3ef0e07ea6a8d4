/**
 * MySQL/MariaDB cutover. read_only alone does not stop accounts with SUPER or READ_ONLY ADMIN
 * (and MariaDB has no super_read_only), so the fence is FLUSH TABLES WITH READ LOCK held on a
 * session of its own until the target is promoted, plus read_only for what comes after. The final
 * position is read after the fence from that very session.
 */
import { FenceError, type Fence, type Switch } from '../engine.js';
import { SafetyError, UserError } from '../../errors.js';
import { connectMy, one, rows, variables } from './connect.js';
import type { MySession } from './session.js';
import { lockSwitch, recordedFenceStart, recordFenceStart, writesAfterFence } from './switch-guard.js';
import { info, warning, type Note } from '../../notes.js';
import { fenceAccounts, unfenceAccounts, unlockPromoted, type AccountFenceUndo } from './account-fence.js';

const LOCK_WAIT_SECONDS = 10;

/** The fence's undo data: the accounts `fence: accounts` locked; nothing for read-only (the read lock lives in the session's fence connection). */
export type MyFenceUndo = AccountFenceUndo | undefined;

/** A fence half way up travels with the error, so that the switch lifts it. */
function withFence(e: unknown, f: Fence<MyFenceUndo>): FenceError<MyFenceUndo> {
  return e instanceof FenceError ? e : new FenceError(f, e);
}

/** How long sessions found by privilegedWriters may take to go away before they count. */
const CLOSING_SESSION_GRACE_MS = 2000;

/**
 * Accounts connected to the source that could write past read_only. A session that is closing
 * (zdm's own heartbeat just stopped, a previous step's connections through an SSH tunnel whose
 * close has not reached the server yet) is seen for a few milliseconds more: only sessions still
 * there after a short grace count.
 */
async function privilegedWriters(s: MySession): Promise<string[]> {
  const deadline = Date.now() + CLOSING_SESSION_GRACE_MS;
  for (;;) {
    const found = await privilegedSessions(s);
    if (found.length === 0 || Date.now() >= deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function privilegedSessions(s: MySession): Promise<string[]> {
  const flavor = await s.flavor();
  if (flavor.bypassReadOnlyPrivileges.length === 0) return [];
  const src = await s.source();
  const sessions = await rows<{ USER: string; n: number }>(
    src,
    "SELECT USER, COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler', 'unauthenticated user') AND COMMAND NOT LIKE 'Binlog Dump%' GROUP BY USER",
  );
  if (sessions.length === 0) return [];
  const grantees = await rows<{ GRANTEE: string }>(
    src,
    `SELECT DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN (${flavor.bypassReadOnlyPrivileges.map(() => '?').join(',')})`,
    flavor.bypassReadOnlyPrivileges,
  );
  const privileged = new Set(grantees.map((g) => /^'(.*)'@'.*'$/.exec(g.GRANTEE)?.[1] ?? g.GRANTEE));
  return sessions.filter((x) => privileged.has(x.USER)).map((x) => `${x.USER} (${x.n} session${Number(x.n) === 1 ? '' : 's'})`);
}

/** `_resume`: nothing differs; FLUSH TABLES WITH READ LOCK and read_only are put up again whatever an interrupted cutover left. */
export async function fence(s: MySession, _resume = false): Promise<Fence<MyFenceUndo>> {
  if (s.inputs.fence === 'accounts') return fenceAccounts(s, _resume);
  const flavor = await s.flavor();
  const writers = s.inputs.allowPrivilegedWriters ? await privilegedSessions(s) : await privilegedWriters(s);
  if (writers.length > 0 && s.inputs.allowPrivilegedWriters) {
    s.ctx.log.warn(`allow-privileged-writers: sessions that can write past read_only are connected (${writers.join(', ')}); only the read lock stops them`);
  } else if (writers.length > 0) {
    throw new UserError(
      `sessions of accounts that can write past read_only are connected to ${s.names.source}: ${writers.join(', ')}. Disconnect them (give the application an account without SUPER / READ_ONLY ADMIN), or set allow-privileged-writers: true if you accept that only the read lock held during cutover stops them. Writes were not blocked.`,
    );
  }
  const conn = await connectMy(s.sourceEndpoint.connectUrl, { input: s.sourceEndpoint.input, trips: s.sourceEndpoint.trips, side: 'source' });
  s.fenceConn = conn;
  await conn.query(`SET SESSION lock_wait_timeout = ${LOCK_WAIT_SECONDS}`);
  const f: Fence<MyFenceUndo> = { mode: 'read-only', startedAt: Date.now(), undo: undefined };
  try {
    for (const stmt of flavor.readOnly(true)) await conn.query(stmt);
    await conn.query('FLUSH TABLES WITH READ LOCK');
  } catch (e) {
    const err = e as Error;
    if (/lock wait timeout/i.test(err.message)) {
      throw withFence(
        new SafetyError(`${s.names.source} did not grant the read lock within ${LOCK_WAIT_SECONDS} s (a long query or transaction holds tables)`, { cause: e }),
        f,
      );
    }
    throw withFence(e, f);
  }
  return f;
}

export async function finalPosition(s: MySession, f: Fence<MyFenceUndo>): Promise<string> {
  const flavor = await s.flavor();
  // The accounts fence holds no session of its own: any connection of the source-url account reads it.
  const conn = f.mode === 'accounts' ? await s.source() : s.fenceConn;
  if (!conn) throw withFence(new SafetyError('the fence session is gone: the read lock is not held'), f);
  const { g } = await one<{ g: string | null }>(conn, `SELECT @@GLOBAL.${flavor.gtidExecutedVariable} AS g`);
  const st = await one(conn, flavor.showBinlogStatus);
  const gtid = String(g ?? '').replace(/\s+/g, '');
  return gtid ? `gtid:${gtid}` : `${st.File}:${st.Position}`;
}

export async function waitApplied(s: MySession, position: string, timeoutMs: number): Promise<void> {
  const flavor = await s.flavor();
  const tgt = await s.target();
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  let r: unknown;
  if (position.startsWith('gtid:')) {
    const q = flavor.waitForGtid(position.slice(5), seconds);
    r = (await one<{ r: unknown }>(tgt, q.sql, q.params)).r;
    if (Number(r) === 0 && r !== null) return;
  } else {
    const at = position.lastIndexOf(':');
    const q = flavor.waitForPosition(position.slice(0, at), Number(position.slice(at + 1)), seconds);
    r = (await one<{ r: unknown }>(tgt, q.sql, q.params)).r;
    if (r !== null && Number(r) >= 0) return;
  }
  const st = (await rows(tgt, flavor.showReplicaStatus))[0];
  const c = flavor.columns;
  throw new SafetyError(
    `${s.names.target} did not apply ${s.names.source}'s final position ${position} within ${seconds} s (wait returned ${r}; IO thread ${st?.[c.ioRunning]}, SQL thread ${st?.[c.sqlRunning]}${st?.[c.lastSqlError] ? `, last SQL error: ${st[c.lastSqlError]}` : ''})`,
  );
}

export async function promote(s: MySession, _f: Fence<MyFenceUndo>): Promise<void> {
  const flavor = await s.flavor();
  const tgt = await s.target();
  await tgt.query(flavor.stopReplica);
  await tgt.query(flavor.resetReplicaAll);
  // Writable first: MySQL's super_read_only refuses ALTER USER … ACCOUNT UNLOCK too (the locked application cannot write meanwhile).
  for (const stmt of flavor.readOnly(false)) await tgt.query(stmt);
  if (isAccountFence(_f)) await unlockPromoted(s, _f);
}

const isAccountFence = (f: Fence<MyFenceUndo>): f is Fence<AccountFenceUndo> => f.mode === 'accounts' && f.undo !== undefined;

export async function unfence(s: MySession, _f: Fence<MyFenceUndo>): Promise<void> {
  if (isAccountFence(_f)) return unfenceAccounts(s, _f);
  const flavor = await s.flavor();
  const conn = s.fenceConn;
  s.fenceConn = undefined;
  if (conn) {
    await conn.query('UNLOCK TABLES').catch(() => undefined);
    await conn.end().catch(() => undefined);
  }
  await s.forget('source');
  const src = await s.source();
  for (const stmt of flavor.readOnly(false)) await src.query(stmt);
}

export async function cleanupAfterPromotion(s: MySession): Promise<Note[]> {
  const notes: Note[] = [];
  if (s.fenceConn) {
    await s.fenceConn.end().catch(() => undefined);
    s.fenceConn = undefined;
    const bypass = (await s.flavor()).bypassReadOnlyPrivileges;
    notes.push(
      info(
        bypass.length
          ? `released the read lock on ${s.names.oldSource}; it stays read_only (accounts with ${bypass.join(' / ')} could still write there: keep the application away from it)`
          : `released the read lock on ${s.names.oldSource}; it stays super_read_only (no account writes there, SUPER included)`,
      ),
    );
  }
  if (s.inputs.fence === 'accounts')
    notes.push(
      info(
        `the application accounts stay locked on ${s.names.oldSource} (fence: accounts): keep them locked while the application must not write there; ALTER USER … ACCOUNT UNLOCK gives them back`,
      ),
    );
  const v = await variables(await s.target(), ['innodb_flush_log_at_trx_commit', 'sync_binlog', 'read_only']);
  if (v.innodb_flush_log_at_trx_commit !== '1')
    notes.push(
      warning(`innodb_flush_log_at_trx_commit = ${v.innodb_flush_log_at_trx_commit} on ${s.names.newPrimary}: acknowledged writes can be lost in a crash`),
    );
  if (v.sync_binlog !== '1')
    notes.push(warning(`sync_binlog = ${v.sync_binlog} on ${s.names.newPrimary}: binlog events of acknowledged writes can be lost in a crash`));
  notes.push(info(`replication on ${s.names.newPrimary} was stopped and reset (RESET REPLICA ALL); its stored replication credentials are gone`));
  return notes;
}

/** The switch: the guards of switch-guard.ts around the fence, final position and promotion above. */
export function mySwitch(s: MySession): Switch<MyFenceUndo> {
  return {
    lockSwitch: (step) => lockSwitch(s, step),
    recordFenceStart: (step, at) => recordFenceStart(s, step, at),
    recordedFenceStart: (step) => recordedFenceStart(s, step),
    fence: (resume = false) => fence(s, resume),
    finalPosition: (f) => finalPosition(s, f),
    waitApplied: (position, timeoutMs) => waitApplied(s, position, timeoutMs),
    promote: (f) => promote(s, f),
    unfence: (f) => unfence(s, f),
    cleanupAfterPromotion: () => cleanupAfterPromotion(s),
    writesAfterFence: (f, finalPos) => writesAfterFence(s, f, finalPos),
    endpoint: () => {
      const u = s.targetEndpoint.given;
      return s.inputs.endpoint || `${u.hostname}:${u.port || 3306}`;
    },
    primaryCheckHint: () => 'SHOW REPLICA STATUS returns no row and SELECT @@read_only returns 0',
  };
}
