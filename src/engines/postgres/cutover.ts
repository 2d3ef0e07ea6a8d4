/**
 * PostgreSQL cutover: fence the source, prove the target holds its last WAL, promote.
 *
 * `shutdown` fence: a fast shutdown sends all WAL, the shutdown checkpoint last, to connected
 * standbys before the source exits; the proof is that record at the end of the target's WAL.
 * `read-only` fence: default_transaction_read_only is no barrier on its own (any session can SET
 * it off), so every other login role is also made NOLOGIN and every client session terminated.
 */
import { capitalized } from '../../hosts/endpoint.js';
import * as path from 'node:path';
import { FenceError, markSwitch, type Fence, type Switch } from '../engine.js';
import { SafetyError, UserError, describeError } from '../../errors.js';
import { info, warning, type Note } from '../../notes.js';
import { lastLines } from '../../hosts/host.js';
import type pg from 'pg';
import { connectPg, one, quoteIdent, quoteLiteral, rows, type PgClient } from './connect.js';
import { formatLsn, lsnDiff, parseLsn } from './lsn.js';
import { passfilePath } from './conninfo.js';
import { pgProgram } from './programs.js';
import type { PgSession } from './session.js';
import { lockSwitch, recordedFenceStart, recordFenceStart, writesAfterFence } from './switch-guard.js';
import { fenceDatabases, liftDatabaseFence, mayAlterSystem, refuseBlindFence, refuseEscapingRoles } from './db-fence.js';

/** The fence's undo data: the roles the read-only fence made NOLOGIN (none for the shutdown fence). */
export interface PgFenceUndo {
  roles: string[];
  /** Set when the read-only fence went by database (no ALTER SYSTEM): the databases it made read-only. */
  databases?: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Roles the read-only fence made NOLOGIN carry this role setting, so that a cutover re-run after a
 * crash (which lost the fence's in-memory undo list) still knows which roles to give LOGIN back.
 */
export const FENCED_MARK = 'zdm.fenced_by_cutover';

export async function fence(s: PgSession, resume = false): Promise<Fence<PgFenceUndo>> {
  return s.inputs.fence === 'shutdown' ? shutdownFence(s, resume) : readOnlyFence(s);
}

async function acceptsConnections(s: PgSession): Promise<boolean> {
  try {
    const c = await connectPg(s.sourceEndpoint.connectUrl, { input: s.sourceEndpoint.input, trips: s.sourceEndpoint.trips, side: 'source', timeoutMs: 2000 });
    await c.end().catch(() => undefined);
    return true;
  } catch {
    return false;
  }
}

async function shutdownFence(s: PgSession, resume: boolean): Promise<Fence<PgFenceUndo>> {
  const wal = await walFacts(s);
  await checkpointBeforeFence(s, true);
  await s.forget('source');
  // Over SSH the stop command's shell is started before the fence: inside it, one line starts it.
  const host = s.ctx.sourceHost;
  const stop = await host.prepareShell?.(s.inputs.sourceStopCommand, { timeoutMs: 120_000 });
  const startedAt = Date.now();
  const f: Fence<PgFenceUndo> = { mode: 'shutdown', startedAt, undo: { roles: [] } };
  // An interrupted cutover already stopped the source; the proof that the target holds its
  // shutdown checkpoint (finalPosition) still decides whether promotion is safe.
  if (resume && !(await acceptsConnections(s))) {
    stop?.cancel();
    PREPARED.set(f, { ...wal, refused: Promise.resolve() });
    return f;
  }
  const r = await (stop ? stop.run() : host.shell(s.inputs.sourceStopCommand, { timeoutMs: 120_000 }));
  markSwitch(f, 'stop-command', 'source-stop-command returned');
  if (r.code !== 0) {
    // The source may be half way down: treat it as fenced, so that cutover starts it again.
    throw withFence(new SafetyError(`${s.sourceEndpoint.side}-stop-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}`), f);
  }
  // The command returning is not proof: the source must refuse connections. That is checked while
  // the target receives the last WAL (finalPosition waits for both), not one after the other.
  const refused = refusesConnections(s, f);
  refused.catch(() => undefined);
  PREPARED.set(f, { ...wal, refused });
  return f;
}

async function refusesConnections(s: PgSession, f: Fence<PgFenceUndo>): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!(await acceptsConnections(s))) return markSwitch(f, 'source-down', `${capitalized(s.names.source)} refuses connections`);
    if (Date.now() > deadline)
      throw withFence(new SafetyError(`${s.sourceEndpoint.side}-stop-command returned but ${s.names.source} still accepts connections after 30 s`), f);
    await sleep(10);
  }
}

