/**
 * Cutover of a logical replica, inside the read-only fence:
 * 1. the final position is the source's WAL insert position read after the fence (as for a
 *    physical standby with the read-only fence), with the transaction id that audits the fence;
 * 2. proof: the slot's confirmed_flush_lsn reaches it. The subscriber confirms a position only
 *    once the transactions before it are applied AND flushed on the target, so every write the
 *    source acknowledged before the fence is durable there;
 * 3. every sequence's value is copied (the stream carries no sequence changes);
 * 4. the subscription is dropped: the target is on its own and takes writes.
 * fence: shutdown is refused: a stopped source can neither confirm the final position to a
 * subscription (a logical walsender does not wait for its subscriber at shutdown) nor give its
 * sequences' values.
 */
import { markSwitch, type Fence } from '../../engine.js';
import { SafetyError, UserError, describeError } from '../../../errors.js';
import { info, warning, type Note } from '../../../notes.js';
import { one, quoteIdent, rows, type PgClient } from '../connect.js';
import { lsnDiff } from '../lsn.js';
import { finalPosition, type PgFenceUndo } from '../cutover.js';
import type { PgSession } from '../session.js';
import { liftGuard } from './guard.js';
import { forgetDdlGuard, refuseDdl } from './ddl-hooks.js';
import { isLogicalTarget, logicalName } from './method.js';
import { copySequences } from './sequences.js';
import { isReversed, liftOldSourceFence, reverseStartPoint, wantsReverse } from './reverse.js';
import { refreshMatviews, unpopulatedMatviews } from './matviews.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The fence of a logical migration, settled before anything is changed: `fence: auto` means
 * read-only here (and the whole session then reads it so), an explicit `fence: shutdown` is refused.
 * undefined when the target is no logical replica (the fence input stands as it is).
 */
export async function logicalFence(s: PgSession): Promise<'read-only' | undefined> {
  if (!(await isLogicalTarget(s))) return undefined;
  refuseShutdownFence(s);
  if (s.inputs.fence !== 'read-only') {
    s.settleFence('read-only');
    s.ctx.log.info(`fence: auto is read-only for a logical migration (${s.names.target} replicates through subscription ${logicalName(s)})`);
  }
  return 'read-only';
}

/** Refuses a shutdown fence the user chose for a logical replica, before anything is changed. */
function refuseShutdownFence(s: PgSession): void {
  if (s.inputs.fence === 'shutdown' && s.inputs.fenceGiven)
    throw new UserError(
      `fence: shutdown cannot end a logical migration (${s.names.target} replicates through subscription ${logicalName(s)}): a stopped source neither confirms its last position to a subscription nor gives its sequences' values. Set fence: read-only, or leave fence at auto, which means read-only here (the source stays up, read-only, its other roles NOLOGIN). Nothing was fenced.`,
    );
}

/**
 * The final position after the read-only fence. Then a non-transactional logical message (no
 * transaction id: the fence audit counts none) is written past it: even with no other traffic the
 * walsender has a record beyond the final position to decode and send, so the subscriber's
 * feedback carries confirmed_flush_lsn past it instead of waiting for a keepalive. Best effort:
 * without the privilege, keepalives (wal_sender_timeout / 2 at most) move it all the same.
 */
export async function logicalFinalPosition(s: PgSession, f: Fence<PgFenceUndo>): Promise<string> {
  const lsn = await finalPosition(s, f);
  const src = await s.source();
  await src.query("SELECT pg_logical_emit_message(false, 'zdm', 'cutover final position')").catch(() => undefined);
  return lsn;
}

/** Waits until the slot confirms `position`, then copies the sequences: both inside the fence, before promotion. */
export async function logicalWaitApplied(s: PgSession, position: string, timeoutMs: number): Promise<void> {
  const src = await s.source();
  // DDL stops the stream or is silently not replicated: checked first, so that the refusal names the change.
  await refuseDdl(s, src, await s.target());
  const name = logicalName(s);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await rows<{ confirmed: string | null; active: boolean }>(
      src,
      'SELECT confirmed_flush_lsn::text AS confirmed, active FROM pg_replication_slots WHERE slot_name = $1',
      [name],
    );
    const confirmed = r[0]?.confirmed;
    if (!confirmed) throw new SafetyError(`replication slot ${name} is missing on ${s.names.source}: cannot prove ${s.names.target} holds its last writes`);
    if (lsnDiff(position, confirmed) === 0) break;
    if (Date.now() > deadline)
      throw new SafetyError(
        `${s.names.target} did not confirm ${s.names.source}'s final position ${position} within ${timeoutMs} ms (slot ${name} confirmed ${confirmed}, ${lsnDiff(position, confirmed)} bytes behind, ${r[0].active ? 'active' : 'NOT active: the subscription is not connected'})`,
      );
    await sleep(5);
  }
  const tgt = await s.target();
  // rollback's target is the old source, which keeps cutover's read-only default: zdm's session acts past it.
  await tgt.query('SET default_transaction_read_only = off');
  const n = await copySequences(s, src, tgt);
  s.ctx.log.info(`${n} sequence value(s) copied to ${s.names.target} inside the fence`);
  // reverse-replication: the way back starts here, before the target takes any write.
  if (wantsReverse(s)) await reverseStartPoint(s);
}