/**
 * Just before the fence, a checkpoint on the source (and a restartpoint on the target): the
 * shutdown checkpoint, which the fence waits for, then has little left to write and fsync, and so
 * has the checkpoint the target requests when promoted. Best effort: without the privilege
 * (superuser or pg_checkpoint) the switch is only slower.
 */
async function checkpointBeforeFence(s: PgSession, source: boolean): Promise<void> {
  const sides = source ? [s.source(), s.target()] : [s.target()];
  const failed = (await Promise.allSettled(sides.map(async (c) => (await c).query('CHECKPOINT')))).filter((r) => r.status === 'rejected');
  if (failed.length)
    s.ctx.log.info(`no checkpoint before the fence (${describeError((failed[0] as PromiseRejectedResult).reason)}): the switch may take longer`);
}

/** What the proof of a shutdown fence reads the target's WAL with: found before the fence, not inside it. */
interface WalFacts {
  dataDir: string;
  segBytes: bigint;
  waldump: string;
}
const PREPARED = new WeakMap<Fence, WalFacts & { refused: Promise<void> }>();

async function walFacts(s: PgSession): Promise<WalFacts> {
  const facts = await one<{ data_directory: string; seg: string; num: string }>(
    await s.target(),
    "SELECT current_setting('data_directory') AS data_directory, current_setting('wal_segment_size') AS seg, current_setting('server_version_num') AS num",
  );
  const waldump = await pgProgram(s, Math.floor(Number(facts.num) / 10000), 'pg_waldump');
  return { dataDir: facts.data_directory, segBytes: BigInt(parseSize(facts.seg)), waldump };
}

async function readOnlyFence(s: PgSession): Promise<Fence<PgFenceUndo>> {
  const src = await s.source();
  const me = await one<{ user: string; pid: number }>(src, 'SELECT current_user AS user, pg_backend_pid() AS pid');
  const others = await rows<{ n: number }>(
    src,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = $1 AND pid <> $2 AND application_name NOT LIKE 'zdm%'",
    [me.user, me.pid],
  );
  if (others[0].n > 0) {
    throw new UserError(
      `fence read-only cannot block role "${me.user}" (the role in ${s.sourceEndpoint.input}) while ${others[0].n} other session(s) use it: give zdm an admin role of its own, or use fence: shutdown. Writes were not blocked.`,
    );
  }
  await refuseBlindFence(s, src);
  const bySystem = await mayAlterSystem(src);
  if (!bySystem) await refuseEscapingRoles(s, src);
  // This session keeps acting after the fence: a session-level SET beats the reloaded default.
  await src.query('SET default_transaction_read_only = off');
  await checkpointBeforeFence(s, false);
  const startedAt = Date.now();
  const undo: PgFenceUndo = { roles: [] };
  const f: Fence<PgFenceUndo> = { mode: 'read-only', startedAt, undo };
  try {
    // Each statement here is a round trip inside the window: what can go together does (docs/wan.md).
    if (bySystem) {
      // ALTER SYSTEM may not share a query string (it refuses a transaction block).
      await src.query('ALTER SYSTEM SET default_transaction_read_only = on');
    } else {
      // Set first, so that an abort half way through the databases lifts by database, not by ALTER SYSTEM.
      undo.databases = [];
      undo.databases = await fenceDatabases(s, src);
    }
    // One round trip: the reload, the server's clock (after the databases' settings committed), the roles to block.
    const { roles, at } = await one<{ roles: string[]; at: string }>(
      src,
      `SELECT ${bySystem ? 'pg_reload_conf(), ' : ''}clock_timestamp()::text AS at, ARRAY(SELECT rolname::text FROM pg_roles WHERE rolcanlogin AND rolname <> $1 AND rolname NOT IN (${STREAMING_ROLES}) ORDER BY 1) AS roles`,
      [me.user, s.inputs.replicationSlot],
    );
    const kept = await blockLogins(src, roles);
    if (kept.length)
      s.ctx.log.warn(
        `fence read-only: the role in ${s.sourceEndpoint.input} may not block ${kept.map((r) => `"${r}"`).join(', ')} (a superuser, or a role it has no ADMIN OPTION on): they keep LOGIN. Their new sessions still start read-only (default_transaction_read_only), and a session of theirs left open stops the cutover.`,
      );
    const { left, fenced, lsn, xid } = await terminateSessions(src, undo.databases && { at, dbs: undo.databases });
    undo.roles.push(...fenced);
    FINAL.set(f, { lsn, xid });
    if (left.length > 0)
      throw new SafetyError(`sessions still open on ${s.names.source} after the fence: ${left.map((l) => `${l.usename} (pid ${l.pid})`).join(', ')}`);
  } catch (e) {
    throw withFence(e, f);
  }
  return f;
}

/** The roles streaming from slot $2: they keep LOGIN, so that a dropped replication connection can come back. */
const STREAMING_ROLES = 'SELECT r.usename FROM pg_stat_replication r JOIN pg_replication_slots sl ON sl.active_pid = r.pid WHERE sl.slot_name = $2';

/** The role the target streams with keeps LOGIN, so that a dropped replication connection can come back (checks/fence-privileges.ts asks the same). */
export async function streamingRoles(s: PgSession, src: PgClient): Promise<string[]> {
  const r = await rows<{ usename: string }>(src, STREAMING_ROLES.replace('$2', '$1'), [s.inputs.replicationSlot]);
  return r.map((x) => x.usename);
}

/** The final position the read-only fence read in the round trip that proved it (finalPosition returns it). */
const FINAL = new WeakMap<Fence, { lsn: string; xid: string }>();

/**
 * Ends every other client session and waits up to 5 s for them to be gone; returns those left.
 * pg_terminate_backend(pid) and a poll, not pg_terminate_backend(pid, timeout): that form only
 * exists from PostgreSQL 14 on, and a logical migration may start from 13.
 */
/**
 * NOLOGIN for each role, marked first so that a re-run after a crash finds it. A source role
 * without superuser (the logical method's, on a managed service) may not alter superusers, nor,
 * without SET on the mark, mark anyone: those roles are returned, unchanged.
 */
async function blockLogins(src: PgClient, roles: string[]): Promise<string[]> {
  const kept: string[] = [];
  const denied = (e: unknown) => (e as { code?: string }).code === '42501';
  // One query string is one implicit transaction: the mark and NOLOGIN of a role commit together or not at all.
  const block = (role: string) => `ALTER ROLE ${quoteIdent(role)} SET ${FENCED_MARK} = 'on'; ALTER ROLE ${quoteIdent(role)} NOLOGIN`;
  if (roles.length === 0) return kept;
  try {
    // Usually every role may be blocked: all of them in one round trip.
    await src.query(roles.map(block).join('; '));
    return kept;
  } catch (e) {
    if (!denied(e)) throw e;
  }
  // One was refused and nothing of that string committed: role by role, to know which.
  for (const role of roles) {
    try {
      await src.query(block(role));
    } catch (e) {
      if (!denied(e)) throw e;
      kept.push(role);
    }
  }
  return kept;
}

/**
 * In one round trip: ends every other client session, waits on the server up to 5 s for them to
 * be gone, and returns those left, the roles fenced (this run's and an interrupted one's) and the
 * final position read once none is left. pg_stat_activity is a snapshot per transaction:
 * pg_stat_clear_snapshot() makes each look fresh. Not pg_terminate_backend(pid, timeout): that
 * form only exists from PostgreSQL 14 on, and a logical migration may start from 13.
 */
async function terminateSessions(
  src: PgClient,
  fenced?: ReadOnlySince,
): Promise<{ left: { pid: number; usename: string }[]; fenced: string[]; lsn: string; xid: string }> {
  const others = "SELECT pid, usename FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";
  // By database: a session that started after the setting (an application reconnecting) started read-only, as after NOLOGIN none starts.
  const left$ = fenced
    ? `${others} AND NOT (backend_start > ${quoteLiteral(fenced.at)}::timestamptz AND datname = ANY(ARRAY[${fenced.dbs.map(quoteLiteral).join(', ') || "''"}]::text[]))`
    : others;
  // By database, logins go on: one that was still authenticating at the first round is ended in the loop.
  const again = fenced ? `PERFORM pg_terminate_backend(pid) FROM (${left$}) o;` : '';
  const sql = [
    `SELECT pg_terminate_backend(pid) FROM (${others}) o`,
    `DO $zdm$ DECLARE deadline timestamptz := clock_timestamp() + interval '5 s'; BEGIN LOOP PERFORM pg_stat_clear_snapshot(); EXIT WHEN NOT EXISTS (${left$}) OR clock_timestamp() > deadline; ${again} PERFORM pg_sleep(0.005); END LOOP; END $zdm$`,
    `SELECT pid, usename FROM (${left$}) l`,
    `SELECT DISTINCT r.rolname FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = 0 AND ${quoteLiteral(`${FENCED_MARK}=on`)} = ANY(s.setconfig) ORDER BY 1`,
    'SELECT pg_current_wal_insert_lsn()::text AS lsn, txid_snapshot_xmax(txid_current_snapshot())::text AS xid',
  ].join('; ');
  const r = (await src.query(sql)) as unknown as pg.QueryResult[];
  const pos = r[4].rows[0] as { lsn: string; xid: string };
  return {
    left: r[2].rows as { pid: number; usename: string }[],
    fenced: r[3].rows.map((x: { rolname: string }) => x.rolname),
    lsn: pos.lsn,
    xid: pos.xid,
  };
}