/** The switch: the subscription dropped (the slot stays for the cleanup), the catch-up guard lifted. */
export async function logicalPromote(s: PgSession, f: Fence<PgFenceUndo>): Promise<void> {
  const tgt = await s.target();
  const sub = quoteIdent(logicalName(s));
  markSwitch(f, 'promote-request', `dropping subscription ${logicalName(s)}`);
  // Disabled and detached from its slot first: DROP SUBSCRIPTION then needs no connection to the source.
  await tgt.query(`ALTER SUBSCRIPTION ${sub} DISABLE`);
  await tgt.query(`ALTER SUBSCRIPTION ${sub} SET (slot_name = NONE)`);
  await tgt.query(`DROP SUBSCRIPTION ${sub}`);
  SWITCHED.add(s);
  const lifted = await liftGuard(tgt);
  // A session opened during catch-up keeps the read-only default it logged in with, for its whole
  // life: it is ended (it could not write anyway), so that the application reconnects able to write.
  await tgt.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = ANY($1)", [lifted]);
  // rollback: the old source, fenced read-only by cutover, takes writes again.
  const unfenced = isReversed(s) ? await liftOldSourceFence(s) : [];
  markSwitch(
    f,
    'recovery-end',
    isReversed(s)
      ? `subscription dropped; the read-only fence lifted on ${s.names.target} (${unfenced.length} role(s) given LOGIN back)`
      : `subscription dropped; ${lifted.length} role(s) may write on the target, their catch-up sessions ended`,
  );
  await dropPublication(s, f).catch(() => undefined);
}

/**
 * DROP PUBLICATION is a transaction on the fenced source, which the fence audit (transaction ids
 * past Fence.audit) would report as a write after the fence. When it took the very next id, the
 * audit moves past it; when sessions wrote in between, it stays (the report then counts this one
 * too: never fewer than the real writes). Best effort: the cleanup drops it otherwise.
 */
async function dropPublication(s: PgSession, f: Fence<PgFenceUndo>): Promise<void> {
  const src = await s.source();
  await src.query('BEGIN');
  try {
    const { xid } = await one<{ xid: string }>(src, 'SELECT txid_current()::text AS xid');
    await src.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(logicalName(s))}`);
    await src.query('COMMIT');
    if (f.audit === xid) f.audit = String(BigInt(xid) + 1n);
  } catch (e) {
    await src.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/**
 * After the switch: the slot and the publication go from the old source; the catch-up guard is
 * surely lifted (also on a re-run that found the switch done). Nothing to do after a physical
 * migration: no guard, no publication, a physical slot (left to the physical cleanup).
 */
export async function logicalCleanup(s: PgSession): Promise<{ notes: Note[]; logical: boolean }> {
  const notes: Note[] = [];
  const lifted = await liftGuard(await s.target());
  const guarded = await forgetDdlGuard(await s.target());
  if (lifted.length) notes.push(info(`lifted the catch-up read-only setting of ${lifted.join(', ')} on ${s.names.newPrimary}`));
  let logical = SWITCHED.has(s) || lifted.length > 0 || guarded;
  if (logical) notes.push(...(await (s.inputs.refreshMaterializedViews ? refreshMatviews : unpopulatedMatviews)(s, await s.target())));
  // A logical migration never ends with the shutdown fence: `shutdown` here (given, or `auto` on a re-run that
  // found no trace of a logical migration) stopped the source; an unreachable source is reported by the physical cleanup.
  if (s.inputs.fence === 'shutdown' && !logical) return { notes, logical };
  const name = logicalName(s);
  const src = await s.source().catch(() => undefined);
  if (!src) return { notes, logical };
  try {
    await src.query('SET default_transaction_read_only = off');
    const left = await rows(
      src,
      "SELECT 1 FROM pg_publication WHERE pubname = $1 UNION ALL SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'logical'",
      [name],
    );
    if (!left.length) return { notes, logical };
    logical = true;
    await waitInactive(src, name);
    const dropped = await rows(
      src,
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'logical' AND NOT active",
      [name],
    );
    if (dropped.length) notes.push(info(`dropped logical replication slot ${name} on ${s.names.oldSource}`));
    if ((await rows(src, 'SELECT 1 FROM pg_publication WHERE pubname = $1', [name])).length) {
      await src.query(`DROP PUBLICATION ${quoteIdent(name)}`);
      notes.push(info(`dropped publication ${name} on ${s.names.oldSource}`));
    }
  } catch (e) {
    notes.push(
      warning(
        `could not drop slot and publication ${name} on ${s.names.oldSource} (${describeError(e)}): drop them there (SELECT pg_drop_replication_slot('${name}'); DROP PUBLICATION ${name}), or the slot keeps WAL for ever`,
      ),
    );
  }
  return { notes, logical };
}

/** Sessions whose cutover switched a logical replica (logicalPromote ran). */
const SWITCHED = new WeakSet<PgSession>();

/**
 * What the physical cleanup reports of a new primary, for a logical one: settings that lose
 * acknowledged writes in a crash. The rest of it (standby settings by ALTER SYSTEM, a passfile in
 * the data directory) does not concern a target that never was a standby, and a managed one refuses ALTER SYSTEM.
 */
export async function durabilityNotes(s: PgSession): Promise<Note[]> {
  const d = await rows<{ name: string; setting: string }>(
    await s.target(),
    "SELECT name, setting FROM pg_settings WHERE (name = 'fsync' AND setting <> 'on') OR (name = 'synchronous_commit' AND setting = 'off') OR (name = 'full_page_writes' AND setting <> 'on')",
  );
  return d.map((x) =>
    warning(`${x.name} = ${x.setting} on ${s.names.newPrimary} (set in its own configuration, not by zdm): acknowledged writes can be lost in a crash`),
  );
}

/** The walsender of a disabled subscription ends within moments; the slot can be dropped only then. */
async function waitInactive(src: PgClient, name: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const r = await rows<{ active: boolean }>(src, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [name]);
    if (!r[0]?.active) return;
    await sleep(50);
  }
}