/** The fence by database's databases, and the server's clock once their setting is committed. */
interface ReadOnlySince {
  at: string;
  dbs: string[];
}

/** Roles a read-only fence made NOLOGIN, this cutover's or an interrupted one's. */
async function fencedRoles(c: PgClient): Promise<string[]> {
  const r = await rows<{ rolname: string }>(
    c,
    `SELECT DISTINCT r.rolname FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = 0 AND $1 = ANY(s.setconfig) ORDER BY 1`,
    [`${FENCED_MARK}=on`],
  );
  return r.map((x) => x.rolname);
}

/** Gives LOGIN back to the roles the fence blocked, and removes the mark. */
async function unblockRoles(c: PgClient, roles: string[]): Promise<void> {
  for (const role of new Set([...roles, ...(await fencedRoles(c))])) {
    await c.query(`ALTER ROLE ${quoteIdent(role)} LOGIN`);
    await c.query(`ALTER ROLE ${quoteIdent(role)} RESET ${FENCED_MARK}`);
  }
}

/**
 * Lifts a read-only fence a cutover left on the server behind `c` (rollback by logical
 * replication: the old source takes writes again). Returns the roles given LOGIN back.
 */
export async function liftReadOnlyFence(c: PgClient): Promise<string[]> {
  await c.query('SET default_transaction_read_only = off');
  // A role that may not ALTER SYSTEM fenced by database (or not at all).
  if (await mayAlterSystem(c)) {
    await c.query('ALTER SYSTEM RESET default_transaction_read_only');
    await c.query('SELECT pg_reload_conf()');
  }
  await liftDatabaseFence(c);
  const roles = await fencedRoles(c);
  await unblockRoles(c, roles);
  return roles;
}

/** A fence half way up travels with the error, so that the switch lifts it. */
function withFence(e: unknown, f: Fence<PgFenceUndo>): FenceError<PgFenceUndo> {
  return e instanceof FenceError ? e : new FenceError(f, e);
}

export async function finalPosition(s: PgSession, f: Fence<PgFenceUndo>): Promise<string> {
  const read = FINAL.get(f);
  if (f.mode === 'read-only' && read) {
    // Read in the fence's last round trip, once no other session was left.
    f.audit = read.xid;
    return read.lsn;
  }
  if (f.mode === 'read-only') {
    const { lsn, xid } = await one<{ lsn: string; xid: string }>(
      await s.source(),
      'SELECT pg_current_wal_insert_lsn()::text AS lsn, txid_snapshot_xmax(txid_current_snapshot())::text AS xid',
    );
    // Any transaction id assigned after this one was written past the fence (writesAfterFence).
    f.audit = xid;
    return lsn;
  }
  const [, lsn] = await Promise.all([PREPARED.get(f)?.refused, shutdownCheckpointOnTarget(s, f)]);
  return lsn;
}

/** After a shutdown fence: the end of the source's shutdown checkpoint record, found in the target's WAL. */
async function shutdownCheckpointOnTarget(s: PgSession, f: Fence): Promise<string> {
  const tgt = await s.target();
  // The receiver stops once the source has gone; its received position is then final.
  let received = '';
  let tli: number | undefined;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await one<{ receive: string | null; status: string | null; tli: number | null }>(
      tgt,
      'SELECT pg_last_wal_receive_lsn()::text AS receive, (SELECT status FROM pg_stat_wal_receiver) AS status, (SELECT received_tli FROM pg_stat_wal_receiver) AS tli',
    );
    if (r.tli) tli = Number(r.tli);
    if (r.receive && r.receive === received && r.status !== 'streaming') break;
    received = r.receive ?? '';
    if (Date.now() > deadline)
      throw new SafetyError(`${s.names.target}'s WAL receiver did not settle after ${s.names.source} stopped (status ${r.status}, received ${r.receive})`);
    await sleep(5);
  }
  markSwitch(f, 'wal-received', `${capitalized(s.names.target)}'s WAL receiver stopped at ${received}`);
  const { dataDir, segBytes, waldump } = PREPARED.get(f) ?? (await walFacts(s));
  const end = parseLsn(received);
  const segStart = ((end - 1n) / segBytes) * segBytes;
  const walDir = path.join(dataDir, 'pg_wal');
  // pg_waldump reads timeline 1 unless told: after a switch (a rollback, an earlier promotion) the
  // WAL of interest is on the timeline the target follows, and timeline 1 would end elsewhere.
  tli ??= await latestTimeline(s, walDir);
  // The last 64 kB first (pg_waldump finds the first record that starts after any position), then
  // the whole segment the record ends in, then the one before it when the record starts there.
  const near = end - NEAR_END > segStart ? end - NEAR_END : segStart;
  const starts = [...new Set([near, segStart, segStart >= segBytes ? segStart - segBytes : segStart])];
  for (const start of starts) {
    const r = await s.ctx.targetHost.run([waldump, '-t', String(tli), '-p', walDir, '-s', formatLsn(start), '-e', received]);
    // Only a run that read up to `received` proves anything about the record that ends there.
    if (r.code !== 0) continue;
    const records = r.stdout.split('\n').filter((l) => l.startsWith('rmgr:'));
    const last = records[records.length - 1];
    if (!last) continue;
    if (/CHECKPOINT_SHUTDOWN/.test(last)) return received;
    throw new SafetyError(
      `cannot prove ${s.names.target} holds all of ${s.names.source}'s WAL: the last record it received (${received}) is not ${s.names.source}'s shutdown checkpoint (${last.replace(/\s+/g, ' ').slice(0, 160)}). ${capitalized(s.names.source)} may not have shut down cleanly, or the connection broke first.`,
    );
  }
  throw new SafetyError(`cannot read ${s.names.target}'s WAL up to ${received} with pg_waldump to prove it holds ${s.names.source}'s shutdown checkpoint`);
}

/** How far before the end of the received WAL pg_waldump starts reading: a shutdown checkpoint record is ~120 bytes. */
const NEAR_END = 64n * 1024n;

/** The newest timeline whose history file the target holds (1 when none): the one a standby follows. */
async function latestTimeline(s: PgSession, walDir: string): Promise<number> {
  const r = await s.ctx.targetHost.run(['ls', walDir]);
  const tlis = [...r.stdout.matchAll(/^([0-9A-F]{8})\.history$/gm)].map((m) => parseInt(m[1], 16));
  return Math.max(1, ...tlis);
}

function parseSize(text: string): number {
  const m = /^(\d+)\s*(kB|MB|GB)?$/.exec(text.trim());
  if (!m) throw new Error(`unexpected size ${text}`);
  const mult = { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as 'kB' | 'MB' | 'GB'] ?? 1;
  return Number(m[1]) * mult;
}

export async function waitApplied(s: PgSession, position: string, timeoutMs: number): Promise<void> {
  const tgt = await s.target();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { replay } = await one<{ replay: string | null }>(tgt, 'SELECT pg_last_wal_replay_lsn()::text AS replay');
    if (replay && lsnDiff(position, replay) === 0) return;
    if (Date.now() > deadline) {
      throw new SafetyError(
        `${s.names.target} did not replay ${s.names.source}'s final position ${position} within ${timeoutMs} ms (replayed ${replay}, ${replay ? lsnDiff(position, replay) : '?'} bytes behind)`,
      );
    }
    await sleep(5);
  }
}

export async function promote(s: PgSession, f: Fence<PgFenceUndo>): Promise<void> {
  const tgt = await s.target();
  await tgt.query('SELECT pg_promote(false)');
  markSwitch(f, 'promote-request', 'pg_promote requested');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rec } = await one<{ rec: boolean }>(tgt, 'SELECT pg_is_in_recovery() AS rec');
    if (!rec) break;
    if (Date.now() > deadline) throw new Error(`${s.names.target} did not leave recovery within 60 s of pg_promote`);
    await sleep(5);
  }
  markSwitch(f, 'recovery-end', `${capitalized(s.names.target)} left recovery`);
  // NOLOGIN is a catalog change, so the fence reached the target through replication: lift it there.
  if (f.mode === 'read-only') {
    await unblockRoles(tgt, f.undo.roles);
    // So is a database's setting (physical replication): the new primary must not keep the fence by
    // database. Only after one: the ALTER SYSTEM fence's promotion pays no extra query.
    if (f.undo.databases !== undefined) await liftDatabaseFence(tgt);
  }
}

export async function unfence(s: PgSession, f: Fence<PgFenceUndo>): Promise<void> {
  if (f.mode === 'shutdown') {
    if (!s.inputs.sourceStartCommand)
      throw new UserError(
        `${s.names.source} is stopped and no ${s.sourceEndpoint.side}-start-command was given: start ${s.names.source} yourself to give it its writes back`,
      );
    const r = await s.ctx.sourceHost.shell(s.inputs.sourceStartCommand, { timeoutMs: 300_000 });
    if (r.code !== 0)
      throw new UserError(
        `${s.sourceEndpoint.side}-start-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}. Start ${s.names.source} yourself.`,
      );
    return;
  }
  const src = await s.source();
  await src.query('SET default_transaction_read_only = off');
  if (f.undo.databases === undefined) {
    await src.query('ALTER SYSTEM RESET default_transaction_read_only');
    await src.query('SELECT pg_reload_conf()');
  }
  // By database: what this fence set (and what an interrupted one left), not a database read-only of its own.
  await liftDatabaseFence(src);
  await unblockRoles(src, f.undo.roles);
}

/** Removes the standby settings and stored credentials from the new primary, and the slot from the old source. */
export async function cleanupAfterPromotion(s: PgSession): Promise<Note[]> {
  const notes: Note[] = [];
  const tgt = await s.target();
  await tgt.query('ALTER SYSTEM RESET primary_conninfo');
  await tgt.query('ALTER SYSTEM RESET primary_slot_name');
  await tgt.query('SELECT pg_reload_conf()');
  const { data_directory } = await one<{ data_directory: string }>(tgt, "SELECT current_setting('data_directory') AS data_directory");
  await s.ctx.targetHost.remove(passfilePath(data_directory));
  notes.push(info(`removed the standby connection settings and the replication passfile from ${s.names.newPrimary}`));
  if (s.inputs.fence === 'read-only') notes.push(await dropSlotOnOldSource(s));
  else if (!s.inputs.reverseReplication) {
    // With reverse replication the old source starts again as a standby and drops the slot itself.
    notes.push(
      info(
        `${s.names.oldSource} is stopped and still has replication slot ${s.inputs.replicationSlot}: drop it (SELECT pg_drop_replication_slot('${s.inputs.replicationSlot}')) if you start it again, or it keeps WAL forever`,
      ),
    );
  }
  const durability = await rows<{ name: string; setting: string }>(
    tgt,
    "SELECT name, setting FROM pg_settings WHERE (name = 'fsync' AND setting <> 'on') OR (name = 'synchronous_commit' AND setting = 'off') OR (name = 'full_page_writes' AND setting <> 'on')",
  );
  for (const d of durability)
    notes.push(
      warning(`${d.name} = ${d.setting} on ${s.names.newPrimary} (set in its own configuration, not by zdm): acknowledged writes can be lost in a crash`),
    );
  return notes;
}

/** After a read-only fence: the slot goes from the old source. A source that went down meanwhile is reported, not an error: the promotion stands. */
async function dropSlotOnOldSource(s: PgSession): Promise<Note> {
  const slot = s.inputs.replicationSlot;
  try {
    const src = await s.source();
    // A re-run's fresh session gets the fence's read-only default.
    await src.query('SET default_transaction_read_only = off');
    const dropped = await rows(src, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]);
    return info(dropped.length ? `dropped replication slot ${slot} on ${s.names.oldSource}` : `no replication slot ${slot} left on ${s.names.oldSource}`);
  } catch (e) {
    await s.forget('source');
    return warning(
      `${s.names.oldSource} could not be reached after the promotion (${describeError(e)}). It stays fenced (read-only, application roles NOLOGIN): keep the application away from it. Left to do on it once it is back: drop replication slot ${slot} (SELECT pg_drop_replication_slot('${slot}')), or it keeps WAL for ever`,
    );
  }
}

/** The switch: the guards of switch-guard.ts around the fence, final position and promotion above. */
export function pgSwitch(s: PgSession): Switch<PgFenceUndo> {
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
      return s.inputs.endpoint || `${u.hostname}:${u.port || 5432}`;
    },
    primaryCheckHint: () => 'SELECT pg_is_in_recovery() returns false',
  };
}
